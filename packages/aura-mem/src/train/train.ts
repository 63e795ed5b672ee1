/**
 * Training an arm by BPTT with Adam: task action loss + action information-bottleneck term + write
 * sparsity term (AURA's objective as we reconstruct it; the paper's exact objective is unpublished,
 * see docs/method.md for the formulas and what each default rests on).
 *
 *   L = L_task + lambda_IB * L_IB + lambda_w * L_w
 *   L_task = CE at lossMask steps (discrete) or Gaussian NLL (dA/2) log(MSE) (continuous), both in nats
 *   L_IB   = -(1/N) sum_t p_t * sg(D_t)       D_t = action divergence a write at t would cause
 *   L_w    = max(0, (1/N) sum_t p_t - rho)    write-sparsity hinge above the target write rate rho
 * (N = valid, non-pad steps; sg = stop-gradient; p = write probability; the hard 0/1 gate gets its
 * gradient through the straight-through estimator inside the delta-rule kernel.)
 */
import { ConfigError, AuraError } from "../errors.js";
import type { MemoryState, SequenceModel } from "../model/model.js";
import { StepType, type EpisodeBatch, type TrainSource } from "./batch.js";
import { Rng } from "../util/rng.js";
import { runLoop, cosineLr, type LoopHooks, type LoopOptions } from "./loop.js";
import { crossEntropy, gaussianNll } from "./loss.js";
import { evaluate, better, type EvalResult, type MetricSpec } from "./evaluate.js";
import { datasetSource } from "./dataset_source.js";
import type { Dataset } from "../io/dataset.js";
import { StreamWindows, resetRows } from "./stream.js";

/** Raised when the loss becomes NaN/Inf (the parameters are restored to the best checkpoint first). */
export class TrainingDivergedError extends AuraError {
  override name = "TrainingDivergedError";
}

export type { TrainSource } from "./batch.js";

/** Training options; defaults in {@link DEFAULT_TRAIN}. */
export interface TrainOptions {
  /** Adam steps. */
  steps: number;
  /** Episodes per batch. */
  batchSize: number;
  /** Adam learning rate. */
  lr: number;
  /** Global-norm gradient clipping (0 = off). */
  clip: number;
  /** Weight of the action-IB term (0 = off). */
  lambdaIB: number;
  /**
   * Weight of the action-utility term (0 = off): L_U = -(1/N) sum_t p_t sg(U_t), U_t = how much the
   * write at t lowers the action loss at t (SequenceModel.actionUtility). Pushes the gate open where a
   * write moves the action toward the target and shut where it moves it away (lures, distractors).
   */
  lambdaU: number;
  /** Weight of the write-sparsity term (0 = off). */
  lambdaW: number;
  /** Target write rate rho of the sparsity hinge (writes per step; 0 = plain L1 on p). */
  targetWriteRate: number;
  /** Steps of soft gate (g = p) before the hard straight-through gate. */
  softWarmupSteps: number;
  /**
   * Learned gate: after the soft warm-up, sample the hard gate, g ~ Bernoulli(p) (g = [p > u], u ~ U(0, 1)),
   * instead of thresholding p at the config's gateThreshold; straight-through backward either way. The
   * idea: a decision near the threshold is sampled both ways and so costs the task loss, pushing p to 0
   * or 1. Measured on ess-hard it did not: distractors whose write costs nothing in a short episode ended
   * near p = 0.4 (docs/method.md, "Horizon"). Off by default.
   */
  stochasticGate: boolean;
  /**
   * Write-sparsity schedule as fractions of the run: lambda_w is 0 before `sparsityWarmup[0]`, ramps
   * linearly to its value at `sparsityWarmup[1]`, then stays ([0, 0] = full from step 1).
   */
  sparsityWarmup: [number, number];
  /** Seed of batch sampling and schedule phases. */
  seed: number;
  /** Validate every this many steps (0 = only at the end). */
  evalEvery: number;
  /** Stop after this many validations without improvement (0 = never stop early). */
  patience: number;
  /** Episodes per validation batch. */
  evalBatchSize: number;
  /**
   * Carried-state training (truncated BPTT over long streams): windows of the task's horizon T per
   * training stream. 1 = every batch row is a fresh episode from a zero state (the short-episode
   * recipe). K > 1 = every row reads a non-resetting stream of K*T steps window by window, the memory
   * state carried from one window to the next with the gradient cut at the boundary (src/train/stream.ts).
   * Needs a source with `sampleStream` (the ess tasks) and a fast-weight or RNN arm; other arms and
   * sources train on fresh episodes whatever this is.
   */
  streamWindows: number;
  /**
   * Write decay alpha the model is trained with, null = the model's own (MemoryConfig.writeDecay), the
   * default: train as it runs. With the decay in training every write also shrinks what the memory holds,
   * so a false write costs something within the training horizon and the gate learns to make fewer
   * (docs/method.md, "Horizon"). A number trains a view at that alpha sharing the parameters (1 = the
   * plain delta rule in training, the recipe before 2 December).
   */
  trainWriteDecay: number | null;
  /**
   * Write threshold on p the learned gate is trained with (its hard straight-through gate g = 1[p > t]),
   * null = the model's own (MemoryConfig.gateThreshold). With a number t, training runs on a view at t
   * sharing the parameters, and the model keeps its config's threshold for evaluation and deployment
   * (checkpoints, `layer.step`, the step engine and ONNX all read the config); validation during training
   * runs at this threshold. The stream recipe trains at 0.5 (with a band on the ess tasks,
   * `trainGateThresholdRange`) and deploys at STREAM_GATE_THRESHOLD (src/config.ts): a higher deployment
   * threshold drops the near-threshold false writes that accumulate over a long stream (docs/method.md,
   * "Horizon"); training at the higher threshold itself left ess-hard's gate dense (0.95: 31 writes per
   * 128-step episode).
   * In [0, 1] or null. Default null (callers of the stream recipe pass 0.5: the bench, `aura train`, the soak).
   */
  trainGateThreshold: number | null;
  /**
   * Threshold band of the hard gate in training, [lo, hi] with 0 <= lo <= hi <= 1, or null (off, the
   * default). With a band every step of a hard-gate training forward is gated at its own threshold drawn
   * uniformly from [lo, hi] (a stream of draws of its own: the batches do not change) instead of the one
   * threshold: a step whose p lies inside the band is written on some draws and not on others, so the
   * straight-through gradient keeps pushing events above `hi` and everything else below `lo`. Trained at one
   * threshold the events' p settles just above it (the write-sparsity term pulls every p down and the
   * straight-through gradient only asks for the right side), which leaves the long stream's rare false
   * writes and missed events in one narrow range of p. The stream recipe trains the ess tasks' gates with
   * STREAM_TRAIN_GATE_BAND (src/config.ts), [0.3, 0.9], and runs them at 0.7 (docs/method.md, "Horizon": on
   * ess-hard the events' 1% quantile of p 0.57-0.71 -> 0.82-0.87 on seeds 0-14). Soft warm-up steps are unaffected; only the
   * learned-gate arm uses it. Not with `stochasticGate` (both draw the thresholds): a ConfigError.
   */
  trainGateThresholdRange: readonly [number, number] | null;
  /** recon-gate: write rate the threshold tau is calibrated to (quantile of ||e||), null = keep tau. */
  reconWriteRate: number | null;
  /** Called after every step. */
  onStep?: (info: StepInfo) => void;
}

/** Defaults (see docs/method.md for the origin of each). */
export const DEFAULT_TRAIN: Omit<TrainOptions, "onStep"> = {
  steps: 1200,
  batchSize: 32,
  lr: 3e-3,
  clip: 1.0,
  lambdaIB: 0.1,
  lambdaU: 0,
  lambdaW: 0.1,
  targetWriteRate: 0,
  softWarmupSteps: 50,
  stochasticGate: false,
  sparsityWarmup: [0.1, 0.3],
  seed: 0,
  evalEvery: 100,
  patience: 0,
  evalBatchSize: 64,
  streamWindows: 1,
  trainWriteDecay: null,
  trainGateThreshold: null,
  trainGateThresholdRange: null,
  reconWriteRate: null,
};

/** Per-step progress report. */
export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  taskLoss: number;
  /** Mean write probability on this batch (valid steps). */
  meanP: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  /** Last validation metric, if any. */
  val?: number;
}

/** Outcome of a training run; the model holds the best-validation parameters afterwards. */
export interface TrainResult {
  stepsRun: number;
  bestStep: number;
  bestVal: number;
  /** Validation evaluation of the restored best parameters. */
  val: EvalResult;
  history: { step: number; loss: number; taskLoss: number; meanP: number; val?: number }[];
  timeMs: number;
  stoppedEarly: boolean;
}

/** n draws of U(0, 1) as float32 (the stochastic gate's per-step thresholds). */
function uniforms(rng: Rng, n: number): Float32Array {
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) u[i] = rng.uniform();
  return u;
}

/** lambda_w multiplier at training progress `x` in [0, 1] for the schedule [start, end]. */
export function sparsityRamp(x: number, [start, end]: [number, number]): number {
  if (x >= end) return 1;
  if (x < start) return 0;
  return end > start ? (x - start) / (end - start) : 1;
}

/** Merge user options over the defaults, rejecting unknown keys and bad values. */
export function trainOptions(o: Partial<TrainOptions> = {}): TrainOptions {
  const out: TrainOptions = { ...DEFAULT_TRAIN, ...o };
  for (const k of Object.keys(o)) {
    if (!(k in DEFAULT_TRAIN) && k !== "onStep") throw new ConfigError(`unknown training option "${k}"`);
  }
  const pos = (k: keyof TrainOptions, allowZero = false): void => {
    const v = out[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      throw new ConfigError(`training option ${k} must be a ${allowZero ? "non-negative" : "positive"} number, got ${String(v)}`);
    }
  };
  pos("steps");
  pos("batchSize");
  pos("lr");
  pos("clip", true);
  pos("lambdaIB", true);
  pos("lambdaU", true);
  pos("lambdaW", true);
  pos("softWarmupSteps", true);
  const sw = out.sparsityWarmup;
  if (!Array.isArray(sw) || sw.length !== 2 || !(sw[0] >= 0 && sw[0] <= sw[1] && sw[1] <= 1)) {
    throw new ConfigError(`sparsityWarmup must be [start, end] with 0 <= start <= end <= 1`);
  }
  pos("evalEvery", true);
  pos("patience", true);
  pos("evalBatchSize");
  if (out.trainWriteDecay !== null && !(typeof out.trainWriteDecay === "number" && out.trainWriteDecay > 0 && out.trainWriteDecay <= 1)) {
    throw new ConfigError(`training option trainWriteDecay must be in (0, 1] or null, got ${String(out.trainWriteDecay)}`);
  }
  if (out.trainGateThreshold !== null && !(typeof out.trainGateThreshold === "number" && out.trainGateThreshold >= 0 && out.trainGateThreshold <= 1)) {
    throw new ConfigError(`training option trainGateThreshold must be in [0, 1] or null, got ${String(out.trainGateThreshold)}`);
  }
  if (typeof out.stochasticGate !== "boolean") throw new ConfigError(`training option stochasticGate must be a boolean, got ${String(out.stochasticGate)}`);
  const band = out.trainGateThresholdRange;
  if (band !== null) {
    if (!Array.isArray(band) || band.length !== 2 || !band.every((x) => typeof x === "number" && Number.isFinite(x)) || !(band[0] >= 0 && band[0] <= band[1] && band[1] <= 1)) {
      throw new ConfigError(`training option trainGateThresholdRange must be [lo, hi] with 0 <= lo <= hi <= 1, or null, got ${JSON.stringify(band)}`);
    }
    if (out.stochasticGate) throw new ConfigError("training options stochasticGate and trainGateThresholdRange both draw the gate's thresholds: choose one");
  }
  if (!Number.isInteger(out.streamWindows) || out.streamWindows < 1) {
    throw new ConfigError(`training option streamWindows must be a positive integer, got ${String(out.streamWindows)}`);
  }
  if (!(out.targetWriteRate >= 0 && out.targetWriteRate <= 1)) throw new ConfigError(`targetWriteRate must be in [0, 1]`);
  if (out.reconWriteRate !== null && !(out.reconWriteRate > 0 && out.reconWriteRate <= 1)) {
    throw new ConfigError(`reconWriteRate must be in (0, 1] or null`);
  }
  return out;
}

/** Loss, output gradient and write-probability gradient of one batch (exported for tests). */
export function batchObjective(
  model: SequenceModel,
  batch: EpisodeBatch,
  source: Pick<TrainSource, "kind" | "dAction">,
  opts: Pick<TrainOptions, "lambdaIB" | "lambdaW" | "targetWriteRate"> & Partial<Pick<TrainOptions, "lambdaU">>,
  fwd: { gateMode: "hard" | "soft"; scheduleSeeds?: ArrayLike<number>; initialState?: MemoryState; gateThresholds?: Float32Array },
): {
  loss: number;
  taskLoss: number;
  meanP: number;
  grads: ReturnType<SequenceModel["backward"]>;
  surprise: Float32Array;
  valid: Uint8Array;
  finalState: MemoryState;
} {
  const { B, T } = batch;
  const fr = model.forward(batch.z, B, T, {
    training: true,
    validate: false,
    gateMode: fwd.gateMode,
    scheduleSeeds: fwd.scheduleSeeds,
    initialState: fwd.initialState,
    gateThresholds: fwd.gateThresholds,
  });
  const task: { loss: number; grad: Float32Array; mse?: number } =
    source.kind === "discrete"
      ? crossEntropy(fr.out, batch.label!, batch.lossMask, source.dAction)
      : gaussianNll(fr.out, batch.target!, batch.lossMask, source.dAction);
  const N = B * T;
  const valid = new Uint8Array(N);
  let nValid = 0;
  let sumP = 0;
  for (let i = 0; i < N; i++) {
    if (batch.stepType[i] !== StepType.pad) {
      valid[i] = 1;
      nValid++;
      sumP += fr.p[i]!;
    }
  }
  const meanP = nValid ? sumP / nValid : 0;
  let loss = task.loss;
  let dp: Float32Array | undefined;
  if (model.spec.arm === "aura" && nValid > 0) {
    dp = new Float32Array(N);
    if (opts.lambdaW > 0 && meanP > opts.targetWriteRate) {
      loss += opts.lambdaW * (meanP - opts.targetWriteRate);
      const d = opts.lambdaW / nValid;
      for (let i = 0; i < N; i++) if (valid[i]) dp[i] = d;
    }
    if (opts.lambdaIB > 0) {
      const D = model.actionDivergence(fr, task.mse);
      let ib = 0;
      for (let i = 0; i < N; i++) {
        if (!valid[i]) continue;
        ib -= fr.p[i]! * D[i]!;
        dp[i] = dp[i]! - (opts.lambdaIB * D[i]!) / nValid;
      }
      loss += (opts.lambdaIB * ib) / nValid;
    }
    const lambdaU = opts.lambdaU ?? 0;
    if (lambdaU > 0) {
      const U = model.actionUtility(fr, batch.label, batch.target, batch.lossMask, task.mse);
      let lu = 0;
      for (let i = 0; i < N; i++) {
        if (!valid[i]) continue;
        lu -= fr.p[i]! * U[i]!;
        dp[i] = dp[i]! - (lambdaU * U[i]!) / nValid;
      }
      loss += (lambdaU * lu) / nValid;
    }
  }
  const grads = model.backward(fr, task.grad, dp);
  return { loss, taskLoss: task.loss, meanP, grads, surprise: fr.surprise, valid, finalState: fr.finalState };
}

/** Something with a model: an {@link SequenceModel} itself or an `AuraMemLayer` (its `.model`). */
export type Trainable = SequenceModel | { readonly model: SequenceModel };

/** Options of {@link train} for a {@link Dataset}: its validation split by episode. */
export interface DatasetSplitOptions {
  /** Fraction of episodes held out for validation / early stopping. Default 0.2. */
  valFraction?: number;
}

function isDataset(x: unknown): x is Dataset {
  return typeof x === "object" && x !== null && "E" in x && "z" in x && "mask" in x;
}

/**
 * Train a model (or an `AuraMemLayer`) in place on a task, a {@link TrainSource}, or your own
 * {@link Dataset} of backbone features (split by episode into train / validation with the seed);
 * keeps and restores the parameters with the best validation metric. Deterministic for a given seed
 * and backend.
 * @throws ConfigError on bad options or a dataset whose dModel / dAction / kind does not match the
 *         model; TrainingDivergedError if the loss turns NaN/Inf (parameters restored first).
 */
export function train(
  target: Trainable,
  data: TrainSource | Dataset,
  options: Partial<TrainOptions> & DatasetSplitOptions = {},
): TrainResult {
  const model = target instanceof Object && "model" in target ? target.model : (target as SequenceModel);
  const { valFraction, ...rest } = options;
  let source: TrainSource;
  if (isDataset(data)) {
    const c = model.spec.config;
    if (data.dModel !== c.dModel) throw new ConfigError(`dataset dModel ${data.dModel} != model dModel ${c.dModel}`);
    if (data.dAction !== c.dAction) throw new ConfigError(`dataset dAction ${data.dAction} != model dAction ${c.dAction}`);
    if (data.kind !== c.actionKind) throw new ConfigError(`dataset is ${data.kind}, model head is ${c.actionKind}`);
    source = datasetSource(data, { valFraction: valFraction ?? 0.2, seed: rest.seed ?? 0 });
  } else source = data;
  return trainSource(model, source, rest);
}

/** What one training step's objective is computed on: a batch, the loss weights and the forward mode. */
export interface ObjectiveRequest {
  batch: EpisodeBatch;
  opts: Pick<TrainOptions, "lambdaIB" | "lambdaW" | "targetWriteRate" | "lambdaU">;
  fwd: { gateMode: "hard" | "soft"; scheduleSeeds: number[]; initialState?: MemoryState; gateThresholds?: Float32Array };
}

/** What the memory trainer needs of a step's objective ({@link batchObjective} or its sharded form). */
export type MemoryObjective = Pick<ReturnType<typeof batchObjective>, "loss" | "taskLoss" | "meanP" | "grads" | "surprise" | "valid">;

/**
 * The memory trainer's settings and hooks of the training loop (src/train/loop.ts), shared by
 * {@link train} and data-parallel training: batch sampling with per-row schedule seeds, soft gate
 * warm-up, the write-sparsity ramp, cosine lr decay to 10%, recon-gate tau tracking, validation on
 * the source's val split and best-checkpoint restore (with tau). `record` is called after every step.
 */
export function memoryTraining<O extends MemoryObjective>(
  model: SequenceModel,
  source: TrainSource,
  o: TrainOptions,
  opts: { validation: boolean; record?(step: number, obj: O, val: number | undefined): void },
): { options: LoopOptions; hooks: LoopHooks<ObjectiveRequest, O>; valSet: EpisodeBatch[]; spec: MetricSpec } {
  const rng = new Rng(o.seed * 7919 + 17);
  // the gate's threshold band draws from its own stream, so the batches do not depend on it
  const bandRng = new Rng(o.seed * 7919 + 29);
  const valSet = opts.validation ? source.evalSet("val", o.evalBatchSize) : [];
  const spec: MetricSpec = { metric: source.metric, dAction: source.dAction, metricScale: source.metricScale };
  const recon = model.spec.arm === "recon-gate";
  // carried-state training: B streams read window by window, state carried (gradient cut) between windows
  const carry =
    o.streamWindows > 1 && source.sampleStream !== undefined && source.horizon !== undefined && (model.core === "delta" || model.core === "rnn");
  const streams = carry
    ? new StreamWindows({ kind: source.kind, dAction: source.dAction, sampleStream: source.sampleStream!.bind(source) }, o.batchSize, source.horizon!, o.streamWindows)
    : null;
  let carried: MemoryState | undefined;
  const hooks: LoopHooks<ObjectiveRequest, O> = {
    request: (step) => {
      let batch: EpisodeBatch;
      let initialState: MemoryState | undefined;
      if (streams) {
        // curriculum of ages: streams grow from one window to streamWindows over the first half of the run
        const w = streams.next(rng, 1 + (o.streamWindows - 1) * Math.min(1, (2 * step) / o.steps));
        batch = w.batch;
        initialState = resetRows(carried ?? model.initState(batch.B), w.reset);
      } else batch = source.sample(rng, o.batchSize);
      const seeds = Array.from({ length: batch.B }, () => rng.nextU32());
      const gateMode = step <= o.softWarmupSteps ? "soft" : "hard";
      // the write-sparsity weight ramps up so the gate is not shut before the task gradient can reach it
      const ramp = sparsityRamp(step / o.steps, o.sparsityWarmup);
      const fwd: ObjectiveRequest["fwd"] = { gateMode, scheduleSeeds: seeds };
      if (initialState) fwd.initialState = initialState;
      if (o.stochasticGate && gateMode === "hard" && model.spec.arm === "aura") fwd.gateThresholds = uniforms(rng, batch.B * batch.T);
      else if (o.trainGateThresholdRange && gateMode === "hard" && model.spec.arm === "aura") {
        const [lo, hi] = o.trainGateThresholdRange;
        const u = uniforms(bandRng, batch.B * batch.T);
        for (let i = 0; i < u.length; i++) u[i] = lo + (hi - lo) * u[i]!;
        fwd.gateThresholds = u;
      }
      return { batch, opts: { ...o, lambdaW: o.lambdaW * ramp }, fwd };
    },
    diverged: (step, loss, bestStep) =>
      new TrainingDivergedError(`loss became ${loss} at step ${step} (arm ${model.spec.arm}); parameters restored to step ${bestStep}`),
    afterObjective: (step, obj) => {
      if (streams) {
        const fs = (obj as { finalState?: MemoryState }).finalState;
        if (!fs) throw new ConfigError("carried-state training needs the objective's final state (not available from this trainer)");
        carried = fs;
      }
      if (!recon || o.reconWriteRate === null) return;
      // tau tracks the (1 - rate) quantile of the surprise norm over valid steps (EMA)
      const s: number[] = [];
      for (let i = 0; i < obj.surprise.length; i++) if (obj.valid[i]) s.push(obj.surprise[i]!);
      s.sort((a, b) => a - b);
      const qv = s[Math.min(s.length - 1, Math.floor((1 - o.reconWriteRate) * s.length))] ?? model.tau;
      model.setTau(step === 1 ? qv : 0.9 * model.tau + 0.1 * qv);
    },
    better: (a, b) => better(source.metric, a, b),
    onStep: (step, obj, gradNorm, val) => {
      opts.record?.(step, obj, val);
      o.onStep?.({ step, steps: o.steps, loss: obj.loss, taskLoss: obj.taskLoss, meanP: obj.meanP, gradNorm, val });
    },
  };
  if (opts.validation) hooks.validate = () => evaluate(model, valSet, spec).metric;
  if (recon) {
    hooks.snapshot = () => model.tau;
    hooks.restore = (tau) => model.setTau(tau as number);
  }
  // cosine decay to 10% of lr over the run
  const options: LoopOptions = { steps: o.steps, lr: o.lr, clip: o.clip, lrScale: (step) => cosineLr(step - 1, o.steps, 0.1), evalEvery: o.evalEvery, patience: o.patience };
  return { options, hooks, valSet, spec };
}

/**
 * The model a trainer runs its steps on: `deployed` itself, or a view with `o.trainWriteDecay` as its
 * write decay and `o.trainGateThreshold` as its gate threshold, sharing `deployed`'s parameters
 * (train() and data-parallel training alike). Call {@link endTrainingView} afterwards.
 */
export function trainingView(deployed: SequenceModel, o: Pick<TrainOptions, "trainWriteDecay"> & Partial<Pick<TrainOptions, "trainGateThreshold">>): SequenceModel {
  const c = deployed.spec.config;
  let m = o.trainWriteDecay === null || o.trainWriteDecay === c.writeDecay ? deployed : deployed.withWriteDecay(o.trainWriteDecay);
  const t = o.trainGateThreshold ?? null;
  if (t !== null && t !== c.gateThreshold) m = m.withGateThreshold(t);
  return m;
}

/** Hand what training calibrated on a view (recon-gate's threshold) back to the deployed model. */
export function endTrainingView(view: SequenceModel, deployed: SequenceModel): void {
  if (view !== deployed && deployed.spec.arm === "recon-gate") deployed.setTau(view.tau);
}

function trainSource(deployed: SequenceModel, source: TrainSource, options: Partial<TrainOptions>): TrainResult {
  const o = trainOptions(options);
  const t0 = performance.now();
  const model = trainingView(deployed, o);
  const history: TrainResult["history"] = [];
  const record = (step: number, obj: MemoryObjective, val: number | undefined): void => {
    const rec: TrainResult["history"][number] = { step, loss: obj.loss, taskLoss: obj.taskLoss, meanP: obj.meanP };
    if (val !== undefined) rec.val = val;
    history.push(rec);
  };
  const { options: lo, hooks, valSet, spec } = memoryTraining(model, source, o, { validation: true, record });
  const r = runLoop(model.params, lo, hooks, (q) => batchObjective(model, q.batch, source, q.opts, q.fwd));
  endTrainingView(model, deployed);
  // the validation of the model as it will run (with its own write decay)
  const val = evaluate(deployed, valSet, spec);
  return { stepsRun: r.stepsRun, bestStep: r.bestStep, bestVal: r.bestVal, val, history, timeMs: performance.now() - t0, stoppedEarly: r.stoppedEarly };
}
