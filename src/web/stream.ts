/**
 * The live `ess` stream of the browser demo, runtime-neutral (no DOM, no Node modules), so the page
 * and the tests drive the same code.
 *
 * - {@link makeStream}: one ess episode of any horizon (up to 100,000 steps and beyond) from the task
 *   generator in src/tasks/ess.ts, with the distractor rate as a knob. The event count scales with
 *   the horizon so that the event density stays the one the checkpoint was trained at (ess-hard:
 *   4-6 events per 128 steps), and the first event comes as early as in training (ess-hard: within
 *   the first 12 steps); the task seed fixes the embeddings, so it must be the checkpoint's.
 * - {@link StreamRun}: streams that episode through a trained model in chunks of any size (the
 *   forward pass carries the memory state across chunks: same maths as one long forward or as
 *   per-tick `step()` calls) and keeps per-step records: write probability p, write g, predicted
 *   action, plus running counts (accuracy at query steps, writes, P(write | event / distractor)).
 * - Arms: `aura` (the learned gate at a threshold), and the budget-matched swap evaluation of the
 *   same trained model with its gate replaced by `always-write`, or a `random` / `periodic`
 *   schedule at AURA's write rate on this episode (what docs/benchmarks.md calls random:swap /
 *   periodic:swap).
 */
import { ConfigError } from "aura-mem/errors";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel, type MemoryState } from "aura-mem/model/model";
import { scheduleBatch } from "aura-mem/model/schedule";
import type { Ops } from "aura-mem/ops/index";
import { createEssTask, essConfig } from "../tasks/ess.js";
import { StepType, type EpisodeBatch } from "aura-mem/train/batch";
import { Rng } from "aura-mem/util/rng";

/** Arms the demo can switch between on one trained AURA model. */
export const DEMO_ARMS = ["aura", "always-write", "random", "periodic"] as const;
export type DemoArm = (typeof DEMO_ARMS)[number];

/** What one demo stream is made of. */
export interface StreamSpec {
  /** ess variant the checkpoint was trained on. */
  task: "ess-hard" | "ess-easy";
  /** Steps in the episode (>= 64). */
  horizon: number;
  /** Fraction of steps that are distractors (ess-hard default 0.28; 0 .. 0.6). */
  distractorFrac: number;
  /** Task seed: fixes the event / query / background embeddings; use the checkpoint's training seed. */
  taskSeed: number;
  /** Seed of this episode's placement, classes and noise. */
  episodeSeed: number;
  /** Feature width (the checkpoint's dModel). */
  dModel: number;
}

/** Largest horizon the demo offers. */
export const MAX_DEMO_HORIZON = 100_000;

/** One ess episode (batch of one row) for `spec`. @throws ConfigError on an out-of-range knob. */
export function makeStream(spec: StreamSpec): EpisodeBatch {
  const { horizon, distractorFrac } = spec;
  if (!Number.isInteger(horizon) || horizon < 64 || horizon > 1_000_000) throw new ConfigError(`horizon must be an integer in [64, 1000000], got ${horizon}`);
  if (!(distractorFrac >= 0 && distractorFrac <= 0.6)) throw new ConfigError(`distractor rate must be in [0, 0.6], got ${distractorFrac}`);
  const base = essConfig(spec.task);
  const k = horizon / base.horizon;
  const cfg = {
    ...base,
    horizon,
    distractorFrac,
    eventsMin: Math.max(base.eventsMin, Math.round(base.eventsMin * k)),
    eventsMax: Math.max(base.eventsMax, Math.round(base.eventsMax * k)),
    // the first event within the same number of steps as in training (ess-hard: the first 12)
    firstEventFrac: Math.min(base.firstEventFrac, (base.firstEventFrac * base.horizon) / horizon),
  };
  const task = createEssTask(cfg, { seed: spec.taskSeed, dModel: spec.dModel, valEpisodes: 1, testEpisodes: 1 });
  return task.sample(new Rng(spec.episodeSeed), 1);
}

/** The same trained model with another inference write threshold on p (parameters copied). */
export function withThreshold(model: SequenceModel, threshold: number, ops: Ops): SequenceModel {
  if (!(threshold >= 0 && threshold <= 1)) throw new ConfigError(`gate threshold must be in [0, 1], got ${threshold}`);
  const m = new SequenceModel({ ...model.spec, config: model.spec.config.with({ gateThreshold: threshold }) }, ops);
  for (const k of Object.keys(model.params)) m.params[k]!.data.set(model.params[k]!.data);
  m.setTau(model.tau);
  return m;
}

/** Bytes a KV-cache with this configuration's d_k, d_v holds after `t` steps (batch 1, fp32): the library's kv-cache arm. */
export function kvCacheBytesFor(model: SequenceModel, ops: Ops): (t: number) => number {
  const kv = new SequenceModel(armSpec("kv-cache", model.spec.config, { matchParams: null }), ops);
  return (t: number) => kv.memoryBytes(1, t);
}

/** Options of a {@link StreamRun}. */
export interface RunOptions {
  arm: DemoArm;
  /** Write threshold of the learned gate (aura). */
  threshold: number;
  /** Writes per step of the random / periodic schedules (AURA's rate on this episode). */
  budgetRate?: number;
  /** Phase seed of the schedules. */
  scheduleSeed?: number;
}

/** Streams one episode through a model, a chunk at a time, recording every step. */
export class StreamRun {
  readonly N: number;
  /** Steps processed so far. */
  t = 0;
  /** Write probability per step (= the schedule's 0/1 for schedule arms). */
  readonly p: Float32Array;
  /** Write decision per step. */
  readonly g: Uint8Array;
  /** Predicted class (argmax of the action logits) per step. */
  readonly pred: Int8Array;
  writes = 0;
  queries = 0;
  correct = 0;
  /** Steps with a defined target (after the first event) and how many of them the action matched. */
  targetSteps = 0;
  targetCorrect = 0;
  eventSteps = 0;
  eventWrites = 0;
  distractorSteps = 0;
  distractorWrites = 0;
  private state: MemoryState;
  private readonly model: SequenceModel;
  private readonly dModel: number;
  private readonly dAction: number;

  constructor(
    trained: SequenceModel,
    readonly ep: EpisodeBatch,
    readonly opts: RunOptions,
    ops: Ops,
  ) {
    if (ep.B !== 1) throw new ConfigError("StreamRun streams one episode (B = 1)");
    if (trained.spec.arm !== "aura") throw new ConfigError(`the demo needs a trained aura model, got ${trained.spec.arm}`);
    if (ep.dModel !== trained.spec.config.dModel) throw new ConfigError(`stream dModel ${ep.dModel} does not match the model's ${trained.spec.config.dModel}`);
    if ((opts.arm === "random" || opts.arm === "periodic") && !(opts.budgetRate !== undefined && opts.budgetRate >= 0 && opts.budgetRate <= 1)) {
      throw new ConfigError(`${opts.arm} needs a write budget in [0, 1] (AURA's write rate), got ${opts.budgetRate}`);
    }
    this.model = opts.arm === "aura" ? withThreshold(trained, opts.threshold, ops) : trained;
    this.N = ep.T;
    this.dModel = ep.dModel;
    this.dAction = trained.spec.config.dAction;
    this.p = new Float32Array(this.N);
    this.g = new Uint8Array(this.N);
    this.pred = new Int8Array(this.N).fill(-1);
    this.state = this.model.initState(1);
  }

  /** True when every step has been streamed. */
  get done(): boolean {
    return this.t >= this.N;
  }

  /** Accuracy at the query steps so far (null before the first query). */
  get accuracy(): number | null {
    return this.queries ? this.correct / this.queries : null;
  }

  /** Bytes held by the memory state's tensors right now (4,224 at 32x32). */
  stateBytes(): number {
    return this.model.stateBytes(this.state);
  }

  /** Stream the next `n` steps (fewer at the end); returns how many were streamed. */
  advance(n: number): number {
    const T = Math.min(Math.max(0, Math.floor(n)), this.N - this.t);
    if (T === 0) return 0;
    const t0 = this.t;
    const d = this.dModel;
    const z = this.ep.z.subarray(t0 * d, (t0 + T) * d);
    let gateOverride: Float32Array | undefined;
    const { arm } = this.opts;
    if (arm === "always-write") gateOverride = new Float32Array(T).fill(1);
    else if (arm === "random" || arm === "periodic") gateOverride = scheduleBatch(arm, this.opts.budgetRate!, [this.opts.scheduleSeed ?? 7], T, t0);
    const fr = this.model.forward(z, 1, T, { initialState: this.state, gateOverride, validate: false });
    this.state = fr.finalState;
    const A = this.dAction;
    const ep = this.ep;
    for (let i = 0; i < T; i++) {
      const t = t0 + i;
      const g = fr.g[i]! > 0.5 ? 1 : 0;
      this.p[t] = fr.p[i]!;
      this.g[t] = g;
      let best = 0;
      for (let j = 1; j < A; j++) if (fr.out[i * A + j]! > fr.out[i * A + best]!) best = j;
      this.pred[t] = best;
      this.writes += g;
      const st = ep.stepType[t]!;
      if (st === StepType.event) {
        this.eventSteps++;
        this.eventWrites += g;
      } else if (st === StepType.distractor) {
        this.distractorSteps++;
        this.distractorWrites += g;
      }
      const y = ep.label![t]!;
      if (y >= 0) {
        this.targetSteps++;
        if (best === y) this.targetCorrect++;
        if (ep.evalMask[t]! > 0) {
          this.queries++;
          if (best === y) this.correct++;
        }
      }
    }
    this.t += T;
    return T;
  }

  /** Stream everything that is left, in chunks of `chunk` steps. */
  runToEnd(chunk = 4096): void {
    while (!this.done) this.advance(chunk);
  }
}

/** AURA's write rate (writes per step) on the first `steps` steps of an episode at a threshold. */
export function auraWriteRate(trained: SequenceModel, ep: EpisodeBatch, threshold: number, ops: Ops, steps = ep.T): number {
  const run = new StreamRun(trained, ep, { arm: "aura", threshold }, ops);
  const n = Math.min(steps, ep.T);
  while (run.t < n) run.advance(Math.min(4096, n - run.t));
  return n ? run.writes / n : 0;
}

/** One point of the accuracy / writes trade-off. */
export interface TradeoffPoint {
  arm: DemoArm;
  threshold: number | null;
  steps: number;
  writes: number;
  accuracy: number | null;
}

/** Run one arm over the first `steps` steps of an episode and summarise it. */
export function tradeoffPoint(trained: SequenceModel, ep: EpisodeBatch, opts: RunOptions, ops: Ops, steps: number): TradeoffPoint {
  const run = new StreamRun(trained, ep, opts, ops);
  const n = Math.min(steps, ep.T);
  while (run.t < n) run.advance(Math.min(4096, n - run.t));
  return { arm: opts.arm, threshold: opts.arm === "aura" ? opts.threshold : null, steps: n, writes: run.writes, accuracy: run.accuracy };
}
