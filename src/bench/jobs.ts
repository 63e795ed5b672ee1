/**
 * One benchmark job = train one arm on one task with one seed, then evaluate it on the task's fixed
 * test episodes. Runs in a worker thread or in-process; everything it needs is in the job and the
 * result is plain JSON.
 */
import { MemoryConfig } from "aura-mem/config";
import { ConfigError } from "aura-mem/errors";
import { createOps, type Backend, type Ops } from "aura-mem/ops/index";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel, type ArmName } from "aura-mem/model/model";
import { scheduleBatch } from "aura-mem/model/schedule";
import { createTask } from "../tasks/index.js";
import type { Task, EpisodeBatch } from "../tasks/types.js";
import { train, type TrainOptions } from "aura-mem/train/train";
import { evaluate, type EvalResult, type MetricSpec } from "aura-mem/train/evaluate";
import type { StreamKind } from "./results.js";

/** Variants of the AURA recipe used in the ablation: without the IB term, the sparsity term, the write decay. */
export type Variant = "default" | "no-ib" | "no-sparsity" | "no-decay";


/** The gate threshold every arm is trained with (the MemoryConfig default). */
export const DEFAULT_GATE_THRESHOLD = 0.5;

/** A training + evaluation job. */
export interface JobSpec {
  id: number;
  task: string;
  /** Horizon override (ess N / mbar bindings) of a sweep, null = task default. Part of the task key. */
  horizon: number | null;
  /** Training window for pusht (episodes are evaluated whole), null = whole episodes. Not part of the key. */
  trainWindow: number | null;
  arm: ArmName;
  variant: Variant;
  seed: number;
  /** Write rate (writes per step) the budget-matched arms are held to; from AURA's run. */
  writeRate: number | null;
  dModel: number;
  pushtPath: string;
  backend: Backend | "auto";
  train: Omit<TrainOptions, "onStep" | "seed" | "reconWriteRate" | "trainGateThreshold">;
  /** Write decay alpha of the gated fast-weight arms (MemoryConfig.writeDecay; always-write runs without, SequenceModel.writeDecay). */
  writeDecay: number;
  /**
   * Deployment threshold on p of AURA's learned gate (MemoryConfig.gateThreshold). Every arm is trained
   * at {@link DEFAULT_GATE_THRESHOLD} (TrainOptions.trainGateThreshold) whatever this is.
   */
  gateThreshold: number;
  /** Whether AURA's gate reads the observation norm ||z|| (MemoryConfig.gateNorm). */
  gateNorm: boolean;
  /**
   * Horizon-generalisation panel (ess tasks): after training at the task's horizon T, evaluate the same
   * model on longer streams of the same task at these N (> T), both stream kinds; null = none.
   */
  panel: HorizonPanelSpec | null;
  /**
   * Variants evaluated from this job's trained model instead of training their own: an ablation that
   * changes only how the trained model runs (no-decay: the recipe trains at alpha = 1 whatever the
   * deployed write decay, TrainOptions.trainWriteDecay), so a separate job would train the same model
   * again. Each comes back as one more {@link JobResult} in {@link JobResult.derived}; [] = none.
   */
  derived: DerivedEval[];
}

/** An eval-only variant of a job (see {@link JobSpec.derived}). */
export interface DerivedEval {
  variant: Variant;
  panel: HorizonPanelSpec | null;
}

/** Which longer horizons a job is evaluated at, and how many steps of test stream per (N, kind). */
export interface HorizonPanelSpec {
  /** Horizons N > T (steps). */
  horizons: number[];
  /** Test steps per (N, stream kind): episodes = clamp(floor(stepsPerPoint / N), minEpisodes, 512). */
  stepsPerPoint: number;
  /** Fewest test episodes per (N, stream kind) (absent = 1): a fixed-event stream at 512T is one cliff per episode. */
  minEpisodes?: number;
}

/** Stream kinds of the horizon panel: events fixed per episode, or at the task's density. */
export const STREAM_KINDS: readonly StreamKind[] = ["fixed", "density"];
export type { StreamKind };

/** One point of the horizon panel: the test metrics of one (N, stream kind). */
export type HorizonPoint = Pick<EvalResult, "metric" | "episodes" | "writesPerEpisode" | "writeRate" | "pWriteEvent" | "pWriteDistractor">;

/** Episodes of the horizon panel at horizon N: stepsPerPoint / N, at least `minEpisodes` (default 1), at most 512. */
export function panelEpisodes(N: number, stepsPerPoint: number, minEpisodes = 1): number {
  return Math.max(minEpisodes, 1, Math.min(512, Math.floor(stepsPerPoint / N)));
}

/** Plain-JSON outcome of a job. */
export interface JobResult {
  id: number;
  task: string;
  taskKey: string;
  arm: ArmName;
  variant: Variant;
  seed: number;
  metricName: "accuracy" | "mse";
  chance: number | null;
  horizon: number;
  test: Omit<EvalResult, "pEvent" | "pDistractor">;
  pEvent: number[];
  pDistractor: number[];
  /** Budget-matched swap evaluations of a trained AURA gate (aura default variant only). */
  swap: { random: Omit<EvalResult, "pEvent" | "pDistractor">; periodic: Omit<EvalResult, "pEvent" | "pDistractor"> } | null;
  params: number;
  stateBytes: number;
  stateBytesAt100k: number;
  trainSeconds: number;
  stepsRun: number;
  bestStep: number;
  writeRate: number | null;
  tau: number | null;
  /** Write decay alpha the arm's memory ran with (MemoryConfig.writeDecay). */
  writeDecay: number;
  /** Threshold on p the learned gate ran with at evaluation (MemoryConfig.gateThreshold; trained at 0.5); null for other arms. */
  gateThreshold: number | null;
  /** Whether the learned gate read the observation norm (MemoryConfig.gateNorm); null for other arms. */
  gateNorm?: boolean | null;
  /** Horizon panel: "<N>" -> stream kind -> test metrics (N = T is the test set itself); null if not run. */
  horizons: Record<string, Record<StreamKind, HorizonPoint>> | null;
  /** Results of the job's eval-only variants ({@link JobSpec.derived}), same training; absent = none. */
  derived?: JobResult[];
}

/** A list of job results with each one's eval-only variants ({@link JobResult.derived}) flattened in after it. */
export function withDerived(results: readonly JobResult[]): JobResult[] {
  const out: JobResult[] = [];
  for (const r of results) {
    const { derived, ...own } = r;
    out.push(own);
    for (const d of derived ?? []) out.push({ ...d, id: r.id });
  }
  return out;
}

/** Key of a task at a horizon, as used in results.json. */
export function taskKey(task: string, horizon: number | null): string {
  return horizon === null ? task : `${task}@N=${horizon}`;
}

/** Caches tasks within one process (pusht parsing is the slow part). */
export class TaskCache {
  private readonly tasks = new Map<string, Promise<Task>>();
  get(name: string, opts: { seed: number; dModel: number; horizon: number | null; pushtPath: string }): Promise<Task> {
    const key = `${name}|${opts.seed}|${opts.dModel}|${opts.horizon}|${opts.pushtPath}`;
    let t = this.tasks.get(key);
    if (!t) {
      t = createTask(name, {
        seed: opts.seed,
        dModel: opts.dModel,
        pushtPath: opts.pushtPath,
        ...(opts.horizon !== null ? { horizon: opts.horizon } : {}),
      });
      this.tasks.set(key, t);
    }
    return t;
  }
}

function strip(r: EvalResult): Omit<EvalResult, "pEvent" | "pDistractor"> {
  const { pEvent: _e, pDistractor: _d, ...rest } = r;
  return rest;
}

/**
 * Run a job. `onProgress(step, steps, loss)` is called during training.
 */
export async function runJob(
  job: JobSpec,
  cache: TaskCache,
  opsIn?: Ops,
  onProgress?: (step: number, steps: number, loss: number) => void,
): Promise<JobResult> {
  // Task data are seeded per benchmark seed, so seeds differ in data and initialisation.
  const task = await cache.get(job.task, {
    seed: job.seed,
    dModel: job.dModel,
    horizon: job.horizon ?? job.trainWindow,
    pushtPath: job.pushtPath,
  });
  const ops = opsIn ?? createOps(job.backend);
  const config = new MemoryConfig({
    dModel: task.dModel,
    dAction: task.dAction,
    actionKind: task.kind,
    seed: job.seed,
    writeDecay: job.variant === "no-decay" ? 1 : job.writeDecay,
    gateThreshold: job.gateThreshold,
    gateNorm: job.gateNorm,
  });
  const rate = job.writeRate ?? 0.1;
  const spec = armSpec(job.arm, config, { writeRate: rate });
  const model = new SequenceModel(spec, ops);
  const trainOpts: Partial<TrainOptions> = {
    ...job.train,
    seed: job.seed,
    reconWriteRate: job.arm === "recon-gate" ? Math.max(rate, 1e-3) : null,
    trainGateThreshold: DEFAULT_GATE_THRESHOLD,
    onStep: onProgress ? (i) => onProgress(i.step, i.steps, i.loss) : undefined,
  };
  if (job.variant === "no-ib") trainOpts.lambdaIB = 0;
  if (job.variant === "no-sparsity") trainOpts.lambdaW = 0;
  // the ablation is the method without the write decay: neither in training nor when it runs
  if (job.variant === "no-decay") trainOpts.trainWriteDecay = 1;
  const tr = train(model, task, trainOpts);
  const testSet = task.evalSet("test", job.train.evalBatchSize);
  const result = await evaluateJob(job, model, task, testSet, tr, job.variant, job.panel);
  if (job.derived.length === 0) return result;
  const derived: JobResult[] = [];
  for (const d of job.derived) {
    if (d.variant !== "no-decay") throw new ConfigError(`eval-only variant "${d.variant}" is not supported (only no-decay)`);
    derived.push(await evaluateJob(job, model.withWriteDecay(1), task, testSet, tr, d.variant, d.panel));
  }
  return { ...result, derived };
}

/** Test metrics, budget-matched swaps (AURA's default variant) and the horizon panel of a trained model. */
async function evaluateJob(
  job: JobSpec,
  model: SequenceModel,
  task: Task,
  testSet: EpisodeBatch[],
  tr: { timeMs: number; stepsRun: number; bestStep: number },
  variant: Variant,
  panel: HorizonPanelSpec | null,
): Promise<JobResult> {
  const mspec: MetricSpec = { metric: task.metric, dAction: task.dAction, metricScale: task.metricScale };
  const test = evaluate(model, testSet, mspec);
  let swap: JobResult["swap"] = null;
  if (job.arm === "aura" && variant === "default") {
    const measured = test.writeRate;
    const sched = (kind: "random" | "periodic") => (b: EpisodeBatch, i: number) =>
      scheduleBatch(
        kind,
        measured,
        Array.from({ length: b.B }, (_, r) => (job.seed * 1000003 + i * 4099 + r) >>> 0),
        b.T,
      );
    swap = {
      random: strip(evaluate(model, testSet, mspec, sched("random"))),
      periodic: strip(evaluate(model, testSet, mspec, sched("periodic"))),
    };
  }
  // the horizon the memory must cover at evaluation (pusht trains on windows, evaluates whole episodes)
  const horizon = test.maxStepsPerEpisode;
  let horizons: JobResult["horizons"] = null;
  if (panel && task.name.startsWith("ess")) {
    const point = (r: EvalResult): HorizonPoint => ({
      metric: r.metric,
      episodes: r.episodes,
      writesPerEpisode: r.writesPerEpisode,
      writeRate: r.writeRate,
      pWriteEvent: r.pWriteEvent,
      pWriteDistractor: r.pWriteDistractor,
    });
    // at the training horizon both stream kinds are the test set itself
    horizons = { [String(task.horizon)]: { fixed: point(test), density: point(test) } };
    for (const N of panel.horizons) {
      if (N <= task.horizon) continue;
      const pts = {} as Record<StreamKind, HorizonPoint>;
      for (const stream of STREAM_KINDS) {
        const long = await createTask(job.task, {
          seed: job.seed,
          dModel: job.dModel,
          horizon: N,
          stream,
          testEpisodes: panelEpisodes(N, panel.stepsPerPoint, panel.minEpisodes),
          valEpisodes: 1,
        });
        // lazily, about 2^16 steps per batch: a long episode is generated when it is evaluated
        pts[stream] = point(evaluate(model, long.evalBatches("test", Math.max(1, Math.floor(65536 / N))), mspec));
      }
      horizons[String(N)] = pts;
    }
  }
  return {
    id: job.id,
    task: job.task,
    taskKey: taskKey(job.task, job.horizon),
    arm: job.arm,
    variant,
    seed: job.seed,
    metricName: task.metric,
    chance: task.chance,
    horizon,
    test: strip(test),
    pEvent: test.pEvent.slice(0, 500),
    pDistractor: test.pDistractor.slice(0, 500),
    swap,
    params: model.paramCount(),
    stateBytes: model.memoryBytes(1, horizon),
    stateBytesAt100k: model.memoryBytes(1, 100_000),
    trainSeconds: tr.timeMs / 1000,
    stepsRun: tr.stepsRun,
    bestStep: tr.bestStep,
    writeRate: job.writeRate,
    tau: job.arm === "recon-gate" ? model.tau : null,
    writeDecay: model.writeDecay,
    gateThreshold: job.arm === "aura" ? model.spec.config.gateThreshold : null,
    gateNorm: job.arm === "aura" ? model.spec.config.gateNorm : null,
    horizons,
  };
}
