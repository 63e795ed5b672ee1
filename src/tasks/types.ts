/**
 * Benchmark task vocabulary. A task is a seeded, deterministic generator of episode batches: the
 * observations `z` stand in for the features of a frozen perception backbone, and the targets are
 * either a class (discrete tasks, read as accuracy) or a continuous action (read as MSE).
 *
 * Layout conventions (row-major, like the ops): per-step arrays are `[B, T]` (index `b*T + t`),
 * observations are `[B, T, dModel]` (index `(b*T + t)*dModel + d`), continuous targets are
 * `[B, T, dAction]`. The exact generative process of every task is in docs/benchmarks.md.
 */
import type { Rng } from "../util/rng.js";

/** Step types used for gate selectivity: P(write | event), P(write | distractor). */
export const StepType = { background: 0, event: 1, distractor: 2, query: 3, pad: 4 } as const;
/** One of the `StepType` codes (0..4). */
export type StepTypeCode = (typeof StepType)[keyof typeof StepType];

/**
 * Generator ground truth, for tests and analysis only (a model must never read it). Every field is
 * optional; which ones are filled depends on the task (see each field).
 */
export interface EpisodeTruth {
  /** ess: `[B*T]` class carried by a true (goal-changing) event step, -1 elsewhere. */
  eventClass?: Int32Array;
  /** ess-hard: `[B*T]` class of the event embedding shown at an event-like distractor ("lure"), -1 elsewhere. */
  lureClass?: Int32Array;
  /**
   * mbar: `[B*T]` key id shown at the step, -1 where none. Binding and query steps use the bound-key
   * pool (ids 0..keyPool-1), distractor-pair steps the disjoint distractor-key pool (also 0-based,
   * tell them apart by `stepType`).
   */
  key?: Int32Array;
  /** mbar: `[B*T]` value class shown at binding / distractor-pair steps, -1 elsewhere. */
  value?: Int32Array;
  /** pusht: `[B]` index (0..205) of the source episode of each batch row. */
  episode?: Int32Array;
  /** pusht: `[B]` first step of the source episode that row `b` starts at (0 for whole episodes). */
  start?: Int32Array;
  /** pusht: `[B]` number of valid (non-pad) steps of each row; steps `t >= length[b]` are padding. */
  length?: Int32Array;
}

/** A batch of `B` episodes of `T` steps. */
export interface EpisodeBatch {
  /** Number of episodes (rows). */
  B: number;
  /** Steps per episode (padded rows are marked with `StepType.pad`). */
  T: number;
  /** Feature dimension of `z`. */
  dModel: number;
  /** `[B*T*dModel]` observations standing in for frozen-backbone features (unitless). */
  z: Float32Array;
  /** `[B*T]` class target for discrete tasks, -1 where undefined; null for continuous tasks. */
  label: Int32Array | null;
  /** `[B*T*dAction]` continuous targets in normalised units ([-1, 1] for pusht); null for discrete tasks. */
  target: Float32Array | null;
  /** `[B*T]` 1 where the training loss applies, else 0. */
  lossMask: Float32Array;
  /** `[B*T]` 1 where the metric is read (query steps; every valid step for pusht), else 0. */
  evalMask: Float32Array;
  /** `[B*T]` `StepType` code of every step. */
  stepType: Uint8Array;
  /** Generator ground truth (tests / analysis only; never a model input). */
  truth?: EpisodeTruth;
}

/** A benchmark task. */
export interface Task {
  /** e.g. "ess-hard", "ess-easy", "mbar", "pusht". */
  readonly name: string;
  /** "accuracy" for discrete tasks (argmax over dAction logits at evalMask steps), "mse" for continuous ones. */
  readonly metric: "accuracy" | "mse";
  readonly kind: "discrete" | "continuous";
  /** Feature dimension of `z`. */
  readonly dModel: number;
  /** Number of classes (discrete) or action dimension (continuous). */
  readonly dAction: number;
  /** T of an episode (max T over the data for pusht). */
  readonly horizon: number;
  /** Accuracy of a uniform guess (discrete), null otherwise. */
  readonly chance: number | null;
  /** Multiply an MSE in normalised units by this to get the reported unit (pixels^2 for pusht); 1 for discrete. */
  readonly metricScale: number;
  /** The concrete constants of this task instance (for logs, `describeTask`, results files). */
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /** A training batch of `B` episodes; deterministic given the rng state (advances `rng`). */
  sample(rng: Rng, B: number): EpisodeBatch;
  /**
   * One long non-resetting stream of `length` steps (a multiple of nothing in particular; >= horizon)
   * at the task's event density, B = 1; deterministic given the rng state. Present on tasks whose
   * generative process is a stream (ess); what carried-state (truncated-BPTT) training reads.
   */
  sampleStream?(rng: Rng, length: number): EpisodeBatch;
  /**
   * The fixed evaluation set for split "val" or "test" (deterministic from the task's seed, identical
   * episodes whatever `batchSize`), as batches of at most `batchSize` episodes.
   */
  evalSet(split: "val" | "test", batchSize: number): EpisodeBatch[];
  /** Same episodes as `evalSet`, generated lazily one batch at a time (use for large dModel / horizon). */
  evalBatches(split: "val" | "test", batchSize: number): Iterable<EpisodeBatch>;
  /** Number of episodes in the evaluation split. */
  evalSize(split: "val" | "test"): number;
}

/** Options of `createTask`. */
export interface TaskOptions {
  /** Task seed: embeddings, feature maps, eval sets and the pusht split all derive from it. uint32. */
  seed: number;
  /** Feature dimension of `z` (default 64; any value in [8, 16384]). */
  dModel?: number;
  /**
   * ess: episode length N (default 64 easy / 128 hard). mbar: number of bindings N (default 16;
   * T = 2N + 4). pusht: training window length (default: whole episodes).
   */
  horizon?: number;
  /** pusht: path of `pusht_cchi_v7_replay.zarr` (default `../shared/data/pusht_cchi_v7_replay.zarr` from process.cwd()). */
  pushtPath?: string;
  /**
   * ess: how events scale with a horizon longer than the task's own: "fixed" (default; 4-6 events
   * whatever N) or "density" (events scale with N). Ignored by mbar and pusht.
   */
  stream?: "fixed" | "density";
  /** Synthetic tasks: episodes in the val split (default 256). */
  valEpisodes?: number;
  /** Synthetic tasks: episodes in the test split (default 512). */
  testEpisodes?: number;
}

/** Allocate an all-zero batch (label filled with -1 for discrete tasks, stepType = background). */
export function allocBatch(B: number, T: number, dModel: number, kind: "discrete" | "continuous", dAction: number): EpisodeBatch {
  const n = B * T;
  const label = kind === "discrete" ? new Int32Array(n).fill(-1) : null;
  const target = kind === "continuous" ? new Float32Array(n * dAction) : null;
  return {
    B,
    T,
    dModel,
    z: new Float32Array(n * dModel),
    label,
    target,
    lossMask: new Float32Array(n),
    evalMask: new Float32Array(n),
    stepType: new Uint8Array(n),
  };
}

/** Split names of the fixed evaluation sets. */
export type Split = "val" | "test";

/**
 * Lazily yield `n` fixed episodes in batches of at most `batchSize`. Episode `i` is generated by
 * `write(rng_i, batch, row)` where `rng_i` is the i-th fork of `root`, so the episodes do not depend
 * on `batchSize`. `alloc(B)` allocates a batch of `B` rows.
 */
export function* forkedBatches(
  root: Rng,
  n: number,
  batchSize: number,
  alloc: (B: number) => EpisodeBatch,
  write: (rng: Rng, batch: EpisodeBatch, row: number) => void,
): Generator<EpisodeBatch> {
  for (let i0 = 0; i0 < n; i0 += batchSize) {
    const B = Math.min(batchSize, n - i0);
    const batch = alloc(B);
    for (let r = 0; r < B; r++) write(root.fork(), batch, r);
    yield batch;
  }
}
