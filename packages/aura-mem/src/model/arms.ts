/**
 * Building the benchmark arms with matched capacity: every arm shares the encoder / head shape of
 * the AURA layer, and the action head's hidden width is chosen so that the arm's parameter count is
 * as close as possible to AURA's (reported; kept within 10% wherever the structure allows).
 */
import type { MemoryConfig } from "../config.js";
import type { Ops } from "../ops/index.js";
import { gateCount } from "../ops/rnn/index.js";
import { ARMS, coreOf, layoutFor, SequenceModel, type ArmName, type ArmSpec } from "./model.js";

/** Arm-specific options; everything has a documented default. */
export interface ArmOptions {
  /** Writes per step for random / periodic (budget-matched to AURA). Default 0.1. */
  writeRate?: number;
  /** recon-gate threshold on ||e||. Default 1 (the trainer calibrates it to the budget). */
  tau?: number;
  /** kv-window size W. Default 16. */
  window?: number;
  /** gru / lstm hidden width H. Default dVal (same state width as the fast-weight readout). */
  rnnHidden?: number;
  /** Match this parameter count by sizing the head (default: AURA's count at this config; null = keep config.dHidden). */
  matchParams?: number | null;
}

/** Parameter count of an arm spec, without allocating it. */
export function paramCountOf(spec: ArmSpec): number {
  const c = spec.config;
  const core = coreOf(spec.arm);
  const width = layoutFor(core, spec).width;
  let dR = 0;
  let n = 0;
  if (core === "rnn") {
    const G = gateCount(spec.arm as "gru" | "lstm");
    n += spec.rnnHidden * G * spec.rnnHidden + G * spec.rnnHidden;
    dR = spec.rnnHidden;
  } else if (core !== "none") dR = c.dVal;
  n += c.dModel * width + width;
  if (spec.arm === "aura") n += c.dProj * c.dGate + c.dGate + 2 * c.dVal * c.dGate + c.dGate + 1;
  n += (c.dProj + dR) * c.dHidden + c.dHidden + c.dHidden * c.dAction + c.dAction;
  return n;
}

/** The spec of an arm at this config, with its head sized to match the parameter budget. */
export function armSpec(arm: ArmName, config: MemoryConfig, opts: ArmOptions = {}): ArmSpec {
  const base: ArmSpec = {
    arm,
    config,
    rnnHidden: opts.rnnHidden ?? config.dVal,
    window: opts.window ?? 16,
    writeRate: opts.writeRate ?? 0.1,
    tau: opts.tau ?? 1,
  };
  const target =
    opts.matchParams === null ? null : (opts.matchParams ?? paramCountOf({ ...base, arm: "aura" }));
  if (target === null || arm === "aura") return base;
  let best = base;
  let bestErr = Infinity;
  for (let dh = 4; dh <= 4096; dh++) {
    const s = { ...base, config: config.with({ dHidden: dh }) };
    const err = Math.abs(paramCountOf(s) - target);
    if (err < bestErr) {
      bestErr = err;
      best = s;
    }
  }
  return best;
}

/** Build an arm on the given ops with matched parameters. */
export function createArm(arm: ArmName, config: MemoryConfig, ops: Ops, opts: ArmOptions = {}): SequenceModel {
  return new SequenceModel(armSpec(arm, config, opts), ops);
}

export { ARMS };
