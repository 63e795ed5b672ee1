/**
 * Soak test of the batch-1 control loop (`aura bench-soak`): one long, non-resetting episode of
 * `layer.step()` calls (1e6 by default) on a seeded observation stream — ess-like events, event-like
 * lures, novel high-norm distractors, query cues, background filler, Gaussian noise, and occasional
 * huge-but-finite observations (|z| log-uniform in [1e3, hugeMax]) — checking what a robot running
 * for days needs:
 *  - no NaN / Inf in the actions or the state;
 *  - the fast-weight norm ||M||_F stays bounded (max and final, per-window medians on unpoisoned
 *    steps); a state is "poisoned" while ||M||_F or ||m||_2 exceeds 10x its warm-up maximum, and what
 *    the huge observations do (poisoned, recovered after how many steps, write rate and action std
 *    per window: a gate latched shut and a constant action = a frozen policy) is reported as such;
 *  - the state's bytes never change (4,224 at 32x32, batch 1);
 *  - process RSS does not grow after warm-up (sampled every `sampleEvery` steps after a forced GC
 *    when node runs with --expose-gc; the CLI re-runs itself with that flag and a pinned young
 *    generation, src/cli/edge_soak.ts);
 *  - throughput (steps/s, and the time inside step() alone).
 * {@link probeHugeObservations} injects ONE huge observation per magnitude into clean streams.
 * Results and their reading: docs/edge.md, "Soak".
 */
import { AuraMemLayer } from "aura-mem/layer";
import { MemoryConfig } from "aura-mem/config";
import { AuraError, ConfigError, NonFiniteError } from "aura-mem/errors";
import type { Backend } from "aura-mem/ops/index";
import type { MemoryState } from "aura-mem/model/model";
import { Rng } from "aura-mem/util/rng";
import { ESS_HARD, essEmbeddings, type EssEmbeddings } from "../tasks/ess.js";
import { createTask } from "../tasks/index.js";
import { train } from "aura-mem/train/train";
import { slopeCi95, type SlopeCi } from "./stats.js";
import { taskRecipe } from "./run.js";

/** Options of {@link runSoak}; every field has a default. */
export interface SoakOptions {
  /** step() calls. Default 1e6. */
  steps?: number;
  /** Backbone width of a fresh layer. Default 64 (ignored with a checkpoint). */
  dModel?: number;
  /** Trained checkpoint (`aura train --out`), else a fresh layer (seeded). */
  checkpoint?: string;
  /** Seed of the stream (and of a fresh layer). Default 0. */
  seed?: number;
  /** Steps before the RSS baseline and the first huge observation. Default 10% of `steps`. */
  warmup?: number;
  /** RSS sample interval after warm-up, steps. Default 1e4. */
  sampleEvery?: number;
  /** Mean steps between huge-but-finite observations after warm-up (0 = none). Default 0 (off; the adversarial run is documented in docs/edge.md). */
  hugeEvery?: number;
  /** Largest magnitude of a huge observation (log-uniform from 1e3). Default 1e30; at most 3.4e38. */
  hugeMax?: number;
  /** Op backend. Default "auto". */
  backend?: Backend | "auto";
  /**
   * Competence: run the stream of this ess task's embeddings (task seed `taskSeed`), so a model trained
   * on it (`checkpoint`, or `train`) is scored per window: accuracy at query steps, P(write | event),
   * P(write | distractor). Default: none (the soak's own vectors; no accuracy).
   */
  task?: "ess-hard";
  /** Task seed of `task` (the seed the checkpoint was trained with). Default `seed`. */
  taskSeed?: number;
  /** Train AURA on `task` with the default recipe (`train()` defaults) first, instead of a checkpoint. */
  train?: boolean;
  /** With `train`: whether the gate reads the observation norm (MemoryConfig.gateNorm). Default: ess-hard's stream recipe (on). */
  gateNorm?: boolean;
  /** The layer's state guard (LayerOptions.stateLimit): a stream whose ||M||_F or ||m||_2 exceeds it is reset. Default none. */
  stateLimit?: number;
  /** A layer made already (by {@link soakLayer}: the CLI shares it with the probe); overrides checkpoint / train. */
  layer?: SoakLayer;
  /** Progress callback (fraction done), called ~100 times. */
  onProgress?: (done: number, total: number) => void;
}

/** The layer a soak or a probe runs, and where it came from (for the report). */
export interface SoakLayer {
  layer: AuraMemLayer;
  source: string;
}

/**
 * The layer of a soak: a checkpoint, AURA trained on ess-hard with the stream recipe (`train`), or a fresh
 * layer (an 8-class head when scored on a task stream, else 7 continuous actions).
 * @throws ConfigError when both a checkpoint and `train` are given.
 */
export async function soakLayer(o: Pick<SoakOptions, "checkpoint" | "train" | "dModel" | "seed" | "backend" | "gateNorm" | "task" | "taskSeed" | "stateLimit">): Promise<SoakLayer> {
  const seed = o.seed ?? 0;
  if (o.train && o.checkpoint) throw new ConfigError("give a checkpoint or train, not both");
  const task = o.task ?? (o.train ? "ess-hard" : undefined);
  const taskSeed = o.taskSeed ?? seed;
  if (o.checkpoint) {
    return { layer: await AuraMemLayer.load(o.checkpoint, { backend: o.backend ?? "auto", stateLimit: o.stateLimit }), source: `checkpoint ${o.checkpoint}${guardNote(o.stateLimit)}` };
  }
  if (o.train) {
    // the default recipe of train() on ess-hard at its own horizon, task seed = taskSeed
    const dModel = checkInt("dModel", o.dModel ?? 64);
    const t = await createTask("ess-hard", { seed: taskSeed, dModel });
    // the stream recipe: the write decay, the gate threshold, the observation-norm gate input and the training
    // threshold band measured for one long event stream; train() defaults (trained with the deployed decay)
    const r = taskRecipe("ess-hard");
    const gateNorm = o.gateNorm ?? r.gateNorm;
    const cfg = { dModel, dAction: t.dAction, actionKind: "discrete" as const, seed: taskSeed, writeDecay: r.writeDecay, gateThreshold: r.gateThreshold, gateNorm };
    const layer = new AuraMemLayer(new MemoryConfig(cfg), { backend: o.backend ?? "auto", stateLimit: o.stateLimit });
    const tr = train(layer, t, { seed: taskSeed, lr: r.lr, trainGateThreshold: 0.5, trainWriteDecay: r.trainWriteDecay, trainGateThresholdRange: r.trainGateBand });
    const trainedAt = r.trainGateBand ? `trained at thresholds drawn from [${r.trainGateBand[0]}, ${r.trainGateBand[1]}]` : "trained at 0.5";
    const decayNote = r.trainWriteDecay === null ? "also in training" : `${r.trainWriteDecay} in training`;
    const source = `AURA trained on ess-hard (task seed ${taskSeed}, train() defaults: ${tr.stepsRun} steps at lr ${r.lr}, write decay ${r.writeDecay} (${decayNote}), gate threshold ${r.gateThreshold} (${trainedAt}), gate norm input ${gateNorm ? "on" : "off"}, val accuracy ${tr.val.metric.toFixed(3)} at T = ${t.horizon})${guardNote(o.stateLimit)}`;
    return { layer, source };
  }
  const head = task ? { dAction: 8, actionKind: "discrete" as const } : { dAction: 7 };
  return { layer: new AuraMemLayer(new MemoryConfig({ dModel: checkInt("dModel", o.dModel ?? 64), ...head, seed }), { backend: o.backend ?? "auto", stateLimit: o.stateLimit }), source: `fresh layer (seed ${seed})${guardNote(o.stateLimit)}` };
}

/** Index of the largest entry (the class a discrete head chose). */
function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < a.length; j++) if (a[j]! > a[best]!) best = j;
  return best;
}

/** [||M||_F, ||m||_2] of a fast-weight state ([0, 0] for other kinds); non-finite when the state is. */
function stateNorms(s: MemoryState): [number, number] {
  if (s.kind !== "fast-weights") return [0, 0];
  let a = 0;
  for (let i = 0; i < s.M.length; i++) a += s.M[i]! * s.M[i]!;
  let b = 0;
  for (let i = 0; i < s.m.length; i++) b += s.m[i]! * s.m[i]!;
  return [Math.sqrt(a), Math.sqrt(b)];
}

function guardNote(limit: number | undefined): string {
  return limit === undefined ? "" : `, state guard: reset above ${limit}`;
}

/** Kinds of observation in the soak stream. */
export const STEP_KINDS = ["background", "event", "lure", "distractor", "query", "huge"] as const;
export type SoakStepKind = (typeof STEP_KINDS)[number];

/**
 * The seeded observation stream: a fixed set of unit event embeddings (8 classes), a query cue, an
 * "ignore" context, a background pool of 8 vectors of norm 0.5; per step an event (4%), a lure (14%:
 * an event embedding of another class + the ignore context), a novel distractor (14%: a fresh random
 * direction of norm 2), a query (1/16) or background, plus Gaussian noise of expected norm 0.5 — the
 * ess-hard proportions (docs/benchmarks.md) as an endless stream. With `huge` allowed, a step is
 * replaced with probability 1/hugeEvery by an ordinary observation with all (half of the time) or
 * ~20% of its entries multiplied by a magnitude log-uniform in [1e3, hugeMax] (clamped to +-3.4e38).
 */
export class SoakStream {
  private readonly rng: Rng;
  private readonly events: Float32Array[];
  private readonly bg: Float32Array[];
  private readonly queryCue: Float32Array;
  private readonly ignore: Float32Array;
  private readonly noiseStd: number;
  private goal = 0;
  /** Magnitude of the last huge observation. */
  lastMagnitude = 0;

  /** Whether an event has set the goal yet (queries before the first event have no target). */
  hasGoal = false;

  /**
   * @param embeddings the fixed vectors of a trained model's task (`essEmbeddings`, 8 classes, 8
   *        background vectors): the stream is then that task's endless constant-density stream and the
   *        model's accuracy at queries means something; default: the soak's own seeded vectors.
   */
  constructor(
    readonly dModel: number,
    seed: number,
    private readonly hugeEvery = 0,
    private readonly hugeMax = 1e30,
    embeddings?: EssEmbeddings,
  ) {
    this.rng = new Rng(seed ^ 0x50a4);
    const unit = (): Float32Array => {
      const v = this.rng.normals(dModel);
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.sqrt(n) || 1;
      for (let i = 0; i < dModel; i++) v[i] = v[i]! / n;
      return v;
    };
    if (embeddings) {
      const rows = (a: Float32Array): Float32Array[] => Array.from({ length: a.length / dModel }, (_, i) => a.slice(i * dModel, (i + 1) * dModel));
      if (embeddings.event.length !== 8 * dModel || embeddings.bg.length !== 8 * dModel) {
        throw new ConfigError(`soak stream: task embeddings must have 8 event and 8 background vectors of width ${dModel}`);
      }
      this.events = rows(embeddings.event);
      this.bg = rows(embeddings.bg);
      this.queryCue = embeddings.query.slice();
      this.ignore = embeddings.ignore.slice();
    } else {
      this.events = Array.from({ length: 8 }, unit);
      this.bg = Array.from({ length: 8 }, unit);
      this.queryCue = unit();
      this.ignore = unit();
    }
    this.noiseStd = 0.5 / Math.sqrt(dModel);
  }

  /** The class of the most recent event (the target at a query once {@link hasGoal}). */
  get goalClass(): number {
    return this.goal;
  }

  /** Fill `z` [dModel] with the next observation; returns its kind. */
  next(z: Float32Array, allowHuge: boolean): SoakStepKind {
    const r = this.rng;
    const d = this.dModel;
    for (let i = 0; i < d; i++) z[i] = r.normal() * this.noiseStd;
    const add = (v: Float32Array, s: number): void => {
      for (let i = 0; i < d; i++) z[i] = z[i]! + s * v[i]!;
    };
    const u = r.uniform();
    let kind: SoakStepKind;
    if (u < 0.04) {
      this.goal = (this.goal + 1 + r.int(7)) % 8;
      this.hasGoal = true;
      add(this.events[this.goal]!, 1);
      kind = "event";
    } else if (u < 0.18) {
      add(this.events[(this.goal + 1 + r.int(7)) % 8]!, 1);
      add(this.ignore, 1);
      kind = "lure";
    } else if (u < 0.32) {
      const v = r.normals(d);
      let n = 0;
      for (const x of v) n += x * x;
      add(v, 2 / (Math.sqrt(n) || 1));
      kind = "distractor";
    } else if (u < 0.32 + 1 / 16) {
      add(this.queryCue, 1);
      kind = "query";
    } else {
      add(this.bg[r.int(8)]!, 0.5);
      kind = "background";
    }
    if (allowHuge && this.hugeEvery > 0 && r.uniform() < 1 / this.hugeEvery) {
      const lo = Math.log(1e3);
      this.amplify(z, Math.exp(lo + r.uniform() * (Math.log(this.hugeMax) - lo)), r.uniform() < 0.5);
      kind = "huge";
    }
    return kind;
  }

  /** Multiply all (or ~20% of the) entries of `z` by `mag`, clamped to +-3.4e38. */
  amplify(z: Float32Array, mag: number, all: boolean): void {
    for (let i = 0; i < this.dModel; i++) {
      if (all || this.rng.uniform() < 0.2) z[i] = Math.max(-3.4e38, Math.min(3.4e38, z[i]! * mag));
    }
    this.lastMagnitude = mag;
  }
}

/** One row of the per-window table. */
export interface SoakWindow {
  from: number;
  to: number;
  /** Median ||M||_F over the window's steps whose state is not poisoned (NaN when none is clean). */
  medianNormM: number;
  maxNormM: number;
  maxNormBias: number;
  writeRate: number;
  /** Mean over action dimensions of the std of the action over the window (0 = a frozen policy). */
  actionStd: number;
  /** Fraction of the window's steps with a poisoned state. */
  poisoned: number;
  hugeEvents: number;
  rssMB: number | null;
  /** Competence (only with a task): accuracy at query steps with a goal, and how many such queries. */
  accuracy: number | null;
  queries: number;
  /** Lures + novel distractors in the window. */
  distractors: number;
  /** P(write | event), P(write | distractor) over the window's events and lures + novel distractors (null: none / no task). */
  pWriteEvent: number | null;
  pWriteDistractor: number | null;
}

/** Huge observations in one decade of magnitude. */
export interface SoakHugeBin {
  /** Magnitudes in [lo, 10^3 lo). */
  lo: number;
  events: number;
  /** Steps whose written state became poisoned at this observation. */
  poisoned: number;
  /** Observations that arrived while the state was already poisoned. */
  alreadyPoisoned: number;
  recovered: number;
  medianRecoverySteps: number | null;
  maxRecoverySteps: number | null;
  /** Still poisoned at the end of the run. */
  unrecovered: number;
}

/** Everything the soak measured. */
export interface SoakReport {
  steps: number;
  dModel: number;
  dKey: number;
  dVal: number;
  arm: string;
  backend: string;
  source: string;
  seed: number;
  warmup: number;
  hugeEvery: number;
  hugeMax: number;
  gcForced: boolean;
  /** V8 flags of this process (the CLI pins the young generation, see src/cli/edge_soak.ts). */
  execArgv: string[];
  wallSeconds: number;
  stepsPerSecond: number;
  /** Mean time inside layer.step() alone, µs. */
  stepMicros: number;
  /** Steps whose action had a NaN / Inf. */
  nonFiniteActionSteps: number;
  /** Steps after which the state held a NaN / Inf. */
  nonFiniteStateSteps: number;
  /** First step (0-based) with a non-finite action or state, or null. */
  firstNonFinite: number | null;
  /** Steps whose write probability or surprise was non-finite (outputs, not state). */
  nonFiniteSurpriseSteps: number;
  nonFinitePSteps: number;
  /** Typed errors thrown by step() (none expected on finite input). */
  typedErrors: number;
  firstError: string | null;
  /** ||M||_F: max (and its step), final, max over the warm-up, max over clean (not poisoned) steps. */
  maxNormM: number;
  maxNormMStep: number;
  finalNormM: number;
  warmupMaxNormM: number;
  cleanMaxNormM: number;
  /** ||m||_2 (the fast-weight bias vector): max, final, max over the warm-up. */
  maxNormBias: number;
  finalNormBias: number;
  warmupMaxNormBias: number;
  /** Write rate over the run. */
  writeRate: number;
  /**
   * Poisoning by huge observations: a state is poisoned while ||M||_F or ||m||_2 exceeds 10x its
   * warm-up maximum (the thresholds); the fraction of post-warm-up steps spent poisoned, per-decade bins.
   */
  huge: {
    events: number;
    thresholdM: number;
    thresholdBias: number;
    poisonedFraction: number;
    bins: SoakHugeBin[];
    maxMagnitude: number;
  };
  /** State bytes at every sample (one distinct value when constant). */
  stateBytes: number[];
  rss: {
    samples: number;
    firstMB: number;
    lastMB: number;
    minMB: number;
    maxMB: number;
    /** Median of the last 10% of samples minus median of the first 10% (bytes): the growth checked. */
    growthBytes: number;
    /** last - first sample (bytes). */
    rawGrowthBytes: number;
    /** The growth measured from `settleStep` (10% of the post-warm-up run) on, bytes (NaN if too few samples). */
    settleStep: number;
    lateGrowthBytes: number;
    /** Least-squares slope, MB per 1e6 steps. */
    slopeMBPerMillion: number;
    heapUsedGrowthBytes: number;
    heapTotalGrowthBytes: number;
  };
  windows: SoakWindow[];
  /** The task whose stream was run (competence measured), or null. */
  task: string | null;
  /** Checks: FAIL fails the command; WARN is a finding that does not (memory poisoned by huge input). */
  verdict: { name: string; status: "PASS" | "FAIL" | "WARN" | "n/a"; detail: string }[];
}

const fmt = (x: number, p = 4): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e6 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toPrecision(p)) : String(x));

const int = (x: number): string => x.toLocaleString("en-US");

function nonFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return true;
  return false;
}

function median(xs: ArrayLike<number>): number {
  const a = Float64Array.from(xs).sort();
  return a.length ? a[Math.floor(a.length / 2)]! : NaN;
}

function checkInt(name: string, v: number, lo = 1): number {
  if (!Number.isInteger(v) || v < lo) throw new ConfigError(`${name} must be an integer >= ${lo}, got ${v}`);
  return v;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Competence stays flat: no trend across the post-warm-up windows beyond the windows' own scatter. The
 * least-squares slopes of the per-window accuracy at queries and of P(write | distractor) against the
 * window index get 95% Student-t intervals ({@link slopeCi95}); the check fails when accuracy falls
 * significantly (the slope's upper bound below 0) or P(write | distractor) rises significantly (lower
 * bound above 0). Needs at least three windows; n/a without a task.
 *
 * (Until the gate-threshold change this compared the last window with the first window's Wilson interval,
 * a point-against-interval test that a flat but noisy run fails whenever its first window happens to be
 * its best one; the trend test is what "no trend across windows beyond the CI" asks for.)
 */
export function competenceCheck(task: string | null, post: readonly SoakWindow[]): SoakReport["verdict"][number] {
  const name = "competence flat: no trend in accuracy or P(write|distractor) across windows (95% slope CI)";
  if (!task) return { name, status: "n/a", detail: "no task stream (--task / --train)" };
  if (post.length < 3) return { name, status: "n/a", detail: `${post.length} post-warm-up window(s); a trend needs at least 3` };
  if (post.some((w) => w.accuracy === null || w.pWriteDistractor === null)) return { name, status: "n/a", detail: "no queries or distractors in a window" };
  const acc = slopeCi95(post.map((w) => w.accuracy!));
  const pd = slopeCi95(post.map((w) => w.pWriteDistractor!));
  const span = post.length - 1;
  const ok = acc.ci95[1] >= 0 && pd.ci95[0] <= 0;
  const fmt = (c: SlopeCi, d: number) => `${(c.slope * span).toFixed(d)} [${(c.ci95[0] * span).toFixed(d)}, ${(c.ci95[1] * span).toFixed(d)}]`;
  return {
    name,
    status: ok ? "PASS" : "FAIL",
    detail:
      `change over ${post.length} windows (slope x ${span}, 95% CI): accuracy ${fmt(acc, 4)} ` +
      `(windows ${Math.min(...post.map((w) => w.accuracy!)).toFixed(3)}-${Math.max(...post.map((w) => w.accuracy!)).toFixed(3)}); ` +
      `P(write|distractor) ${fmt(pd, 5)}`,
  };
}

/** Run the soak: one long loop of step() calls (yields to the event loop only for progress and RSS samples). */
export async function runSoak(o: SoakOptions = {}): Promise<SoakReport> {
  const steps = checkInt("steps", o.steps ?? 1_000_000);
  const warmup = checkInt("warmup", o.warmup ?? Math.floor(steps / 10), 0);
  const sampleEvery = checkInt("sampleEvery", o.sampleEvery ?? 10_000);
  const hugeEvery = checkInt("hugeEvery", o.hugeEvery ?? 0, 0);
  const hugeMax = o.hugeMax ?? 1e30;
  if (!(hugeMax >= 1e3 && hugeMax <= 3.4e38)) throw new ConfigError(`hugeMax must be in [1e3, 3.4e38], got ${hugeMax}`);
  if (warmup >= steps) throw new ConfigError(`warmup (${warmup}) must be smaller than steps (${steps})`);
  const seed = o.seed ?? 0;
  if (o.train && o.checkpoint) throw new ConfigError("give a checkpoint or train, not both");
  if (o.task !== undefined && o.task !== "ess-hard") throw new ConfigError(`the soak stream has ess-hard's proportions; task must be "ess-hard", got ${String(o.task)}`);
  const task = o.task ?? (o.train ? "ess-hard" : undefined);
  const taskSeed = o.taskSeed ?? seed;
  const { layer, source } = o.layer ?? (await soakLayer(o));
  const cfg = layer.config;
  if (layer.model.core !== "delta") throw new ConfigError(`the soak measures a fast-weight memory; checkpoint arm ${layer.arm} has none`);
  const d = cfg.dModel;
  const A = cfg.dAction;
  if (task && (cfg.actionKind !== "discrete" || A !== 8)) throw new ConfigError(`competence on ${task} needs an 8-class discrete head, the layer has ${A} ${cfg.actionKind} actions`);
  const stream = new SoakStream(d, seed, hugeEvery, hugeMax, task ? essEmbeddings(ESS_HARD, taskSeed, d) : undefined);
  // per step: kind code (STEP_KINDS index) and, at a query with a goal, 1 = correct / 0 = wrong (-1 otherwise)
  const kinds = new Uint8Array(steps).fill(1).fill(0);
  const correct = new Int8Array(steps).fill(-1);
  const gc = (globalThis as { gc?: () => void }).gc;
  // per-step records, written to every page now: a fresh typed array is mapped lazily, and its pages
  // faulting in as the run advances would read as RSS growth (17 MB per 1e6 steps)
  const normM = new Float64Array(steps).fill(NaN);
  const normB = new Float64Array(steps).fill(NaN);
  const writes = new Uint8Array(steps).fill(1).fill(0);
  const hugeAt: number[] = [];
  const hugeMag: number[] = [];
  const z = new Float32Array(d);
  const expectedBytes = layer.memoryBytes(1);
  const stateBytes = new Set<number>();
  const rssSamples: { step: number; rss: number; heapUsed: number; heapTotal: number }[] = [];
  // windows: the warm-up, then 10 equal windows
  const nWin = Math.min(10, steps - warmup);
  const bounds = [0, ...Array.from({ length: nWin + 1 }, (_, w) => warmup + Math.floor(((steps - warmup) * w) / nWin))].filter((b, i, a) => i === 0 || b > a[i - 1]!);
  const winSum = bounds.slice(1).map(() => new Float64Array(A));
  const winSq = bounds.slice(1).map(() => new Float64Array(A));
  let win = 0;
  let state: MemoryState = layer.initState(1);
  let nonFiniteActionSteps = 0;
  let nonFiniteStateSteps = 0;
  let nonFiniteSurpriseSteps = 0;
  let nonFinitePSteps = 0;
  let firstNonFinite: number | null = null;
  let typedErrors = 0;
  let firstError: string | null = null;
  let nWrites = 0;
  let stepMs = 0;
  const progressEvery = Math.max(1, Math.floor(steps / 100));
  const sample = async (t: number): Promise<void> => {
    if (gc) {
      // full GC, let the background sweeper free the typed arrays' backing stores, again
      gc();
      await pause(10);
      gc();
    }
    const mu = process.memoryUsage();
    rssSamples.push({ step: t, rss: mu.rss, heapUsed: mu.heapUsed, heapTotal: mu.heapTotal });
    stateBytes.add(layer.model.stateBytes(state));
  };
  const t0 = performance.now();
  for (let t = 0; t < steps; t++) {
    if (t === warmup) await sample(t);
    while (t >= bounds[win + 1]!) win++;
    const kind = stream.next(z, t >= warmup);
    kinds[t] = STEP_KINDS.indexOf(kind);
    if (kind === "huge") {
      hugeAt.push(t);
      hugeMag.push(stream.lastMagnitude);
    }
    let out;
    const ts = performance.now();
    try {
      out = layer.step(z, state);
    } catch (err) {
      if (!(err instanceof AuraError)) throw err;
      typedErrors++;
      firstError ??= `step ${t}: ${err.name}: ${err.message}`;
      normM[t] = t > 0 ? normM[t - 1]! : 0;
      normB[t] = t > 0 ? normB[t - 1]! : 0;
      continue;
    } finally {
      stepMs += performance.now() - ts;
    }
    state = out.state;
    const badA = nonFinite(out.action);
    if (badA) nonFiniteActionSteps++;
    else {
      const ws = winSum[win]!;
      const wq = winSq[win]!;
      for (let j = 0; j < A; j++) {
        const x = out.action[j]!;
        ws[j] = ws[j]! + x;
        wq[j] = wq[j]! + x * x;
      }
    }
    if (nonFinite(out.surprise)) nonFiniteSurpriseSteps++;
    if (nonFinite(out.p)) nonFinitePSteps++;
    if (out.g[0] === 1) {
      writes[t] = 1;
      nWrites++;
    }
    if (task && kind === "query" && stream.hasGoal && !badA) correct[t] = argmax(out.action) === stream.goalClass ? 1 : 0;
    if (state.kind !== "fast-weights") throw new Error("internal: soak state is not a fast-weight state");
    const [nM, nB] = stateNorms(state);
    const badS = !Number.isFinite(nM) || !Number.isFinite(nB);
    if (badS) nonFiniteStateSteps++;
    if ((badA || badS) && firstNonFinite === null) firstNonFinite = t;
    normM[t] = nM;
    normB[t] = nB;
    if (t > warmup && (t - warmup) % sampleEvery === 0) await sample(t);
    if ((t + 1) % progressEvery === 0 && o.onProgress) {
      o.onProgress(t + 1, steps);
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  await sample(steps);

  // ---- ||M|| and ||m|| statistics, poisoning
  let maxNormM = 0;
  let maxNormMStep = 0;
  let maxNormBias = 0;
  let warmupMaxNormM = 0;
  let warmupMaxNormBias = 0;
  for (let t = 0; t < steps; t++) {
    if (!(normM[t]! <= maxNormM)) {
      maxNormM = normM[t]!;
      maxNormMStep = t;
    }
    if (!(normB[t]! <= maxNormBias)) maxNormBias = normB[t]!;
    if (t < warmup) {
      warmupMaxNormM = Math.max(warmupMaxNormM, normM[t]!);
      warmupMaxNormBias = Math.max(warmupMaxNormBias, normB[t]!);
    }
  }
  const thresholdM = 10 * Math.max(warmupMaxNormM, 1e-6);
  const thresholdBias = 10 * Math.max(warmupMaxNormBias, 1e-6);
  const poisoned = (t: number): boolean => !(normM[t]! <= thresholdM && normB[t]! <= thresholdBias);
  let cleanMaxNormM = 0;
  let poisonedSteps = 0;
  for (let t = 0; t < steps; t++) {
    if (poisoned(t)) {
      if (t >= warmup) poisonedSteps++;
    } else cleanMaxNormM = Math.max(cleanMaxNormM, normM[t]!);
  }
  const bins = new Map<number, SoakHugeBin & { rec: number[] }>();
  for (let e = 0; e < hugeAt.length; e++) {
    const t = hugeAt[e]!;
    const lo = 10 ** (3 * Math.floor(Math.log10(hugeMag[e]!) / 3));
    let b = bins.get(lo);
    if (!b) {
      b = { lo, events: 0, poisoned: 0, alreadyPoisoned: 0, recovered: 0, medianRecoverySteps: null, maxRecoverySteps: null, unrecovered: 0, rec: [] };
      bins.set(lo, b);
    }
    b.events++;
    if (t > 0 && poisoned(t - 1)) {
      b.alreadyPoisoned++;
      continue;
    }
    if (!poisoned(t)) continue;
    b.poisoned++;
    // later huge observations that arrive while poisoned are counted as "already poisoned"; the
    // recovery is the first unpoisoned step after this one, however many arrived in between
    let s = t;
    while (s < steps && poisoned(s)) s++;
    if (s < steps) {
      b.recovered++;
      b.rec.push(s - t);
    } else b.unrecovered++;
  }
  const binList: SoakHugeBin[] = [...bins.values()]
    .sort((a, b) => a.lo - b.lo)
    .map(({ rec, ...b }) => ({ ...b, medianRecoverySteps: rec.length ? median(rec) : null, maxRecoverySteps: rec.length ? Math.max(...rec) : null }));

  // ---- windows
  const windows: SoakWindow[] = [];
  for (let w = 0; w + 1 < bounds.length; w++) {
    const from = bounds[w]!;
    const to = bounds[w + 1]!;
    let mx = 0;
    let mb = 0;
    let wr = 0;
    let pois = 0;
    const clean: number[] = [];
    for (let t = from; t < to; t++) {
      mx = Math.max(mx, normM[t]!);
      mb = Math.max(mb, normB[t]!);
      wr += writes[t]!;
      if (poisoned(t)) pois++;
      else clean.push(normM[t]!);
    }
    const n = to - from;
    let sd = 0;
    for (let j = 0; j < A; j++) {
      const mean = winSum[w]![j]! / n;
      sd += Math.sqrt(Math.max(0, winSq[w]![j]! / n - mean * mean));
    }
    const rs = rssSamples.filter((s) => s.step > from && s.step <= to);
    let q = 0;
    let ok = 0;
    let ev = 0;
    let evW = 0;
    let di = 0;
    let diW = 0;
    const EVENT = STEP_KINDS.indexOf("event");
    const LURE = STEP_KINDS.indexOf("lure");
    const DISTR = STEP_KINDS.indexOf("distractor");
    for (let t = from; t < to; t++) {
      if (correct[t]! >= 0) {
        q++;
        ok += correct[t]!;
      }
      if (kinds[t] === EVENT) {
        ev++;
        evW += writes[t]!;
      } else if (kinds[t] === LURE || kinds[t] === DISTR) {
        di++;
        diW += writes[t]!;
      }
    }
    windows.push({
      from,
      to,
      medianNormM: median(clean),
      maxNormM: mx,
      maxNormBias: mb,
      writeRate: wr / n,
      actionStd: sd / A,
      poisoned: pois / n,
      hugeEvents: hugeAt.filter((h) => h >= from && h < to).length,
      rssMB: rs.length ? rs[rs.length - 1]!.rss / 2 ** 20 : null,
      accuracy: task && q > 0 ? ok / q : null,
      queries: q,
      distractors: di,
      pWriteEvent: task && ev > 0 ? evW / ev : null,
      pWriteDistractor: task && di > 0 ? diW / di : null,
    });
  }

  // ---- RSS after warm-up
  const rssVals = rssSamples.map((s) => s.rss);
  const k = Math.max(1, Math.floor(rssVals.length / 10));
  const growth = median(rssVals.slice(-k)) - median(rssVals.slice(0, k));
  // the same from 10% of the way on: RSS settles (JIT code, allocator arenas) over the first ~1e5 steps
  const settle = warmup + Math.floor((steps - warmup) / 10);
  const late = rssSamples.filter((x) => x.step >= settle).map((x) => x.rss);
  const lateGrowth = late.length >= 2 * k ? median(late.slice(-k)) - median(late.slice(0, k)) : NaN;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const s of rssSamples) {
    sx += s.step;
    sy += s.rss;
    sxx += s.step * s.step;
    sxy += s.step * s.rss;
  }
  const ns = rssSamples.length;
  const slope = ns > 1 ? (ns * sxy - sx * sy) / (ns * sxx - sx * sx) : 0;
  const first = rssSamples[0]!;
  const last = rssSamples[rssSamples.length - 1]!;
  const rss = {
    samples: ns,
    firstMB: first.rss / 2 ** 20,
    lastMB: last.rss / 2 ** 20,
    minMB: Math.min(...rssVals) / 2 ** 20,
    maxMB: Math.max(...rssVals) / 2 ** 20,
    growthBytes: growth,
    settleStep: settle,
    lateGrowthBytes: lateGrowth,
    rawGrowthBytes: last.rss - first.rss,
    slopeMBPerMillion: (slope * 1e6) / 2 ** 20,
    heapUsedGrowthBytes: last.heapUsed - first.heapUsed,
    heapTotalGrowthBytes: last.heapTotal - first.heapTotal,
  };

  // ---- verdict
  const post = windows.slice(1);
  const meds = post.map((w) => w.medianNormM).filter((x) => Number.isFinite(x));
  const firstMed = meds[0] ?? NaN;
  const lastMed = meds[meds.length - 1] ?? NaN;
  const bounded = nonFiniteStateSteps === 0 && Number.isFinite(maxNormM) && lastMed <= 2 * Math.max(firstMed, 1e-6);
  const nPoisoned = binList.reduce((s, b) => s + b.poisoned, 0);
  const nUnrecovered = binList.reduce((s, b) => s + b.unrecovered, 0);
  const poisonedFraction = steps > warmup ? poisonedSteps / (steps - warmup) : 0;
  const verdict: SoakReport["verdict"] = [
    { name: "no NaN/Inf in actions", status: nonFiniteActionSteps === 0 ? "PASS" : "FAIL", detail: `${nonFiniteActionSteps} steps` },
    { name: "no NaN/Inf in the state", status: nonFiniteStateSteps === 0 ? "PASS" : "FAIL", detail: `${nonFiniteStateSteps} steps` },
    { name: "no errors on finite input", status: typedErrors === 0 ? "PASS" : "FAIL", detail: firstError ?? "0" },
    {
      name: "||M||_F bounded: no upward trend on unpoisoned steps",
      status: bounded ? "PASS" : "FAIL",
      detail: `clean median ${fmt(firstMed)} in the first window, ${fmt(lastMed)} in the last (${meds.length} of ${post.length} windows have clean steps); clean max ${fmt(cleanMaxNormM)}`,
    },
    {
      name: "memory recovers from huge observations",
      status: hugeAt.length === 0 ? "n/a" : nUnrecovered === 0 ? "PASS" : "WARN",
      detail:
        hugeAt.length === 0
          ? "none injected"
          : `${nPoisoned} of ${hugeAt.length} poisoned the state (||M||_F > ${fmt(thresholdM)} or ||m|| > ${fmt(thresholdBias)}), ${nUnrecovered} still poisoned at the end; poisoned ${(100 * poisonedFraction).toFixed(1)}% of the steps; max ||M||_F ${fmt(maxNormM)}`,
    },
    competenceCheck(task ?? null, windows.slice(1)),
    { name: "state bytes constant", status: stateBytes.size === 1 && stateBytes.has(expectedBytes) ? "PASS" : "FAIL", detail: `${[...stateBytes].join(", ")} B` },
    {
      name: "RSS growth after warm-up < 1 MB",
      status: growth < 2 ** 20 ? "PASS" : "FAIL",
      detail:
        `${(growth / 2 ** 20).toFixed(2)} MB (median of the last vs the first ${k} of ${ns} samples; slope ${rss.slopeMBPerMillion.toFixed(2)} MB per 1e6 steps; ` +
        `last - first ${(rss.rawGrowthBytes / 2 ** 20).toFixed(2)} MB${gc ? ", GC forced before each sample" : ", no --expose-gc: RSS includes garbage"})`,
    },
    {
      name: `RSS growth after ${int(settle)} steps (settled) < 1 MB`,
      status: !Number.isFinite(lateGrowth) ? "n/a" : lateGrowth < 2 ** 20 ? "PASS" : "FAIL",
      detail: Number.isFinite(lateGrowth) ? `${(lateGrowth / 2 ** 20).toFixed(2)} MB (median of the last vs the first ${k} samples from step ${int(settle)})` : "too few samples",
    },
  ];
  const finalS = state as Extract<MemoryState, { kind: "fast-weights" }>;
  let finalBias = 0;
  for (const x of finalS.m) finalBias += x * x;
  return {
    steps,
    dModel: d,
    dKey: cfg.dKey,
    dVal: cfg.dVal,
    arm: layer.arm,
    backend: layer.model.backend,
    source,
    task: task ?? null,
    seed,
    warmup,
    hugeEvery,
    hugeMax,
    gcForced: !!gc,
    execArgv: [...process.execArgv],
    wallSeconds,
    stepsPerSecond: steps / wallSeconds,
    stepMicros: (stepMs * 1000) / steps,
    nonFiniteActionSteps,
    nonFiniteStateSteps,
    firstNonFinite,
    nonFiniteSurpriseSteps,
    nonFinitePSteps,
    typedErrors,
    firstError,
    maxNormM,
    maxNormMStep,
    finalNormM: normM[steps - 1]!,
    warmupMaxNormM,
    cleanMaxNormM,
    maxNormBias,
    finalNormBias: Math.sqrt(finalBias),
    warmupMaxNormBias,
    writeRate: nWrites / steps,
    huge: { events: hugeAt.length, thresholdM, thresholdBias, poisonedFraction, bins: binList, maxMagnitude: hugeMag.length ? Math.max(...hugeMag) : 0 },
    stateBytes: [...stateBytes],
    rss,
    windows,
    verdict,
  };
}


/** The report as markdown lines (what `aura bench-soak` prints). */
export function soakMarkdown(r: SoakReport): string[] {
  const L: string[] = [];
  L.push(`## Soak: ${int(r.steps)} batch-1 step() calls, ${r.arm}, dModel ${r.dModel}, M ${r.dKey}x${r.dVal} (${r.source}, ${r.backend} backend)`);
  L.push("");
  L.push(
    `Stream: seed ${r.seed}, ess-hard proportions (4% events, 14% lures, 14% novel distractors, 1/16 queries, background, noise 0.5); ` +
      (r.hugeEvery > 0
        ? `after ${int(r.warmup)} warm-up steps one huge-but-finite observation per ~${int(r.hugeEvery)} steps (entries x 1e3..${r.hugeMax.toExponential(0)}, log-uniform).`
        : "no huge observations.") +
      ` Node ${process.version}${r.execArgv.length ? ` (${r.execArgv.join(" ")})` : ""}.`,
  );
  L.push("");
  L.push("| check | result | detail |");
  L.push("|---|---|---|");
  for (const v of r.verdict) L.push(`| ${v.name} | ${v.status === "PASS" || v.status === "n/a" ? v.status : `**${v.status}**`} | ${v.detail} |`);
  L.push("");
  L.push("| figure | value |");
  L.push("|---|---|");
  L.push(`| steps | ${int(r.steps)} |`);
  L.push(`| wall time | ${r.wallSeconds.toFixed(1)} s |`);
  L.push(`| throughput | ${int(Math.round(r.stepsPerSecond))} steps/s (${r.stepMicros.toFixed(1)} µs inside step()) |`);
  L.push(`| NaN/Inf steps: action / state / p / surprise | ${r.nonFiniteActionSteps} / ${r.nonFiniteStateSteps} / ${r.nonFinitePSteps} / ${r.nonFiniteSurpriseSteps} |`);
  L.push(`| typed errors | ${r.typedErrors} |`);
  L.push(`| ||M||_F max (step) / final | ${fmt(r.maxNormM)} (step ${int(r.maxNormMStep)}) / ${fmt(r.finalNormM)} |`);
  L.push(`| ||M||_F max in warm-up / over unpoisoned steps | ${fmt(r.warmupMaxNormM)} / ${fmt(r.cleanMaxNormM)} |`);
  L.push(`| ||m||_2 max / final / max in warm-up | ${fmt(r.maxNormBias)} / ${fmt(r.finalNormBias)} / ${fmt(r.warmupMaxNormBias)} |`);
  L.push(`| write rate | ${r.writeRate.toFixed(3)} |`);
  L.push(`| state bytes | ${r.stateBytes.map(int).join(", ")} |`);
  L.push(
    `| RSS after warm-up (${r.rss.samples} samples${r.gcForced ? ", GC forced" : ""}) | first ${r.rss.firstMB.toFixed(1)} MB, last ${r.rss.lastMB.toFixed(1)} MB, ` +
      `min ${r.rss.minMB.toFixed(1)}, max ${r.rss.maxMB.toFixed(1)}; V8 heap used ${(r.rss.heapUsedGrowthBytes / 1024).toFixed(0)} KB, heap total ${(r.rss.heapTotalGrowthBytes / 1024).toFixed(0)} KB growth |`,
  );
  if (r.huge.events > 0) {
    L.push("");
    L.push(`Huge observations by magnitude (poisoned: ||M||_F > ${fmt(r.huge.thresholdM)} or ||m||_2 > ${fmt(r.huge.thresholdBias)}, 10x the warm-up maxima):`);
    L.push("");
    L.push("| entries x | events | poisoned the state | arrived already poisoned | recovered (median / max steps to unpoisoned) | poisoned to the end |");
    L.push("|---|---|---|---|---|---|");
    for (const b of r.huge.bins) {
      L.push(
        `| ${b.lo.toExponential(0)}..${(b.lo * 1e3).toExponential(0)} | ${b.events} | ${b.poisoned} | ${b.alreadyPoisoned} | ${b.recovered} (${b.medianRecoverySteps ?? "-"} / ${b.maxRecoverySteps ?? "-"}) | ${b.unrecovered} |`,
      );
    }
  }
  L.push("");
  const comp = r.task !== null;
  L.push(
    `| steps | median ||M||_F (unpoisoned) | max ||M||_F | max ||m||_2 | write rate |${comp ? " accuracy at queries (n) | P(write\\|event) | P(write\\|distractor) |" : ""} action std | poisoned | huge obs. | RSS MB |`,
  );
  L.push(`|---|---|---|---|---|${comp ? "---|---|---|" : ""}---|---|---|---|`);
  const p = (x: number | null, d: number): string => (x === null ? "-" : x.toFixed(d));
  for (const w of r.windows) {
    const c = comp ? ` ${p(w.accuracy, 3)} (${int(w.queries)}) | ${p(w.pWriteEvent, 3)} | ${p(w.pWriteDistractor, 4)} |` : "";
    L.push(
      `| ${int(w.from)}-${int(w.to)}${w.from === 0 ? " (warm-up)" : ""} | ${fmt(w.medianNormM)} | ${fmt(w.maxNormM)} | ${fmt(w.maxNormBias)} | ${w.writeRate.toFixed(3)} |${c} ${fmt(w.actionStd, 3)} | ${(100 * w.poisoned).toFixed(1)}% | ${w.hugeEvents} | ${w.rssMB === null ? "-" : w.rssMB.toFixed(1)} |`,
    );
  }
  return L;
}

/** Options of {@link probeHugeObservations}. */
export interface ProbeOptions {
  checkpoint?: string;
  dModel?: number;
  seed?: number;
  backend?: Backend | "auto";
  /** Magnitude factors to inject. Default 1e1, 1e2, 1e3, 1e4, 1e6, 1e9, 1e12, 1e18, 1e24, 1e30. */
  magnitudes?: number[];
  /** Independent trials (stream seeds) per magnitude. Default 3. */
  trials?: number;
  /** Clean steps before the injection (they set the 10x thresholds). Default 2,000. */
  warmup?: number;
  /** Clean steps followed after it. Default 20,000. */
  follow?: number;
  /** A layer made already ({@link soakLayer}); overrides checkpoint / dModel. */
  layer?: SoakLayer;
  /**
   * Inject into the stream of this task's embeddings (task seed `taskSeed`), so a model trained on it is scored:
   * did the gate write the huge step, and is the accuracy at queries back once the next event has come?
   */
  task?: "ess-hard";
  /** Task seed of `task`. Default `seed`. */
  taskSeed?: number;
  /**
   * Force the write of the huge step (the gate overridden open there; a result with a non-finite state counts as
   * refused): what happens when a gate does write one, whether it latches shut afterwards and whether the memory
   * comes back at the next event. Default false (the gate decides).
   */
  forceWrite?: boolean;
}

/** One magnitude of the probe. */
export interface ProbeRow {
  magnitude: number;
  trials: number;
  /** Steps the layer refused with a NonFiniteError (overflow inside the layer; the state is kept as it was). */
  rejected: number;
  /** Trials whose state the one huge observation poisoned (||M||_F or ||m||_2 above 10x the warm-up max). */
  poisoned: number;
  /** Of those, recovered within `follow` steps; median steps to recover. */
  recovered: number;
  medianRecoverySteps: number | null;
  /** Trials still poisoned at the end with no write in the last 1,000 steps (gate latched shut). */
  latchedShut: number;
  /** Mean over trials of the action std over the last 1,000 steps (the clean stream gives ~0.1-1). */
  finalActionStd: number;
  maxNormM: number;
  maxNormBias: number;
  /** Trials whose gate wrote the huge step (g = 1 there). */
  written: number;
  /** With a task: accuracy at queries with a goal over the last 1,000 warm-up steps (before), null without one. */
  accuracyBefore: number | null;
  /** With a task: accuracy at queries from the first event after the injection to the end of `follow` (after). */
  accuracyAfter: number | null;
}

/**
 * Inject ONE huge-but-finite observation (every entry multiplied by the magnitude) into a clean,
 * warmed-up stream and follow the memory for `follow` clean steps: does it poison the state, does
 * it come back, does the write gate latch shut (a frozen policy)?
 */
/** layer.step, or null when the layer refuses the step with a NonFiniteError (overflow inside the layer). */
function tryStep(layer: AuraMemLayer, z: Float32Array, state: MemoryState): ReturnType<AuraMemLayer["step"]> | null {
  try {
    return layer.step(z, state);
  } catch (err) {
    if (err instanceof NonFiniteError) return null;
    throw err;
  }
}

export async function probeHugeObservations(o: ProbeOptions = {}): Promise<ProbeRow[]> {
  const seed = o.seed ?? 0;
  if (o.task !== undefined && o.task !== "ess-hard") throw new ConfigError(`the probe stream has ess-hard's proportions; task must be "ess-hard", got ${String(o.task)}`);
  // the soak's layer: given, a checkpoint, or a fresh one (an 8-class head on a task stream)
  const { layer } = o.layer ?? (await soakLayer({ checkpoint: o.checkpoint, dModel: o.dModel, seed, backend: o.backend, task: o.task }));
  if (layer.model.core !== "delta") throw new ConfigError(`the probe measures a fast-weight memory; arm ${layer.arm} has none`);
  const d = layer.config.dModel;
  const A = layer.config.dAction;
  if (o.task && (layer.config.actionKind !== "discrete" || A !== 8)) throw new ConfigError(`the probe on ${o.task} needs an 8-class discrete head, the layer has ${A} ${layer.config.actionKind} actions`);
  const embeddings = o.task ? essEmbeddings(ESS_HARD, o.taskSeed ?? seed, d) : undefined;
  const trials = checkInt("trials", o.trials ?? 3);
  const warmup = checkInt("warmup", o.warmup ?? 2000);
  const follow = checkInt("follow", o.follow ?? 20_000, 1000);
  const mags = o.magnitudes ?? [1e1, 1e2, 1e3, 1e4, 1e6, 1e9, 1e12, 1e18, 1e24, 1e30];
  const rows: ProbeRow[] = [];
  const z = new Float32Array(d);
  for (const mag of mags) {
    const row: ProbeRow = { magnitude: mag, trials, rejected: 0, poisoned: 0, recovered: 0, medianRecoverySteps: null, latchedShut: 0, finalActionStd: 0, maxNormM: 0, maxNormBias: 0, written: 0, accuracyBefore: null, accuracyAfter: null };
    const rec: number[] = [];
    // queries with a goal answered right / asked, before the injection (last 1,000 warm-up steps) and after it (from the next event on)
    let okB = 0;
    let nB = 0;
    let okA = 0;
    let nA = 0;
    for (let k = 0; k < trials; k++) {
      const stream = new SoakStream(d, seed + 1000 * k + 1, 0, 1e30, embeddings);
      let state = layer.initState(1);
      let thM = 0;
      let thB = 0;
      for (let t = 0; t < warmup; t++) {
        const kind = stream.next(z, false);
        const out = layer.step(z, state);
        state = out.state;
        const [a, b] = stateNorms(state);
        thM = Math.max(thM, a);
        thB = Math.max(thB, b);
        if (embeddings && kind === "query" && stream.hasGoal && t >= warmup - 1000) {
          nB++;
          if (argmax(out.action) === stream.goalClass) okB++;
        }
      }
      thM *= 10;
      thB *= 10;
      stream.next(z, false);
      stream.amplify(z, mag, true);
      // a step whose maths overflows is refused with a NonFiniteError and leaves the state as it was
      if (o.forceWrite) {
        // the gate overridden open at this one step (the model's forward: layer.step has no override)
        const fr = layer.model.forward(z, 1, 1, { initialState: state, gateOverride: new Float32Array([1]), validate: false });
        const st = fr.finalState;
        const finite = st.kind === "fast-weights" && !nonFinite(st.M) && !nonFinite(st.m) && !nonFinite(fr.out);
        if (finite) {
          state = st;
          row.written++;
        } else row.rejected++;
      } else {
        const hit = tryStep(layer, z, state);
        if (hit) {
          state = hit.state;
          if (hit.g[0]! > 0) row.written++;
        } else row.rejected++;
      }
      let eventSince = false;
      const [a0, b0] = stateNorms(state);
      const isPoisoned = (a: number, b: number): boolean => !(a <= thM && b <= thB);
      let poisonedNow = isPoisoned(a0, b0);
      if (poisonedNow) row.poisoned++;
      let recoveredAt = poisonedNow ? -1 : 0;
      let lastWrites = 0;
      const sum = new Float64Array(A);
      const sq = new Float64Array(A);
      row.maxNormM = Math.max(row.maxNormM, a0);
      row.maxNormBias = Math.max(row.maxNormBias, b0);
      for (let t = 1; t <= follow; t++) {
        const kind = stream.next(z, false);
        if (kind === "event") eventSince = true;
        const out = tryStep(layer, z, state);
        if (!out) {
          row.rejected++;
          continue;
        }
        state = out.state;
        if (embeddings && kind === "query" && eventSince) {
          nA++;
          if (argmax(out.action) === stream.goalClass) okA++;
        }
        const [a, b] = stateNorms(state);
        row.maxNormM = Math.max(row.maxNormM, a);
        row.maxNormBias = Math.max(row.maxNormBias, b);
        poisonedNow = isPoisoned(a, b);
        if (recoveredAt < 0 && !poisonedNow) recoveredAt = t;
        if (t > follow - 1000) {
          lastWrites += out.g[0]!;
          for (let j = 0; j < A; j++) {
            sum[j] = sum[j]! + out.action[j]!;
            sq[j] = sq[j]! + out.action[j]! * out.action[j]!;
          }
        }
      }
      if (recoveredAt > 0) {
        row.recovered++;
        rec.push(recoveredAt);
      }
      if (poisonedNow && lastWrites === 0) row.latchedShut++;
      let sd = 0;
      for (let j = 0; j < A; j++) sd += Math.sqrt(Math.max(0, sq[j]! / 1000 - (sum[j]! / 1000) ** 2));
      row.finalActionStd += sd / A / trials;
      await new Promise<void>((r) => setImmediate(r));
    }
    row.medianRecoverySteps = rec.length ? median(rec) : null;
    if (embeddings) {
      row.accuracyBefore = nB > 0 ? okB / nB : null;
      row.accuracyAfter = nA > 0 ? okA / nA : null;
    }
    rows.push(row);
  }
  return rows;
}

/** The probe as markdown lines. */
export function probeMarkdown(rows: ProbeRow[], o: { follow?: number; source?: string; forceWrite?: boolean } = {}): string[] {
  const L: string[] = [];
  L.push(`## One huge observation into a clean stream${o.forceWrite ? ", written whatever the gate says" : ""} (${o.source ?? "fresh layer"}): poisoning and recovery over ${int(o.follow ?? 20_000)} clean steps`);
  L.push("");
  const task = rows.some((r) => r.accuracyBefore !== null || r.accuracyAfter !== null);
  L.push(`| entries x | trials | steps refused (NonFiniteError, state kept) | written by the gate | poisoned | recovered (median steps) | latched shut at the end | action std, last 1,000 steps | max ||M||_F | max ||m||_2 |${task ? " accuracy at queries: before / after the next event |" : ""}`);
  L.push(`|---|---|---|---|---|---|---|---|---|---|${task ? "---|" : ""}`);
  const acc = (x: number | null): string => (x === null ? "-" : x.toFixed(3));
  for (const r of rows) {
    L.push(
      `| ${r.magnitude.toExponential(0)} | ${r.trials} | ${r.rejected} | ${r.written} | ${r.poisoned} | ${r.recovered} (${r.medianRecoverySteps ?? "-"}) | ${r.latchedShut} | ${fmt(r.finalActionStd, 3)} | ${fmt(r.maxNormM)} | ${fmt(r.maxNormBias)} |${task ? ` ${acc(r.accuracyBefore)} / ${acc(r.accuracyAfter)} |` : ""}`,
    );
  }
  return L;
}
