/**
 * Data-parallel training on worker threads: N workers each hold a copy of the parameters and compute
 * `batchObjective` (src/train/train.ts) on a shard of the batch's episodes; the main thread combines
 * the shard gradients into the full-batch gradient, clips, applies Adam and broadcasts the new
 * parameters through a SharedArrayBuffer.
 *
 * Exactness. The objective is a mean over steps, normalised per batch, so shard gradients must be
 * weighted by what each shard's normalisers cover, not by its episode count alone:
 *   L = CE / C-normalised task loss + lambda_w * max(0, meanP - rho) + lambda_IB * IB
 * with C = labelled (loss-mask) steps and N = valid (non-pad) steps of the whole batch. A shard s with
 * C_s labelled and N_s valid steps gets the combination weight alpha_s = C_s / C (N_s / N when
 * C_s = 0: its task gradient is zero then) and runs with lambda_w, lambda_IB scaled by
 * (N_s / N) / alpha_s. Then sum_s alpha_s * grad L_s is the full-batch gradient term by term:
 * exactly (up to float32 summation order) for discrete heads when every shard is on the same side of
 * the sparsity hinge as the whole batch — always with the default rho = 0 — which
 * {@link CombinedObjective.exact} reports. Continuous heads (Gaussian NLL = (D/2) log of the batch
 * MSE) are not separable: their combined gradient uses per-shard MSEs and is an approximation
 * (`exact: false`).
 *
 * Workers. The entry is `data_parallel_worker` next to this file, started by the project's worker pool
 * (src/util/worker_pool.ts: compiled .js, or the .ts source under tsx).
 */
import { ConfigError } from "../errors.js";
import type { SequenceModel } from "../model/model.js";
import type { GradSet } from "../model/params.js";
import type { Backend } from "../ops/index.js";
import { StepType, type EpisodeBatch } from "./batch.js";
import { runLoopAsync } from "./loop.js";
import { WorkerPool } from "../util/worker_pool.js";
import { batchObjective, endTrainingView, memoryTraining, trainOptions, trainingView, type TrainOptions, type TrainSource } from "./train.js";

/** The loss weights batchObjective reads. */
export type ObjectiveOptions = Pick<TrainOptions, "lambdaIB" | "lambdaW" | "targetWriteRate"> & Partial<Pick<TrainOptions, "lambdaU">>;
/** Gate mode and per-row schedule seeds [B] of one forward. */
export interface ForwardMode {
  gateMode: "hard" | "soft";
  scheduleSeeds?: ArrayLike<number>;
  /** [B*T] per-step thresholds of the stochastic gate (TrainOptions.stochasticGate). */
  gateThresholds?: Float32Array;
}

/** The forward mode of rows [r0, r1) of a batch of T steps. */
function shardForward(fwd: ForwardMode, r0: number, r1: number, T: number): { gateMode: "hard" | "soft"; scheduleSeeds?: number[]; gateThresholds?: Float32Array } {
  const out: { gateMode: "hard" | "soft"; scheduleSeeds?: number[]; gateThresholds?: Float32Array } = { gateMode: fwd.gateMode };
  if (fwd.scheduleSeeds) out.scheduleSeeds = Array.from(fwd.scheduleSeeds).slice(r0, r1);
  if (fwd.gateThresholds) out.gateThresholds = fwd.gateThresholds.slice(r0 * T, r1 * T);
  return out;
}

/** How one shard enters the combination. */
export interface ShardPlan {
  /** Episode rows [start, end) of the batch. */
  rows: [number, number];
  /** Combination weight of the shard's gradient and loss. */
  alpha: number;
  /** Factor on lambda_w and lambda_IB for this shard. */
  lambdaScale: number;
  /** Labelled (loss-mask) weight C_s and valid (non-pad) steps N_s of the shard. */
  labelled: number;
  valid: number;
}

/** What `batchObjective` returns for one shard (what a worker reports). */
export interface ShardResult {
  loss: number;
  taskLoss: number;
  meanP: number;
  grads: GradSet;
  surprise: Float32Array;
  valid: Uint8Array;
}

/** The full-batch objective reassembled from the shards. */
export interface CombinedObjective extends ShardResult {
  /** True when the combination equals the full-batch gradient (see the module comment). */
  exact: boolean;
  shards: number;
}

/** Row ranges of `n` shards of B rows, as even as possible (never an empty shard). */
export function shardRows(B: number, n: number): [number, number][] {
  if (!Number.isInteger(B) || B < 1) throw new ConfigError(`batch must have at least one episode, got ${B}`);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`shards must be a positive integer, got ${n}`);
  const k = Math.min(n, B);
  const out: [number, number][] = [];
  for (let s = 0; s < k; s++) out.push([Math.floor((s * B) / k), Math.floor(((s + 1) * B) / k)]);
  return out;
}

/** Rows [r0, r1) of a batch as a batch of their own (copies; `truth` is dropped). */
export function sliceBatch(b: EpisodeBatch, r0: number, r1: number): EpisodeBatch {
  const { T, dModel } = b;
  const n = r1 - r0;
  const dA = b.target ? b.target.length / (b.B * T) : 0;
  return {
    B: n,
    T,
    dModel,
    z: b.z.slice(r0 * T * dModel, r1 * T * dModel),
    label: b.label ? b.label.slice(r0 * T, r1 * T) : null,
    target: b.target ? b.target.slice(r0 * T * dA, r1 * T * dA) : null,
    lossMask: b.lossMask.slice(r0 * T, r1 * T),
    evalMask: b.evalMask.slice(r0 * T, r1 * T),
    stepType: b.stepType.slice(r0 * T, r1 * T),
  };
}

/** Labelled weight of rows [r0, r1), counted exactly as the task losses count it. */
function labelledWeight(b: EpisodeBatch, kind: "discrete" | "continuous", r0: number, r1: number): number {
  let c = 0;
  for (let i = r0 * b.T; i < r1 * b.T; i++) {
    const w = b.lossMask[i]!;
    if (!(w > 0)) continue;
    if (kind === "discrete" && !(b.label![i]! >= 0)) continue;
    c += w;
  }
  return c;
}

function validSteps(b: EpisodeBatch, r0: number, r1: number): number {
  let n = 0;
  for (let i = r0 * b.T; i < r1 * b.T; i++) if (b.stepType[i] !== StepType.pad) n++;
  return n;
}

/** Split a batch into `n` shards and weight them so the combination is the full-batch objective. */
export function planShards(batch: EpisodeBatch, kind: "discrete" | "continuous", n: number): ShardPlan[] {
  const rows = shardRows(batch.B, n);
  const C = labelledWeight(batch, kind, 0, batch.B);
  const N = validSteps(batch, 0, batch.B);
  return rows.map(([r0, r1]) => {
    const labelled = labelledWeight(batch, kind, r0, r1);
    const valid = validSteps(batch, r0, r1);
    const pv = N > 0 ? valid / N : 0;
    const alpha = C > 0 && labelled > 0 ? labelled / C : pv;
    return { rows: [r0, r1], alpha, lambdaScale: alpha > 0 ? pv / alpha : 0, labelled, valid };
  });
}

/** Loss weights of one shard. */
export function shardObjectiveOptions(o: ObjectiveOptions, plan: ShardPlan): ObjectiveOptions {
  return {
    lambdaIB: o.lambdaIB * plan.lambdaScale,
    lambdaU: (o.lambdaU ?? 0) * plan.lambdaScale,
    lambdaW: o.lambdaW * plan.lambdaScale,
    targetWriteRate: o.targetWriteRate,
  };
}

/** Combine shard results (in plan order) into the full-batch objective. */
export function combineShards(
  plans: readonly ShardPlan[],
  results: readonly ShardResult[],
  paramNames: readonly string[],
  o: ObjectiveOptions,
  kind: "discrete" | "continuous",
): CombinedObjective {
  if (plans.length !== results.length || plans.length === 0) throw new ConfigError("combineShards: one result per shard is needed");
  const N = plans.reduce((s, p) => s + p.valid, 0);
  let loss = 0;
  let taskLoss = 0;
  let meanP = 0;
  for (let s = 0; s < plans.length; s++) {
    loss += plans[s]!.alpha * results[s]!.loss;
    taskLoss += plans[s]!.alpha * results[s]!.taskLoss;
    meanP += N > 0 ? (plans[s]!.valid / N) * results[s]!.meanP : 0;
  }
  const grads: GradSet = {};
  for (const k of paramNames) {
    const n = results[0]!.grads[k]!.length;
    const acc = new Float64Array(n);
    for (let s = 0; s < plans.length; s++) {
      const a = plans[s]!.alpha;
      if (a === 0) continue;
      const g = results[s]!.grads[k]!;
      for (let i = 0; i < n; i++) acc[i] = acc[i]! + a * g[i]!;
    }
    grads[k] = Float32Array.from(acc);
  }
  const surprise = new Float32Array(results.reduce((s, r) => s + r.surprise.length, 0));
  const valid = new Uint8Array(surprise.length);
  let off = 0;
  for (const r of results) {
    surprise.set(r.surprise, off);
    valid.set(r.valid, off);
    off += r.surprise.length;
  }
  // the hinge max(0, meanP - rho) is linear only when every shard agrees with the batch on its side
  const active = meanP > o.targetWriteRate;
  const hingeAgrees = o.lambdaW === 0 || plans.every((p, s) => p.valid === 0 || results[s]!.meanP > o.targetWriteRate === active);
  const exact = plans.length === 1 || (kind === "discrete" && hingeAgrees);
  return { loss, taskLoss, meanP, grads, surprise, valid, exact, shards: plans.length };
}

/**
 * The same code path in this thread: `batchObjective` on each shard, then {@link combineShards}. What
 * the workers compute, without threads (tests; a reference for the threaded trainer).
 */
export function shardedObjective(
  model: SequenceModel,
  batch: EpisodeBatch,
  source: Pick<TrainSource, "kind" | "dAction">,
  o: ObjectiveOptions,
  fwd: ForwardMode,
  nShards: number,
): CombinedObjective {
  const plans = planShards(batch, source.kind, nShards);
  const results = plans.map((p) => {
    const [r0, r1] = p.rows;
    return batchObjective(model, sliceBatch(batch, r0, r1), source, shardObjectiveOptions(o, p), shardForward(fwd, r0, r1, batch.T));
  });
  return combineShards(plans, results, Object.keys(model.params), o, source.kind);
}

// ------------------------------------------------------------------------------------------------
// Worker threads
// ------------------------------------------------------------------------------------------------

/** Where one parameter lives in the flat shared buffers. */
export interface ParamSlot {
  name: string;
  offset: number;
  length: number;
}

/** What a worker needs to rebuild the model (sent as workerData). */
export interface DataParallelWorkerInit {
  spec: { arm: string; config: Record<string, unknown>; rnnHidden: number; window: number; writeRate: number; tau: number };
  backend: Backend | "auto";
  source: { kind: "discrete" | "continuous"; dAction: number };
  layout: ParamSlot[];
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
}

/** main -> worker: compute one shard (a job of the worker pool). */
export interface DataParallelStepMessage {
  tau: number;
  batch: EpisodeBatch;
  opts: ObjectiveOptions;
  fwd: { gateMode: "hard" | "soft"; scheduleSeeds?: number[]; gateThresholds?: Float32Array };
}

/** worker -> main: the shard's scalars (its gradients are in the worker's shared buffer). */
export interface DataParallelShardReply {
  loss: number;
  taskLoss: number;
  meanP: number;
  surprise: Float32Array;
  valid: Uint8Array;
}

/** Options of {@link DataParallelTrainer.start}. */
export interface DataParallelOptions {
  /** Worker threads (>= 1). */
  workers: number;
  /** Op backend of the workers (default "auto"). */
  backend?: Backend | "auto";
}

/** Options of {@link trainDataParallel} on top of the training options. */
export interface DataParallelTrainOptions extends DataParallelOptions {
  /** Validate and keep the best parameters like train() (default true); false = a pure throughput run. */
  validation?: boolean;
}

function transferables(b: EpisodeBatch): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const a of [b.z, b.label, b.target, b.lossMask, b.evalMask, b.stepType]) if (a && a.buffer instanceof ArrayBuffer) out.push(a.buffer);
  return out;
}

/**
 * A pool of gradient workers bound to one model (the project's worker pool, src/util/worker_pool.ts,
 * one `data_parallel_worker` per shard). `objective()` pushes the model's current parameters (and recon-gate
 * tau) to the workers, splits the batch, and returns the combined full-batch objective.
 */
export class DataParallelTrainer {
  private readonly paramView: Float32Array;
  private readonly gradViews: Float32Array[];
  private closed = false;

  private constructor(
    readonly model: SequenceModel,
    private readonly source: Pick<TrainSource, "kind" | "dAction">,
    private readonly pools: WorkerPool<DataParallelStepMessage, DataParallelShardReply>[],
    private readonly layout: ParamSlot[],
    params: SharedArrayBuffer,
    grads: SharedArrayBuffer[],
  ) {
    this.paramView = new Float32Array(params);
    this.gradViews = grads.map((g) => new Float32Array(g));
  }

  /** Number of worker threads. */
  get size(): number {
    return this.pools.length;
  }

  /** Start `opts.workers` workers for `model`, each with a copy of the parameters. */
  static async start(model: SequenceModel, source: Pick<TrainSource, "kind" | "dAction">, opts: DataParallelOptions): Promise<DataParallelTrainer> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new ConfigError(`workers must be a positive integer, got ${opts.workers}`);
    const layout: ParamSlot[] = [];
    let total = 0;
    for (const [name, p] of Object.entries(model.params)) {
      layout.push({ name, offset: total, length: p.data.length });
      total += p.data.length;
    }
    const params = new SharedArrayBuffer(total * 4);
    const s = model.spec;
    // one single-worker pool per shard: each worker has its own workerData (its gradient buffer)
    const pools: WorkerPool<DataParallelStepMessage, DataParallelShardReply>[] = [];
    const grads: SharedArrayBuffer[] = [];
    for (let w = 0; w < opts.workers; w++) {
      const g = new SharedArrayBuffer(total * 4);
      grads.push(g);
      const init: DataParallelWorkerInit = {
        spec: { arm: s.arm, config: { ...s.config.toJSON() }, rnnHidden: s.rnnHidden, window: s.window, writeRate: s.writeRate, tau: model.tau },
        backend: opts.backend ?? "auto",
        source: { kind: source.kind, dAction: source.dAction },
        layout,
        params,
        grads: g,
      };
      pools.push(
        new WorkerPool<DataParallelStepMessage, DataParallelShardReply>({ near: import.meta.url, name: "data_parallel_worker", workerData: init }, 1, {
          describeError: (_job, m) => `data-parallel worker: ${m}`,
        }),
      );
    }
    try {
      await Promise.all(pools.map((p) => p.ready()));
    } catch (err) {
      await Promise.all(pools.map((p) => p.close()));
      throw err;
    }
    return new DataParallelTrainer(model, source, pools, layout, params, grads);
  }

  /** Copy the model's parameters into the shared buffer the workers read. */
  private pushParams(): void {
    for (const { name, offset } of this.layout) this.paramView.set(this.model.params[name]!.data, offset);
  }

  /** The full-batch objective and gradient of `batch`, computed by the workers on shards. */
  async objective(batch: EpisodeBatch, o: ObjectiveOptions, fwd: ForwardMode): Promise<CombinedObjective> {
    if (this.closed) throw new ConfigError("the data-parallel trainer is closed");
    this.pushParams();
    const plans = planShards(batch, this.source.kind, this.pools.length);
    const replies = await Promise.all(
      plans.map((p, s) => {
        const [r0, r1] = p.rows;
        const shard = sliceBatch(batch, r0, r1);
        const msg: DataParallelStepMessage = {
          tau: this.model.tau,
          batch: shard,
          opts: shardObjectiveOptions(o, p),
          fwd: shardForward(fwd, r0, r1, batch.T),
        };
        return this.pools[s]!.submitTo(0, msg, transferables(shard));
      }),
    );
    const results: ShardResult[] = replies.map((r, s) => {
      const grads: GradSet = {};
      for (const { name, offset, length } of this.layout) grads[name] = this.gradViews[s]!.subarray(offset, offset + length);
      return { loss: r.loss, taskLoss: r.taskLoss, meanP: r.meanP, grads, surprise: r.surprise, valid: r.valid };
    });
    return combineShards(plans, results, this.layout.map((l) => l.name), o, this.source.kind);
  }

  /** Stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.pools.map((p) => p.close()));
  }
}

/** Outcome of {@link trainDataParallel}. */
export interface DataParallelTrainResult {
  stepsRun: number;
  bestStep: number;
  bestVal: number;
  history: { step: number; loss: number; taskLoss: number; meanP: number; exact: boolean; val?: number }[];
  /** Wall time of the training steps only (no validation), ms. */
  stepMs: number;
  timeMs: number;
  /** Training episodes per second of step time. */
  episodesPerSecond: number;
}

/**
 * `train()` (src/train/train.ts) with the gradient computed by `workers` threads: the same training
 * loop (src/train/loop.ts) and memory-trainer hooks ({@link memoryTraining}), only the objective is
 * the workers' combined one, so with one worker it reproduces `train()` step for step (same backend).
 * `validation: false` makes it a pure throughput run (no evaluation, the last parameters are kept).
 */
export async function trainDataParallel(
  deployed: SequenceModel,
  source: TrainSource,
  options: Partial<TrainOptions> & DataParallelTrainOptions,
): Promise<DataParallelTrainResult> {
  const { workers, backend, validation, ...rest } = options;
  const o = trainOptions(rest);
  if (o.streamWindows > 1) {
    throw new ConfigError("carried-state training (streamWindows > 1) is not supported by data-parallel training: the shards do not carry the state");
  }
  const t0 = performance.now();
  // the same write decay of training as train() (a view sharing the parameters)
  const model = trainingView(deployed, o);
  const pool = await DataParallelTrainer.start(model, source, { workers, backend });
  try {
    let episodes = 0;
    const history: DataParallelTrainResult["history"] = [];
    const record = (step: number, obj: CombinedObjective, val: number | undefined): void => {
      const rec: DataParallelTrainResult["history"][number] = { step, loss: obj.loss, taskLoss: obj.taskLoss, meanP: obj.meanP, exact: obj.exact };
      if (val !== undefined) rec.val = val;
      history.push(rec);
    };
    const { options: lo, hooks } = memoryTraining<CombinedObjective>(model, source, o, { validation: validation !== false, record });
    const request = hooks.request;
    hooks.request = (step) => {
      const q = request(step);
      episodes += q.batch.B;
      return q;
    };
    const r = await runLoopAsync(model.params, lo, hooks, (q) => pool.objective(q.batch, q.opts, q.fwd));
    endTrainingView(model, deployed);
    return {
      stepsRun: r.stepsRun,
      bestStep: r.bestStep,
      bestVal: r.bestVal,
      history,
      stepMs: r.stepMs,
      timeMs: performance.now() - t0,
      episodesPerSecond: episodes / (r.stepMs / 1000),
    };
  } finally {
    await pool.close();
  }
}
