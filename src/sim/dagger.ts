/**
 * DAgger (Ross, Gordon & Bagnell 2011, "A reduction of imitation learning and structured prediction to
 * no-regret online learning", Algorithm 3.1) for both closed-loop pipelines (`aura sim`, `aura sim-stream --arms`):
 * train on the demonstrations, roll the learner out on fresh episodes, label every state it visits with the
 * scripted expert's action for the true goal, add those episodes to the training set, train again from
 * scratch; round r executes the expert's action with probability beta_r = 0.5^r per step (the paper's
 * mixture policy pi_i = beta_i pi* + (1 - beta_i) pi_hat_i, here per step).
 *
 * Two learners, in order: the base policy alone ({@link cloneBase}), then each memory arm on the frozen base
 * ({@link trainArm}: the learner is base + the arm's residual, its memory carried over the whole episode,
 * so the arm is trained on the states and histories its own closed loop produces; the residual target of a
 * visited step is the expert's label minus the base's action there, as for the demonstrations).
 */
import { ConfigError } from "aura-mem/errors";
import type { Demo } from "./demos.js";
import type { SimTaskName } from "./env.js";
import type { ArmJob, ArmJobResult, BaseJobResult, SimArm, VisitJob } from "./jobs.js";
import type { SimRunner } from "./pool.js";
import type { ArmRole } from "./goal.js";

/** Most DAgger rounds per learner (the visit seeds of the rounds stay below the evaluation seeds). */
export const MAX_DAGGER_ROUNDS = 9;
/** Most demonstrations with DAgger (the visit seeds of the base and of the arms stay disjoint). */
export const MAX_DAGGER_DEMOS = 50_000;

/**
 * Seed of the i-th fresh episode of DAgger round r (1-based): 100,000 r + i for the base, 100,000 r + 50,000 + i
 * for the memory arms (every arm visits the same episodes). Disjoint from the demonstration seeds (0 .. n-1,
 * n <= {@link MAX_DAGGER_DEMOS}) and the evaluation seeds (>= 1,000,000 by default; stream_panel.ts checkEvalSeeds).
 */
export function visitSeed(learner: "base" | "arm", round: number, i: number): number {
  return 100_000 * round + (learner === "arm" ? 50_000 : 0) + i;
}

/** The DAgger rounds of a closed-loop pipeline (part of PipelineOptions, src/sim/panel.ts). */
export interface DaggerOptions {
  /**
   * DAgger rounds of the base policy (0 = none): each rolls the current base out on as many fresh episodes
   * as there are demonstrations, labels the visited states with the expert, adds them to the training set
   * and clones the base again; the expert's action is executed with probability 0.5^r.
   */
  daggerRounds: number;
  /** DAgger rounds of every memory arm on the frozen base (0 = none): the same, with base + arm as the learner. */
  armDaggerRounds: number;
  /**
   * Goal role only: decoy episodes added to every arm's training set (0 = none; {@link decoyVisits}): the frozen
   * base acting on a wrong goal after each cue, labelled with the cued one, so that the robot's motion stops
   * telling the goal and only the memory of the cue does (an intervention against causal confusion).
   */
  goalDecoys: number;
}

/** Seed of the i-th decoy episode: 2,000,000 + i (beyond the default evaluation seeds' 1,000,000 + i). */
export const DECOY_SEED_BASE = 2_000_000;
/** Most decoy episodes (their seeds stay below 3,000,000). */
export const MAX_GOAL_DECOYS = 1_000_000;

/**
 * @throws ConfigError unless both round counts are integers in [0, MAX_DAGGER_ROUNDS], goalDecoys one in
 * [0, MAX_GOAL_DECOYS] and 0 outside the goal role, and, with DAgger, demos <= MAX_DAGGER_DEMOS.
 */
export function checkDaggerOptions(o: DaggerOptions, demos: number, role: ArmRole): void {
  for (const k of ["daggerRounds", "armDaggerRounds"] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < 0 || v > MAX_DAGGER_ROUNDS) throw new ConfigError(`${k} must be an integer in [0, ${MAX_DAGGER_ROUNDS}], got ${v}`);
  }
  const d = o.goalDecoys;
  if (!Number.isInteger(d) || d < 0 || d > MAX_GOAL_DECOYS) throw new ConfigError(`goalDecoys must be an integer in [0, ${MAX_GOAL_DECOYS}], got ${d}`);
  if (d > 0 && role !== "goal") throw new ConfigError("goalDecoys (--goal-decoys) are for the goal role (--arm-role goal)");
  if ((o.daggerRounds > 0 || o.armDaggerRounds > 0) && demos > MAX_DAGGER_DEMOS) throw new ConfigError(`DAgger takes at most ${MAX_DAGGER_DEMOS} demonstrations, got ${demos}`);
}

/** Where the learner is rolled out: `episodes` fresh episodes per round, `perJob` per pool job. */
export interface VisitPlan {
  task: SimTaskName;
  robotDir: string;
  episodes: number;
  perJob: number;
  /** Control steps per episode (cue-stream; default the task's). */
  horizon?: number;
  cueAlwaysOn?: boolean;
  /** How the arm of an arm visit acts (src/sim/goal.ts; default residual). */
  role?: ArmRole;
}

/** "val mse 0.0061" (residual role) or "val accuracy 0.912" (goal role) of an arm's training. */
export function armValText(r: Pick<ArmJobResult, "valMse" | "valAccuracy">): string {
  return r.valAccuracy !== null ? `val accuracy ${r.valAccuracy.toFixed(3)}` : `val mse ${r.valMse.toFixed(4)}`;
}

export type StageHook = (stage: string, done: number, total: number, info?: string) => void;

/** Submit the rollouts of `seeds` (`plan.perJob` per pool job) with the learner `fields`; progress as `stage`. */
async function rollouts(pool: SimRunner, plan: VisitPlan, seeds: number[], fields: Pick<VisitJob, "base" | "model" | "role" | "beta" | "decoyGoal" | "cueAlwaysOn">, stage: string, onStage?: StageHook): Promise<Demo[]> {
  const jobs: number[][] = [];
  for (let i = 0; i < seeds.length; i += plan.perJob) jobs.push(seeds.slice(i, i + plan.perJob));
  let done = 0;
  const parts = await Promise.all(
    jobs.map(async (s) => {
      const r = await pool.submit<Demo[]>({ kind: "visit", task: plan.task, seeds: s, ...(plan.horizon !== undefined ? { horizon: plan.horizon } : {}), ...fields, robotDir: plan.robotDir });
      done += r.length;
      onStage?.(stage, done, seeds.length);
      return r;
    }),
  );
  return parts.flat();
}

function visit(pool: SimRunner, plan: VisitPlan, learner: "base" | "arm", round: number, base: BaseJobResult["base"], model: ArmJobResult["arm"] | null, stage: string, onStage?: StageHook): Promise<Demo[]> {
  const seeds = Array.from({ length: plan.episodes }, (_, i) => visitSeed(learner, round, i));
  return rollouts(pool, plan, seeds, { base, model, ...(learner === "arm" && plan.role ? { role: plan.role } : {}), beta: 0.5 ** round, cueAlwaysOn: plan.cueAlwaysOn ?? false }, stage, onStage);
}

/**
 * Behaviour-clone the base policy on `train`, then `o.daggerRounds` DAgger rounds of the base alone.
 * Returns the last base and the grown training set (demonstrations + every round's visits).
 */
export async function cloneBase(
  pool: SimRunner,
  data: { train: Demo[]; val: Demo[] },
  o: { baseHidden: number; baseEpochs: number; baseLr: number; seed: number; daggerRounds: number; idleKeep?: number },
  plan: VisitPlan,
  onStage?: StageHook,
): Promise<{ base: BaseJobResult; train: Demo[] }> {
  const train = [...data.train];
  const clone = (): Promise<BaseJobResult> =>
    pool.submit<BaseJobResult>({ kind: "base", task: plan.task, train, val: data.val, hidden: o.baseHidden, epochs: o.baseEpochs, lr: o.baseLr, seed: o.seed, ...(o.idleKeep !== undefined ? { idleKeep: o.idleKeep } : {}) });
  onStage?.("base", 0, 1);
  let base = await clone();
  onStage?.("base", 1, 1, `val mse ${base.valMse.toFixed(4)}`);
  for (let r = 1; r <= o.daggerRounds; r++) {
    train.push(...(await visit(pool, plan, "base", r, base.base, null, `dagger ${r} visits`, onStage)));
    base = await clone();
    onStage?.(`dagger ${r} base`, 1, 1, `val mse ${base.valMse.toFixed(4)} on ${train.length} ${plan.horizon !== undefined ? "streams" : "episodes"}`);
  }
  return { base, train };
}

/**
 * Decoy episodes for the goal role's arms (seeds {@link DECOY_SEED_BASE} + i, `perJob` per pool job): the frozen
 * base alone, with the cue channel filled by a wrong goal wherever it is empty (a new one, drawn uniformly among
 * the other goals, at every cue; src/sim/goal.ts `decoyGoals`), no expert action executed; every step labelled
 * with the true cued goal. In the expert's demonstrations the motion after a cue names the goal as well as the
 * cue did, so a recall trained on them alone reads the motion (the arms' validation recall without any memory is
 * 0.74-0.86: docs/sim.md) and in the closed loop confirms its own first guess; in these episodes the motion
 * names the wrong goal and only the memory of the cue is right. A targeted intervention in the sense of
 * de Haan, Jayaraman and Levine, "Causal Confusion in Imitation Learning" (NeurIPS 2019), built here for this task.
 */
export function decoyVisits(pool: SimRunner, plan: VisitPlan, base: BaseJobResult["base"], episodes: number, onStage?: StageHook): Promise<Demo[]> {
  const seeds = Array.from({ length: episodes }, (_, i) => DECOY_SEED_BASE + i);
  return rollouts(pool, plan, seeds, { base, model: null, role: "goal", decoyGoal: true, beta: 0 }, "decoys", onStage);
}

/** An arm's training result after its DAgger rounds. */
export interface ArmDaggerResult extends ArmJobResult {
  /** DAgger rounds run for this arm, and its training episodes (demonstrations, the base's visits, its own). */
  daggerRounds: number;
  trainEpisodes: number;
  /** The validation metric after each training (index 0: before any round of its own): MSE (residual role) or recall accuracy (goal role). */
  valMetricByRound: number[];
}

/**
 * Train one memory arm on the frozen base (job fields `job`), then `rounds` DAgger rounds of base + arm:
 * each adds the closed loop's own episodes, labelled by the expert, and trains the arm again from scratch
 * (same seed, same steps). Every round's visits stay in the arm's training set.
 */
export async function trainArm(
  pool: SimRunner,
  job: Omit<ArmJob, "kind" | "task" | "arm">,
  arm: SimArm,
  rounds: number,
  plan: VisitPlan,
  onStage?: StageHook,
): Promise<ArmDaggerResult> {
  const train = [...job.train];
  const fit = (): Promise<ArmJobResult> => pool.submit<ArmJobResult>({ ...job, kind: "arm", task: plan.task, arm, train });
  let res = await fit();
  const metric = (x: ArmJobResult): number => x.valAccuracy ?? x.valMse;
  const valMetricByRound = [metric(res)];
  for (let r = 1; r <= rounds; r++) {
    train.push(...(await visit(pool, plan, "arm", r, job.base, res.arm, `${arm} dagger ${r} visits`, onStage)));
    res = await fit();
    valMetricByRound.push(metric(res));
    onStage?.(`${arm} dagger ${r}`, 1, 1, `${armValText(res)} on ${train.length} episodes`);
  }
  return { ...res, daggerRounds: rounds, trainEpisodes: train.length, valMetricByRound };
}
