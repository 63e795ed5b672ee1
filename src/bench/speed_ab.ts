/**
 * `aura bench-ab --against <dir>`: the training step of this build against another build of aura-mem, side by
 * side in one process (a benchmark, never a test). On a shared, noisy machine two timings taken minutes apart
 * do not compare; steps of the two builds interleaved one by one do: both see the same load.
 *
 * Per arm: the same config and seed in both builds (so the same initial parameters), the same batches (ess-hard,
 * B = 32, T = 128, dModel 64: the quick bench's heaviest task, with its stream recipe: write decay 0.8, the
 * gate's observation-norm input, hard gate thresholds from the band [0.3, 0.9] for AURA), then `rounds` rounds of
 * `steps` interleaved steps (forward + BPTT + Adam, `batchObjective` as train() runs it, the other build first on
 * odd rounds). Reported: each build's median step per round, the per-round ratio this / other with its mean and a
 * t 95% interval over rounds, and the largest relative difference of the two builds' losses (0 when both
 * compute the same maths bit for bit; rounding-level when one reorders a sum).
 */
import { writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { resolve, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "aura-mem/errors";
import { isArm, type ArmName } from "aura-mem/model/model";
import { Rng } from "aura-mem/util/rng";
import { createTask } from "../tasks/index.js";
import { RECIPE_GATE_THRESHOLD } from "./run.js";
import { meanCi95 } from "./stats.js";
import { median } from "./timing.js";

/** Options of {@link runStepAb}. */
export interface StepAbOptions {
  /** Root of the other aura-mem package (holding dist/ and build/aura.wasm), e.g. a worktree's packages/aura-mem. */
  against: string;
  arms: ArmName[];
  /** Interleaved steps per build per round (after one untimed step each). */
  steps: number;
  rounds: number;
  /** Batch shape (default the quick bench's ess-hard: B 32, T 128). */
  B?: number;
  T?: number;
  json?: string;
}

/** One arm's side-by-side result. */
export interface StepAbArm {
  arm: ArmName;
  /** Median step (ms) per round: this build, the other. */
  thisMs: number[];
  otherMs: number[];
  /** this / other per round, their mean and t 95% interval over rounds (null with one round). */
  ratios: number[];
  ratioMean: number;
  ratioCi95: [number, number] | null;
  /** max |loss_this - loss_other| / max(1e-12, |loss_other|) over all steps. */
  lossMaxRelDiff: number;
}

interface Build {
  MemoryConfig: new (o: Record<string, unknown>) => unknown;
  wasmOps: () => unknown;
  armSpec: (arm: string, config: unknown) => unknown;
  SequenceModel: new (spec: unknown, ops: unknown) => { params: unknown };
  batchObjective: (...a: unknown[]) => { loss: number; grads: unknown };
  DEFAULT_TRAIN: Record<string, unknown>;
  Adam: new (params: unknown, o: Record<string, unknown>) => { step(grads: unknown, lrScale?: number): void };
}

async function loadBuild(root: string | null): Promise<Build> {
  const mod = async (p: string): Promise<Record<string, unknown>> => {
    if (root === null) return (await import(`aura-mem/${p}`)) as Record<string, unknown>;
    const f = join(root, "dist", `${p}.js`);
    if (!existsSync(f)) throw new ConfigError(`--against: ${f} is missing (build that package first: npm run build -w aura-mem there)`);
    return (await import(pathToFileURL(f).href)) as Record<string, unknown>;
  };
  const [config, ops, arms, model, train, adam] = await Promise.all(["config", "ops/index", "model/arms", "model/model", "train/train", "train/adam"].map(mod));
  return {
    MemoryConfig: config!.MemoryConfig as Build["MemoryConfig"],
    wasmOps: ops!.wasmOps as Build["wasmOps"],
    armSpec: arms!.armSpec as Build["armSpec"],
    SequenceModel: model!.SequenceModel as Build["SequenceModel"],
    batchObjective: train!.batchObjective as Build["batchObjective"],
    DEFAULT_TRAIN: train!.DEFAULT_TRAIN as Build["DEFAULT_TRAIN"],
    Adam: adam!.Adam as Build["Adam"],
  };
}

/** Run the side-by-side comparison; prints a table and returns the figures. @throws ConfigError on bad options. */
export async function runStepAb(o: StepAbOptions, log: (s: string) => void = console.log): Promise<StepAbArm[]> {
  const root = resolve(o.against);
  if (!existsSync(join(root, "dist"))) throw new ConfigError(`--against: ${root} has no dist/ (give the root of a built aura-mem package)`);
  for (const a of o.arms) if (!isArm(a)) throw new ConfigError(`unknown arm "${String(a)}"`);
  for (const [k, v] of [["steps", o.steps], ["rounds", o.rounds], ["B", o.B ?? 32], ["T", o.T ?? 128]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${k} must be a positive integer, got ${v}`);
  }
  const B = o.B ?? 32;
  const T = o.T ?? 128;
  const mine = await loadBuild(null);
  const other = await loadBuild(root);
  const task = await createTask("ess-hard", { seed: 0, dModel: 64, horizon: T });
  const rng = new Rng(1);
  const batches = Array.from({ length: 4 }, () => task.sample(rng, B));
  const band = [0.3, 0.9];
  const thresholds = batches.map((b) => {
    const r = new Rng(2);
    return Float32Array.from({ length: b.B * b.T }, () => band[0]! + (band[1]! - band[0]!) * r.uniform());
  });
  const out: StepAbArm[] = [];
  for (const arm of o.arms) {
    const make = (b: Build) => {
      const cfg = new b.MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", writeDecay: 0.8, gateNorm: arm === "aura", gateThreshold: RECIPE_GATE_THRESHOLD["ess-hard"] ?? 0.5 });
      const model = new b.SequenceModel(b.armSpec(arm, cfg), b.wasmOps());
      const adam = new b.Adam(model.params, { lr: 6e-3 });
      const losses: number[] = [];
      const step = (s: number): number => {
        const batch = batches[s % batches.length]!;
        const t0 = performance.now();
        const r = b.batchObjective(model, batch, { kind: "discrete", dAction: task.dAction }, b.DEFAULT_TRAIN, {
          gateMode: "hard",
          scheduleSeeds: Array.from({ length: batch.B }, (_, i) => i),
          ...(arm === "aura" ? { gateThresholds: thresholds[s % thresholds.length] } : {}),
        });
        adam.step(r.grads);
        losses.push(r.loss);
        return performance.now() - t0;
      };
      return { step, losses };
    };
    const A = make(mine);
    const Bo = make(other);
    A.step(0);
    Bo.step(0);
    const res: StepAbArm = { arm, thisMs: [], otherMs: [], ratios: [], ratioMean: NaN, ratioCi95: null, lossMaxRelDiff: 0 };
    let s = 1;
    for (let r = 0; r < o.rounds; r++) {
      const ta: number[] = [];
      const tb: number[] = [];
      for (let i = 0; i < o.steps; i++, s++) {
        if (r % 2 === 0) {
          ta.push(A.step(s));
          tb.push(Bo.step(s));
        } else {
          tb.push(Bo.step(s));
          ta.push(A.step(s));
        }
      }
      res.thisMs.push(median(ta));
      res.otherMs.push(median(tb));
      res.ratios.push(median(ta) / median(tb));
    }
    const ci = meanCi95(res.ratios);
    res.ratioMean = ci.mean;
    res.ratioCi95 = res.ratios.length > 1 ? ci.ci95 : null;
    for (let i = 0; i < A.losses.length; i++) {
      res.lossMaxRelDiff = Math.max(res.lossMaxRelDiff, Math.abs(A.losses[i]! - Bo.losses[i]!) / Math.max(1e-12, Math.abs(Bo.losses[i]!)));
    }
    out.push(res);
  }
  const fmt = (x: number, d = 1): string => x.toFixed(d);
  log(`## Training step, this build vs ${root} (ess-hard, B=${B}, T=${T}, dModel 64; ${o.rounds} rounds x ${o.steps} interleaved steps)\n`);
  log("| arm | this ms (median per round) | other ms | this / other, mean [95% CI over rounds] | max relative loss difference |");
  log("|---|---|---|---|---|");
  for (const r of out) {
    const ci = r.ratioCi95 ? ` [${fmt(r.ratioCi95[0], 3)}, ${fmt(r.ratioCi95[1], 3)}]` : "";
    log(`| ${r.arm} | ${r.thisMs.map((x) => fmt(x)).join(", ")} | ${r.otherMs.map((x) => fmt(x)).join(", ")} | ${fmt(r.ratioMean, 3)}${ci} | ${r.lossMaxRelDiff.toExponential(2)} |`);
  }
  if (o.json) await writeFile(o.json, JSON.stringify({ against: root, B, T, steps: o.steps, rounds: o.rounds, arms: out }, null, 2) + "\n");
  return out;
}
