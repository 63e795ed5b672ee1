/**
 * `aura sim`: the closed-loop panel. Per task: expert demonstrations -> base policy (behaviour
 * cloning, then frozen) -> every memory arm trained on the base's features along the same demos ->
 * n seeded closed-loop episodes per arm (evaluation seeds disjoint from the demo seeds) -> success
 * (Wilson CI), writes, state bytes, action error vs the expert, wall time, the AIS estimate, and one
 * trace per arm. Jobs run on a worker pool; each task's stages start as soon as their inputs exist.
 */
import { availableParallelism } from "node:os";
import { ConfigError } from "aura-mem/errors";
import { createOps } from "aura-mem/ops/index";
import { SIM_TASKS, TASK_INFO, isSimTask, type SimTaskName } from "./env.js";
import { demoSeeds, EVAL_SEED_BASE, type Demo } from "./demos.js";
import { SIM_ARMS, isSimArm, armFromData, type SimArm, type ArmJob, type ArmJobResult, type BaseJobResult, type EvalJobResult, type SimJob } from "./jobs.js";
import { SimPool, type SimRunner } from "./pool.js";
import { checkRobotDir } from "./scene.js";
import { defaultRobotDir } from "../data/paths.js";
import type { EpisodeOutcome, SimTrace } from "./rollout.js";
import { aisEstimate, type AisResult } from "./ais.js";
import { armValText, checkDaggerOptions, cloneBase, decoyVisits, trainArm, type ArmDaggerResult, type DaggerOptions, type VisitPlan } from "./dagger.js";
import { ARM_ROLES, type ArmRole } from "./goal.js";

/** What the closed-loop pipelines share: the base policy's and the memory arms' training, and where they run. */
export interface PipelineOptions extends DaggerOptions {
  /** Width of the base policy's hidden layers (= dModel of the memory arms). */
  baseHidden: number;
  baseEpochs: number;
  baseLr: number;
  /** Adam steps and batch (episodes) of each memory arm. */
  armSteps: number;
  armBatch: number;
  /**
   * AURA's write-sparsity weight lambda_w (the bench default is 0.1). Default 0.5, DEFAULT_LAMBDA_W.residual;
   * the CLI takes DEFAULT_LAMBDA_W[armRole] when --lambda-w is not given (docs/sim.md says why each).
   */
  lambdaW: number;
  /**
   * Train and run AURA with the ess benchmarks' stream recipe (ArmJob.streamRecipe: write decay, the gate's
   * observation-norm input, the training threshold band and the deployment threshold, but not the ess
   * learning rate; docs/method.md "Horizon"). Default false.
   */
  streamRecipe: boolean;
  /**
   * AURA's deployment write threshold on its gate's p (ArmJob.gateThreshold, MemoryConfig.gateThreshold);
   * null (default): 0.5, or the stream recipe's 0.7 with `streamRecipe`.
   */
  gateThreshold: number | null;
  /** Training seed (base and arms). */
  seed: number;
  robotDir: string;
  /** Worker threads (0 = in this thread). */
  workers: number;
}

/** Options of a sim run; {@link defaultSimOptions} has the documented defaults. */
export interface SimOptions extends PipelineOptions {
  tasks: SimTaskName[];
  arms: SimArm[];
  /** Closed-loop evaluation episodes per arm and task. */
  episodes: number;
  /** Expert demonstrations per task (10% of them validate). */
  demos: number;
  /** Write one trace per arm and task. */
  traces: boolean;
  /** AIS: one-step probe every this many control steps of the AURA rollouts. */
  probeEvery: number;
  /**
   * How the memory arms act (src/sim/goal.ts): "residual" (default: their output is added to the action of a
   * base that never sees the goal, trained on the action error) or "goal" (the base is cloned with the cue
   * visible throughout, demonstrations and DAgger visits alike; every arm, no-memory included, is trained to
   * recall the cued goal and supplies it to the base).
   */
  armRole: ArmRole;
}

/**
 * AURA's default write-sparsity weight lambda_w in the closed loop, per arm role (docs/sim.md): 0.5 in the
 * residual role (chosen on cue-place); 2 in the goal role, where 0.5 wrote unselectively (cue-sequence: 117
 * writes per episode, P(write|cue) 0.37 vs P(write|distractor) 0.39) and 2 wrote once per episode at the
 * kv-cache's success on two training seeds, and on cue-stream gave 0.781 per cue against 0.728 (paired
 * +0.050 [-0.026, 0.126], n = 20: not a detectable difference).
 */
export const DEFAULT_LAMBDA_W: Readonly<Record<ArmRole, number>> = { residual: 0.5, goal: 2 };

export function defaultSimOptions(): SimOptions {
  return {
    tasks: [...SIM_TASKS],
    arms: [...SIM_ARMS],
    episodes: 60,
    demos: 400,
    baseHidden: 256,
    baseEpochs: 35,
    baseLr: 2e-3,
    armSteps: 1000,
    armBatch: 32,
    lambdaW: DEFAULT_LAMBDA_W.residual,
    streamRecipe: false,
    gateThreshold: null,
    seed: 0,
    robotDir: defaultRobotDir(),
    workers: Math.max(1, Math.min(2, availableParallelism())),
    traces: true,
    probeEvery: 8,
    daggerRounds: 0,
    armDaggerRounds: 0,
    goalDecoys: 0,
    armRole: "residual",
  };
}

/** Validate options. @throws ConfigError on unknown tasks / arms, a missing robot directory, bad sizes. */
export function checkSimOptions(o: SimOptions): void {
  if (o.tasks.length === 0) throw new ConfigError("at least one task is needed");
  for (const t of o.tasks) if (!isSimTask(t)) throw new ConfigError(`unknown sim task "${t}" (valid: ${SIM_TASKS.join(", ")})`);
  checkArms(o.arms);
  checkIntOption(o, "episodes", 1);
  checkIntOption(o, "demos", 4);
  checkIntOption(o, "probeEvery", 1);
  if (!ARM_ROLES.includes(o.armRole)) throw new ConfigError(`armRole must be one of ${ARM_ROLES.join(", ")}, got ${String(o.armRole)}`);
  checkDaggerOptions(o, o.demos, o.armRole);
  checkPipelineOptions(o);
}

/** @throws ConfigError unless `o[k]` is an integer >= min. */
export function checkIntOption<O extends object>(o: O, k: keyof O & string, min: number): void {
  const v = o[k] as unknown as number;
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`${k} must be an integer >= ${min}, got ${v}`);
}

/** @throws ConfigError on no arms or an unknown one. */
export function checkArms(arms: readonly string[]): void {
  if (arms.length === 0) throw new ConfigError("at least one arm is needed");
  for (const a of arms) if (!isSimArm(a)) throw new ConfigError(`unknown sim arm "${a}" (valid: ${SIM_ARMS.join(", ")})`);
}

/** The ArmJob fields both closed-loop panels take from their shared pipeline options (Adam budget, AURA's gate). */
export function armTrainingFields(o: PipelineOptions): Pick<ArmJob, "steps" | "batchSize" | "lambdaW" | "streamRecipe" | "gateThreshold" | "seed"> {
  return {
    steps: o.armSteps,
    batchSize: o.armBatch,
    lambdaW: o.lambdaW,
    streamRecipe: o.streamRecipe,
    ...(o.gateThreshold !== null ? { gateThreshold: o.gateThreshold } : {}),
    seed: o.seed,
  };
}

/** Check the shared pipeline options, the robot directory last. @throws ConfigError naming the bad option. */
export function checkPipelineOptions(o: PipelineOptions): void {
  checkIntOption(o, "baseHidden", 4);
  checkIntOption(o, "baseEpochs", 1);
  checkIntOption(o, "armSteps", 1);
  checkIntOption(o, "armBatch", 1);
  checkIntOption(o, "seed", 0);
  checkIntOption(o, "workers", 0);
  if (!(Number.isFinite(o.lambdaW) && o.lambdaW >= 0)) throw new ConfigError(`lambdaW must be a non-negative number, got ${o.lambdaW}`);
  if (typeof o.streamRecipe !== "boolean") throw new ConfigError(`streamRecipe must be a boolean, got ${String(o.streamRecipe)}`);
  if (o.gateThreshold !== null && !(typeof o.gateThreshold === "number" && o.gateThreshold > 0 && o.gateThreshold < 1)) {
    throw new ConfigError(`gateThreshold must be null or a number in (0, 1), got ${String(o.gateThreshold)}`);
  }
  checkRobotDir(o.robotDir);
}

/** Everything measured for one arm on one task. */
export interface ArmRun {
  arm: SimArm;
  train: Omit<ArmDaggerResult, "arm"> | null;
  episodes: EpisodeOutcome[];
  params: number;
  stateBytesAt100k: number;
}

/** Everything measured on one task. */
export interface TaskRun {
  task: SimTaskName;
  horizon: number;
  demos: { n: number; successes: number; seconds: number; seeds: [number, number] };
  /** The base's last cloning, its DAgger rounds and the episodes it was last cloned on (demonstrations + visits). */
  base: Omit<BaseJobResult, "base"> & { params: number; daggerRounds: number; trainEpisodes: number };
  arms: Partial<Record<SimArm, ArmRun>>;
  traces: SimTrace[];
  ais: AisResult | null;
  evalSeeds: [number, number];
  /** Goal role: the base acting on the true goal on the same evaluation seeds (the ceiling of every goal arm); null otherwise. */
  goalOracle: EpisodeOutcome[] | null;
}

export interface SimRun {
  options: SimOptions;
  tasks: Partial<Record<SimTaskName, TaskRun>>;
  wallSeconds: number;
}

/** Progress callbacks (stage = "demos" | "base" | "train" | "eval"). */
export interface SimHooks {
  onStage?(task: SimTaskName, stage: string, done: number, total: number, info?: string): void;
  onWarn?(message: string): void;
  /** Run the jobs here instead of on a local pool of `workers` threads (e.g. a QueueSimPool); the caller closes it. */
  runner?: SimRunner;
}

/** Run the panel. */
export async function runSim(o: SimOptions, hooks: SimHooks = {}): Promise<SimRun> {
  checkSimOptions(o);
  const started = Date.now();
  const own = hooks.runner ? null : new SimPool(o.workers, { onWarn: hooks.onWarn });
  const pool: SimRunner = hooks.runner ?? own!;
  try {
    const out: SimRun = { options: o, tasks: {}, wallSeconds: 0 };
    await Promise.all(o.tasks.map(async (task) => (out.tasks[task] = await runTask(task, o, pool, hooks))));
    out.wallSeconds = (Date.now() - started) / 1000;
    return out;
  } finally {
    await own?.close();
  }
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

async function runTask(task: SimTaskName, o: SimOptions, pool: SimRunner, hooks: SimHooks): Promise<TaskRun> {
  const info = TASK_INFO[task];
  const goalRole = o.armRole === "goal";
  // 1. demonstrations
  const t0 = Date.now();
  const seeds = demoSeeds(o.demos);
  let nDemo = 0;
  const demoParts = await Promise.all(
    chunks(seeds, 10).map(async (s) => {
      const r = (await pool.submit({ kind: "demos", task, seeds: s, robotDir: o.robotDir, cueAlwaysOn: goalRole })) as Demo[];
      nDemo += r.length;
      hooks.onStage?.(task, "demos", nDemo, seeds.length);
      return r;
    }),
  );
  const demos = demoParts.flat();
  const ok = demos.filter((d) => d.success);
  if (ok.length < 4) throw new ConfigError(`${task}: only ${ok.length} of ${demos.length} expert demonstrations succeeded; the environment is broken`);
  const nVal = Math.max(2, Math.round(ok.length * 0.1));
  const val = ok.slice(0, nVal);
  const trainSet = ok.slice(nVal);
  const demoSeconds = (Date.now() - t0) / 1000;
  // 2. base policy (and its DAgger rounds)
  // the goal role: the base sees the goal throughout (its demonstrations and its own visits); the arms' visits are the real closed loop
  const plan: VisitPlan = { task, robotDir: o.robotDir, episodes: o.demos, perJob: 10, cueAlwaysOn: goalRole };
  const armPlan: VisitPlan = goalRole ? { ...plan, cueAlwaysOn: false, role: "goal" } : plan;
  const stage = (st: string, done: number, total: number, info?: string): void => hooks.onStage?.(task, st, done, total, info);
  const { base: baseRes, train: baseTrain } = await cloneBase(pool, { train: trainSet, val }, o, plan, stage);
  // the goal role's decoy episodes (dagger.ts decoyVisits): in every arm's training set, not the base's
  const armTrain = o.goalDecoys > 0 ? [...baseTrain, ...(await decoyVisits(pool, armPlan, baseRes.base, o.goalDecoys, stage))] : baseTrain;
  const ops = createOps("auto", () => undefined);
  // 3. memory arms (and their DAgger rounds)
  // every arm is trained in the goal role (no-memory: a memoryless goal predictor); in the residual role no-memory is the base alone
  const memArms = o.arms.filter((a) => goalRole || a !== "no-memory");
  const needKv = o.arms.includes("aura") && o.arms.includes("kv-cache");
  let trained = 0;
  const fitArm = (arm: SimArm): Promise<ArmDaggerResult> =>
    trainArm(pool, { base: baseRes.base, train: armTrain, val, ...armTrainingFields(o), ...(goalRole ? { role: "goal" as const } : {}) }, arm, o.armDaggerRounds, armPlan, stage).then((r) => {
      hooks.onStage?.(task, "train", ++trained, memArms.length, goalRole ? `${arm} ${armValText(r)}` : `${arm} val mse ${r.valMse.toFixed(4)} (base ${r.valMseBase.toFixed(4)})`);
      return r;
    });
  const armTraining = new Map(memArms.map((a) => [a, fitArm(a)] as const));
  // 4. closed-loop evaluation
  const evalSeeds = Array.from({ length: o.episodes }, (_, i) => EVAL_SEED_BASE + i);
  const traceSeeds = o.traces ? [evalSeeds[0]!] : [];
  let evaluated = 0;
  const totalEval = o.arms.length * o.episodes;
  const evalArm = async (arm: SimArm): Promise<{ run: ArmRun; traces: SimTrace[] }> => {
    const tr = armTraining.has(arm) ? await armTraining.get(arm)! : null;
    const companion = arm === "aura" && needKv ? (await armTraining.get("kv-cache")!).arm : null;
    const size = companion ? 5 : 10;
    const parts = await Promise.all(
      chunks(evalSeeds, size).map(async (s) => {
        const job: SimJob = {
          kind: "eval",
          task,
          arm,
          role: o.armRole,
          seeds: s,
          base: baseRes.base,
          model: tr ? tr.arm : null,
          companion,
          traceSeeds: traceSeeds.filter((x) => s.includes(x)),
          probeEvery: o.probeEvery,
          robotDir: o.robotDir,
        };
        const r = (await pool.submit(job)) as EvalJobResult;
        evaluated += r.episodes.length;
        hooks.onStage?.(task, "eval", evaluated, totalEval, arm);
        return r;
      }),
    );
    const model = tr ? armFromData(tr.arm, ops) : null;
    const train = tr ? (({ arm: _a, ...rest }) => rest)(tr) : null;
    return {
      run: {
        arm,
        train,
        episodes: parts.flatMap((p) => p.episodes),
        params: model ? model.paramCount() : 0,
        stateBytesAt100k: model ? model.memoryBytes(1, 100_000) : 0,
      },
      traces: parts.flatMap((p) => p.traces),
    };
  };
  // AURA first (its AIS probes make it the longest), then the rest
  const order = [...o.arms].sort((a, b) => Number(b === "aura") - Number(a === "aura"));
  // the goal role's ceiling: the same base on the same seeds, acting on the true goal
  const oracle = goalRole
    ? Promise.all(
        chunks(evalSeeds, 10).map(async (s) => {
          const job: SimJob = { kind: "eval", task, arm: "no-memory", role: "goal", oracleGoal: true, seeds: s, base: baseRes.base, model: null, companion: null, traceSeeds: [], probeEvery: o.probeEvery, robotDir: o.robotDir };
          return ((await pool.submit(job)) as EvalJobResult).episodes;
        }),
      ).then((p) => p.flat())
    : Promise.resolve(null);
  oracle.catch(() => undefined); // awaited below, after the arms: no unhandled rejection meanwhile
  const evals = await Promise.all(order.map(evalArm));
  const goalOracle = await oracle;
  const arms: TaskRun["arms"] = {};
  for (const a of o.arms) arms[a] = evals.find((e) => e.run.arm === a)!.run;
  const aura = arms["aura"];
  const kv = arms["kv-cache"];
  const ais = aura && kv && needKv ? aisEstimate(aura.episodes, kv.episodes, info.horizon) : null;
  const { base: _b, ...baseInfo } = baseRes;
  const baseParams = Object.values(baseRes.base.params).reduce((s, p) => s + p.data.length, 0);
  return {
    task,
    horizon: info.horizon,
    demos: { n: demos.length, successes: ok.length, seconds: demoSeconds, seeds: [seeds[0]!, seeds[seeds.length - 1]!] },
    base: { ...baseInfo, params: baseParams, daggerRounds: o.daggerRounds, trainEpisodes: baseTrain.length },
    arms,
    traces: evals.flatMap((e) => e.traces),
    ais,
    evalSeeds: [evalSeeds[0]!, evalSeeds[evalSeeds.length - 1]!],
    goalOracle,
  };
}
