/**
 * The episode-batch contract of the library: what training, evaluation, datasets and data-parallel
 * shards read (`EpisodeBatch`, `StepType`, `allocBatch`) and where training reads it from
 * (`TrainSource`). Benchmark tasks (src/tasks/), the sim's demonstrations and user datasets
 * (src/io/dataset.ts) all produce these batches.
 *
 * Layout conventions (row-major, like the ops): per-step arrays are `[B, T]` (index `b*T + t`),
 * observations are `[B, T, dModel]` (index `(b*T + t)*dModel + d`), continuous targets are
 * `[B, T, dAction]`.
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

/** What training reads: a batch sampler and fixed validation episodes (a benchmark Task satisfies it). */
export interface TrainSource {
  readonly kind: "discrete" | "continuous";
  readonly metric: "accuracy" | "mse";
  readonly dAction: number;
  readonly metricScale: number;
  sample(rng: Rng, B: number): EpisodeBatch;
  /** One long stream of `length` steps (B = 1), for carried-state training (`TrainOptions.streamWindows`). */
  sampleStream?(rng: Rng, length: number): EpisodeBatch;
  /** Window length of carried-state training (the task's horizon). */
  readonly horizon?: number;
  evalSet(split: "val" | "test", batchSize: number): EpisodeBatch[];
}
