/**
 * `aura bench`: plan the jobs (task x arm x seed, plus the AURA ablations), run them on a pool of
 * worker threads (AURA first: the budget-matched arms need its measured write rate), and aggregate.
 */
import { availableParallelism } from "node:os";
import { ConfigError } from "aura-mem/errors";
import { STREAM_GATE_NORM, STREAM_GATE_THRESHOLD, STREAM_LR, STREAM_TRAIN_GATE_BAND, STREAM_WRITE_DECAY } from "aura-mem/config";
import { DEFAULT_GATE_THRESHOLD } from "./jobs.js";
import { ARMS, isArm, type ArmName } from "aura-mem/model/model";
import { taskNames, isTaskName, essConfig } from "../tasks/index.js";
import { defaultPushtPath } from "../data/paths.js";
import { DEFAULT_TRAIN, type TrainOptions } from "aura-mem/train/train";
import type { Backend } from "aura-mem/ops/index";
import { WorkerPool } from "aura-mem/util/worker_pool";
import { runJob, TaskCache, taskKey, withDerived, type DerivedEval, type HorizonPanelSpec, type JobResult, type JobSpec, type Variant } from "./jobs.js";
import { codeVersion, jobKey, keyFields, type JobStore, type KeyedJob } from "./store.js";

/** Write decay of the gated fast-weight arms per task: the event-stream tasks run with the stream recipe. */
export const RECIPE_WRITE_DECAY: Readonly<Record<string, number>> = { "ess-easy": STREAM_WRITE_DECAY, "ess-hard": STREAM_WRITE_DECAY };
/**
 * Deployment write threshold of ess-easy's gate: 0.8, above the stream recipe's 0.7. Its gate (trained in the same band)
 * holds its events at p >= 0.8 while its novel distractors' far tail reaches 0.7-0.8: 0.8 was the best of {0.7, 0.75,
 * 0.8} for fixed events at N = 32,768 on seeds 0-5 (docs/method.md, "A faster learning rate").
 */
export const ESS_EASY_GATE_THRESHOLD = 0.8;
/**
 * Deployment write threshold of AURA's learned gate per task: the stream recipe's (0.7) on ess-hard and 0.8 on ess-easy,
 * both gates trained at thresholds drawn from [0.3, 0.9] (docs/method.md, "A margin for the gate").
 */
export const RECIPE_GATE_THRESHOLD: Readonly<Record<string, number>> = { "ess-easy": ESS_EASY_GATE_THRESHOLD, "ess-hard": STREAM_GATE_THRESHOLD };
/** Whether AURA's gate reads the observation norm per task (MemoryConfig.gateNorm): on in the stream recipe. */
export const RECIPE_GATE_NORM: Readonly<Record<string, boolean>> = { "ess-easy": STREAM_GATE_NORM, "ess-hard": STREAM_GATE_NORM };
/**
 * Write decay the gated fast-weight arms are trained with per task (TrainOptions.trainWriteDecay); absent = the
 * training default (null: the deployed decay, so ess-hard trains with 0.8 and mbar / pusht with 1). ess-easy trains
 * with 0.5 and runs with 0.8: in its 64-step episodes a junk write must cost something before the episode ends
 * (docs/method.md, "A margin for the gate").
 */
export const RECIPE_TRAIN_WRITE_DECAY: Readonly<Record<string, number | null>> = { "ess-easy": 0.5 };
/**
 * Threshold band AURA's gate is trained with per task (TrainOptions.trainGateThresholdRange): the stream
 * recipe's on the ess tasks; absent = `train.trainGateThresholdRange` (null: the single training threshold 0.5).
 */
export const RECIPE_TRAIN_GATE_BAND: Readonly<Record<string, readonly [number, number] | null>> = { "ess-easy": STREAM_TRAIN_GATE_BAND, "ess-hard": STREAM_TRAIN_GATE_BAND };
/**
 * Adam learning rate of every arm per task (BenchOptions.lrByTask): the stream recipe's 6e-3 on the event-stream tasks
 * (`STREAM_LR`, docs/method.md "A faster learning rate"); absent = `train.lr` (3e-3).
 */
export const RECIPE_LR: Readonly<Record<string, number>> = { "ess-easy": STREAM_LR, "ess-hard": STREAM_LR };

/** The memory and training settings of one task's stream recipe (the maps above; defaults where a task has none). */
export interface TaskRecipe {
  writeDecay: number;
  gateThreshold: number;
  gateNorm: boolean;
  /** null = train with the decay the model runs with (train()'s default). */
  trainWriteDecay: number | null;
  /** null = trained at the single threshold 0.5. */
  trainGateBand: readonly [number, number] | null;
  /** Adam learning rate (train()'s default 3e-3 where the task has none). */
  lr: number;
}

/** The stream recipe of `task` as the bench runs it (`aura train` and the soak read it too). */
export function taskRecipe(task: string): TaskRecipe {
  return {
    writeDecay: RECIPE_WRITE_DECAY[task] ?? 1,
    gateThreshold: RECIPE_GATE_THRESHOLD[task] ?? DEFAULT_GATE_THRESHOLD,
    gateNorm: RECIPE_GATE_NORM[task] ?? false,
    trainWriteDecay: RECIPE_TRAIN_WRITE_DECAY[task] ?? null,
    trainGateBand: RECIPE_TRAIN_GATE_BAND[task] ?? null,
    lr: RECIPE_LR[task] ?? DEFAULT_TRAIN.lr,
  };
}

/** Arms whose write budget is taken from AURA's measured write rate. */
export const BUDGET_MATCHED: readonly ArmName[] = ["random", "periodic", "recon-gate"];

/** Options of a benchmark run. */
export interface BenchOptions {
  tasks: string[];
  arms: ArmName[];
  seeds: number[];
  /** Horizon sweep per task (null entry = task default). */
  horizons: Record<string, (number | null)[]>;
  /** Training steps per task (overrides train.steps). */
  stepsByTask: Record<string, number>;
  /** Adam learning rate per task (overrides train.lr; every arm of the task alike). */
  lrByTask: Record<string, number>;
  /** pusht training window (steps); evaluation uses whole episodes. null = whole episodes. */
  pushtWindow: number | null;
  /** Write decay alpha of the gated fast-weight arms (aura, random, periodic, recon-gate) per task; absent = 1 (none). */
  writeDecay: Record<string, number>;
  /** Deployment threshold on p of AURA's learned gate per task (MemoryConfig.gateThreshold; trained at 0.5); absent = 0.5. */
  gateThreshold: Record<string, number>;
  /** Whether AURA's gate reads the observation norm per task (MemoryConfig.gateNorm); absent = false. */
  gateNorm: Record<string, boolean>;
  /** Write decay the gated fast-weight arms are trained with per task (TrainOptions.trainWriteDecay); absent = `train.trainWriteDecay`. */
  trainWriteDecay: Record<string, number | null>;
  /** Threshold band AURA's gate is trained with per task (TrainOptions.trainGateThresholdRange); absent = `train.trainGateThresholdRange`. */
  trainGateBand: Record<string, readonly [number, number] | null>;
  /** AURA ablation variants to run on `ablationTasks` (no-decay only with writeDecay < 1). */
  ablations: Exclude<Variant, "default">[];
  /** Run the AURA ablation variants on these tasks. */
  ablationTasks: string[];
  dModel: number;
  pushtPath: string;
  backend: Backend | "auto";
  /**
   * Horizon-generalisation panel: multiples of the task's horizon T to evaluate at (e.g. [8, 64, 512]),
   * the arms that get it, and the test steps per point. Only ess tasks; [] = no panel.
   */
  panel: {
    multiples: number[];
    /** Absolute horizons added to the multiples (e.g. 10^6). */
    extra: number[];
    arms: ArmName[];
    stepsPerPoint: number;
    /** Fewest test episodes per (N, stream kind). */
    minEpisodes: number;
    /** Longest horizon per arm where its cost does not allow more (kv-cache: O(N^2) time). */
    maxSteps: Partial<Record<ArmName, number>>;
  };
  /** Worker threads (0 = run in this thread). */
  workers: number;
  train: Omit<TrainOptions, "onStep" | "seed" | "reconWriteRate">;
}

/** The quick default: every task and arm, 3 seeds, a training budget sized to finish in <= 15 min on 2 cores. */
export function quickOptions(): BenchOptions {
  return {
    tasks: [...taskNames],
    arms: [...ARMS],
    seeds: [0, 1, 2],
    horizons: {},
    ablationTasks: ["ess-hard"],
    // the write decay's ablation (no-ib / no-sparsity are in --full: the quick run has no room for them)
    ablations: ["no-decay"],
    writeDecay: { ...RECIPE_WRITE_DECAY },
    gateThreshold: { ...RECIPE_GATE_THRESHOLD },
    gateNorm: { ...RECIPE_GATE_NORM },
    trainWriteDecay: { ...RECIPE_TRAIN_WRITE_DECAY },
    trainGateBand: { ...RECIPE_TRAIN_GATE_BAND },
    lrByTask: { ...RECIPE_LR },
    // horizon panel: N in {T, 8T, 64T, 512T} (65,536 steps on ess-hard), 32,768 / N test episodes per point but at
    // least 4 (one fixed-event stream of 512T is one cliff: a missed event or a false write costs a stretch of it), for aura (and its no-decay
    // ablation), always-write, gru and kv-window; lstm and kv-cache are in --full (kv-cache is O(N^2))
    panel: { multiples: [8, 64, 512], arms: ["aura", "always-write", "gru", "kv-window"], extra: [], stepsPerPoint: 32768, minEpisodes: 4, maxSteps: {} },
    // sized so the whole quick run fits in ~15 minutes on 2 cores (step cost grows with T)
    // ess-hard: 1200 steps, the budget at which every seed learned a sparse gate (docs/method.md, "Horizon");
    // the ess tasks train at the stream recipe's learning rate (lrByTask)
    stepsByTask: { "ess-easy": 400, "ess-hard": 1200, mbar: 600, pusht: 400 },
    pushtWindow: 64,
    dModel: 64,
    pushtPath: defaultPushtPath(),
    backend: "auto",
    workers: Math.max(1, Math.min(2, availableParallelism())),
    train: { ...DEFAULT_TRAIN, steps: 400, batchSize: 32, evalEvery: 100, softWarmupSteps: 50 },
  };
}

/** The paper-scale sweep: >= 5 seeds, ess N in {64,128,256,512}, mbar N in {8,16,32,64}, longer training. */
export function fullOptions(): BenchOptions {
  const q = quickOptions();
  return {
    ...q,
    seeds: [0, 1, 2, 3, 4],
    horizons: { "ess-hard": [64, 128, 256, 512], "ess-easy": [64, 128, 256, 512], mbar: [8, 16, 32, 64] },
    ablationTasks: ["ess-hard", "ess-easy", "mbar"],
    ablations: ["no-ib", "no-sparsity", "no-decay"],
    // every arm, N in {T, 8T, 64T, 512T, 10^6}; kv-cache (O(N^2) time) up to 8,192 steps
    panel: { multiples: [8, 64, 512], extra: [1_000_000], arms: [...ARMS], stepsPerPoint: 1 << 20, minEpisodes: 4, maxSteps: { "kv-cache": 8192 } },
    stepsByTask: {},
    train: { ...q.train, steps: 1500, evalEvery: 100 },
  };
}

/** Validate and plan jobs. AURA jobs come first; budget-matched jobs carry writeRate = null until AURA finishes. */
export function planJobs(o: BenchOptions): JobSpec[] {
  for (const t of o.tasks) if (!isTaskName(t)) throw new ConfigError(`unknown task "${t}" (valid: ${taskNames.join(", ")})`);
  for (const a of o.arms) if (!isArm(a)) throw new ConfigError(`unknown arm "${a}" (valid: ${ARMS.join(", ")})`);
  if (o.seeds.length === 0) throw new ConfigError("at least one seed is needed");
  const needsAura = o.arms.some((a) => BUDGET_MATCHED.includes(a));
  const arms = needsAura && !o.arms.includes("aura") ? (["aura", ...o.arms] as ArmName[]) : o.arms;
  const jobs: JobSpec[] = [];
  let id = 0;
  const order = [...arms].sort((a, b) => Number(b === "aura") - Number(a === "aura"));
  for (const task of o.tasks) {
    for (const horizon of o.horizons[task] ?? [null]) {
      for (const seed of o.seeds) {
        const variants: [ArmName, Variant][] = order.map((a) => [a, "default"]);
        // no-decay changes only how the trained model runs when training is at alpha = 1: then it is evaluated
        // from AURA's own job (JobSpec.derived) instead of training the same model again; trained with the
        // decay (null = the deployed decay, the default), no-decay is another training run
        const band = o.trainGateBand[task];
        const train = {
          ...o.train,
          steps: o.stepsByTask[task] ?? o.train.steps,
          lr: o.lrByTask[task] ?? o.train.lr,
          ...(task in o.trainWriteDecay ? { trainWriteDecay: o.trainWriteDecay[task]! } : {}),
          ...(band !== undefined ? { trainGateThresholdRange: band } : {}),
        };
        const evalOnly = (train.trainWriteDecay === undefined ? DEFAULT_TRAIN.trainWriteDecay : train.trainWriteDecay) === 1;
        const derived: DerivedEval[] = [];
        if (o.ablationTasks.includes(task) && arms.includes("aura")) {
          for (const v of o.ablations) {
            if (v === "no-decay" && (o.writeDecay[task] ?? 1) === 1) continue;
            if (v === "no-decay" && evalOnly) derived.push({ variant: v, panel: panelFor(o, task, horizon, "aura", v) });
            else variants.push(["aura", v]);
          }
        }
        for (const [arm, variant] of variants) {
          jobs.push({
            id: id++,
            task,
            horizon,
            arm,
            variant,
            seed,
            writeRate: null,
            trainWindow: task === "pusht" ? o.pushtWindow : null,
            dModel: o.dModel,
            pushtPath: o.pushtPath,
            backend: o.backend,
            train: { ...train },
            writeDecay: o.writeDecay[task] ?? 1,
            gateThreshold: o.gateThreshold[task] ?? DEFAULT_GATE_THRESHOLD,
            gateNorm: o.gateNorm[task] ?? false,
            panel: panelFor(o, task, horizon, arm, variant),
            derived: arm === "aura" && variant === "default" ? derived : [],
          });
        }
      }
    }
  }
  return jobs;
}

/** The horizon panel of one job: ess tasks, default variants of the panel's arms; null otherwise. */
function panelFor(o: BenchOptions, task: string, horizon: number | null, arm: ArmName, variant: Variant): HorizonPanelSpec | null {
  // the no-decay ablation gets the panel too: the write decay is there for long horizons
  const ablated = arm === "aura" && variant === "no-decay";
  if (!task.startsWith("ess") || (variant !== "default" && !ablated) || !o.panel.arms.includes(arm) || o.panel.multiples.length === 0) return null;
  const T = horizon ?? essConfig(task as "ess-easy" | "ess-hard").horizon;
  const cap = o.panel.maxSteps[arm] ?? Infinity;
  const horizons = [...new Set([...o.panel.multiples.map((m) => m * T), ...o.panel.extra])]
    .sort((a, b) => a - b)
    .filter((N) => N > T && N <= cap && N <= 1 << 20);
  return horizons.length ? { horizons, stepsPerPoint: o.panel.stepsPerPoint, minEpisodes: o.panel.minEpisodes } : null;
}

/** Progress report of a benchmark job (posted by the worker every few steps). */
export interface BenchProgress {
  step: number;
  steps: number;
  loss: number;
}

/** Callbacks for progress display. */
export interface BenchHooks {
  onStart?(job: JobSpec): void;
  onProgress?(job: JobSpec, step: number, steps: number, loss: number): void;
  onDone?(job: JobSpec, result: JobResult): void;
  onWarn?(message: string): void;
}

function auraKey(j: { task: string; horizon: number | null; seed: number }): string {
  return `${taskKey(j.task, j.horizon)}#${j.seed}`;
}

/**
 * The store keys of a plan: AURA and every independent job first, then each budget-matched job with
 * the key of the AURA job (same task, horizon and seed) it takes its write rate from.
 */
export function keyJobs(jobs: readonly JobSpec[], version = codeVersion()): KeyedJob[] {
  const auraKeys = new Map<string, string>();
  const keyed = new Map<number, KeyedJob>();
  for (const job of jobs) {
    if (BUDGET_MATCHED.includes(job.arm)) continue;
    const fields = keyFields(job, null, version);
    const k: KeyedJob = { job, key: jobKey(fields), dependsOn: null, fields };
    keyed.set(job.id, k);
    if (job.arm === "aura" && job.variant === "default") auraKeys.set(auraKey(job), k.key);
  }
  for (const job of jobs) {
    if (!BUDGET_MATCHED.includes(job.arm)) continue;
    const dep = auraKeys.get(auraKey(job));
    if (!dep) throw new ConfigError(`internal: no AURA job for budget-matched job ${job.id}`);
    const fields = keyFields(job, dep, version);
    keyed.set(job.id, { job, key: jobKey(fields), dependsOn: dep, fields });
  }
  return jobs.map((j) => keyed.get(j.id)!);
}

/** Where a run keeps its results (absent: in memory only, as before the store). */
export interface BenchStoreOptions {
  store?: JobStore;
  /** Written into each stored result ("local" by default). */
  ranBy?: string;
}

/**
 * Run all jobs. Budget-matched jobs wait for the AURA job of the same task/horizon/seed and take its
 * measured test write rate.
 */
export async function runBench(o: BenchOptions, hooks: BenchHooks = {}, storeOpts: BenchStoreOptions = {}): Promise<JobResult[]> {
  const jobs = planJobs(o);
  const store = storeOpts.store;
  const keyed = store ? new Map(keyJobs(jobs).map((k) => [k.job.id, k])) : null;
  const results: JobResult[] = [];
  const auraRate = new Map<string, number>();
  const pending = [...jobs];
  const ready = (j: JobSpec): boolean => !BUDGET_MATCHED.includes(j.arm) || auraRate.has(auraKey(j));
  const take = (): JobSpec | null => {
    const i = pending.findIndex(ready);
    if (i < 0) return null;
    const [j] = pending.splice(i, 1);
    if (BUDGET_MATCHED.includes(j!.arm)) j!.writeRate = auraRate.get(auraKey(j!))!;
    return j!;
  };
  const record = (job: JobSpec, r: JobResult): void => {
    results.push(r);
    if (job.arm === "aura" && job.variant === "default") auraRate.set(auraKey(job), r.test.writeRate);
    hooks.onDone?.(job, r);
  };
  // jobs whose result is in the store are done: take their results (in plan order, so AURA's rate is known first)
  if (store && keyed) {
    for (const job of [...pending]) {
      const s = await store.get(keyed.get(job.id)!.key);
      if (!s) continue;
      pending.splice(pending.indexOf(job), 1);
      if (BUDGET_MATCHED.includes(job.arm)) job.writeRate = s.result.writeRate;
      record(job, { ...s.result, id: job.id });
    }
  }
  const startedAt = new Map<number, number>();

  // the project's worker pool (src/util/worker_pool.ts); workers = 0 runs the jobs in this thread
  const cache = new TaskCache();
  const pool = new WorkerPool<JobSpec, JobResult, BenchProgress>({ near: import.meta.url, name: "worker" }, o.workers <= 0 ? 0 : Math.max(1, Math.min(o.workers, jobs.length)), {
    onStart: (job) => {
      startedAt.set(job.id, Date.now());
      hooks.onStart?.(job);
    },
    onProgress: (job, p) => hooks.onProgress?.(job, p.step, p.steps, p.loss),
    onWarn: (m) => hooks.onWarn?.(m),
    describeError: (job, m) => `job ${job.id} (${job.arm} on ${job.task}, seed ${job.seed}) failed: ${m}`,
    inProcess: (job, progress) => runJob(job, cache, undefined, (step, steps, loss) => progress({ step, steps, loss })),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      const settle = (): void => {
        if (running > 0) return;
        if (pending.length) reject(new Error(`internal: ${pending.length} jobs never became ready`));
        else resolve();
      };
      // submit every ready job; a finished AURA job may make budget-matched jobs ready
      const launch = (): void => {
        for (let j = take(); j; j = take()) {
          const job = j;
          running++;
          pool
            .submit(job)
            .then(async (r) => {
              if (store && keyed) {
                const k = keyed.get(job.id)!;
                const seconds = (Date.now() - (startedAt.get(job.id) ?? Date.now())) / 1000;
                await store.put({ format: 1, key: k.key, job: k.fields, result: r, seconds, ranBy: storeOpts.ranBy ?? "local", at: new Date().toISOString() });
              }
              running--;
              record(job, r);
              launch();
              settle();
            })
            .catch(reject);
        }
      };
      launch();
      settle();
    });
  } finally {
    await pool.close();
  }
  return withDerived(results.sort((a, b) => a.id - b.id));
}
