/**
 * The learned arms on cue-stream (`aura sim-stream --arms ...`): perturbed expert demonstrations over
 * streams of `demoHorizon` steps -> the base policy (behaviour cloning, then frozen) -> every memory arm
 * trained on the base's features in `window`-step windows of the demos (truncated BPTT, fresh memory
 * at each window's start) -> closed-loop episodes of `horizon` steps (10 min) per arm on the evaluation
 * seeds, scored per cue. Jobs run on the sim pool (each stage starts when its inputs exist; episodes
 * are independent jobs).
 */
import { ConfigError } from "aura-mem/errors";
import { createOps } from "aura-mem/ops/index";
import { STREAM, STREAM_TASK, TASK_INFO } from "./env.js";
import { demoSeeds, EVAL_SEED_BASE, type Demo } from "./demos.js";
import { SIM_ARMS, armFromData, type SimArm, type ArmJobResult, type BaseJobResult } from "./jobs.js";
import { SimPool, type SimRunner } from "./pool.js";
import { clusteredWilson95, median, type ClusteredProportionCi } from "../bench/stats.js";
import { armTrainingFields, checkArms, checkIntOption, checkPipelineOptions, defaultSimOptions, type PipelineOptions } from "./panel.js";
import { armValText, checkDaggerOptions, cloneBase, decoyVisits, DECOY_SEED_BASE, MAX_GOAL_DECOYS, trainArm, type StageHook, type VisitPlan } from "./dagger.js";
import { ARM_ROLES, type ArmRole } from "./goal.js";
import { summariseStream, type StreamArmEpisode, type StreamSummary } from "./stream.js";
import type { StreamTrace } from "./stream_trace.js";

/** Options of the learned cue-stream panel; {@link defaultStreamPanelOptions} has the defaults. */
export interface StreamPanelOptions extends PipelineOptions {
  arms: SimArm[];
  /** Closed-loop episodes per arm and their length (control steps). */
  episodes: number;
  horizon: number;
  /**
   * Seed of the first evaluation episode (episodes are firstEvalSeed + i); default {@link EVAL_SEED_BASE}
   * (1,000,000). Held-out evaluation seeds: a first seed in [1,000,000, 2,000,000 - episodes] or in
   * [3,000,000, 2^31 - episodes], disjoint from every training seed (demonstrations 0 .. n-1, DAgger visits
   * below 1,000,000, goal-role decoys 2,000,000 .. 2,999,999; dagger.ts); {@link checkEvalSeeds}.
   */
  firstEvalSeed: number;
  /** Demonstration streams and their length (10% validate). */
  demos: number;
  demoHorizon: number;
  /** Training window of the memory arms (steps). */
  window: number;
  /** Carried-state training: windows per stream (fast-weight and RNN arms; 1 = fresh memory per window). */
  streamWindows: number;
  /** Diagnostic: the cue stays visible in the demonstrations and the episodes (env ResetOptions.cueAlwaysOn). */
  cueAlwaysOn: boolean;
  /** Fraction of idle demonstration steps the base policy is cloned on (BaseJob.idleKeep; 1 = all). */
  baseIdleKeep: number;
  /**
   * How the memory arms act (src/sim/goal.ts): "residual" (the default) or "goal" (the base cloned with the cue
   * visible throughout, its DAgger visits too; every arm, no-memory included, trained to recall the current
   * cue's goal on windows of the demonstrations and supplying it in the real closed loop).
   */
  armRole: ArmRole;
  /**
   * Also trace evaluation episode `episode` (0-based, default 0: seed firstEvalSeed + episode) of `arm` (one of
   * `arms`), keeping every `every`-th control step (stream_trace.ts); absent: no trace (the default).
   */
  trace?: { arm: SimArm; every: number; episode?: number };
}

/** The short tasks' pipeline defaults (defaultSimOptions), with 600 Adam steps of 16 windows per arm. */
export function defaultStreamPanelOptions(): StreamPanelOptions {
  const { baseHidden, baseEpochs, baseLr, lambdaW, streamRecipe, gateThreshold, seed, robotDir, workers, daggerRounds, armDaggerRounds, goalDecoys } = defaultSimOptions();
  return {
    arms: [...SIM_ARMS],
    episodes: 10,
    horizon: TASK_INFO[STREAM_TASK].horizon,
    firstEvalSeed: EVAL_SEED_BASE,
    demos: 60,
    demoHorizon: 2400,
    window: 800,
    streamWindows: 1,
    baseHidden,
    baseEpochs,
    baseLr,
    armSteps: 600,
    armBatch: 16,
    lambdaW,
    streamRecipe,
    gateThreshold,
    seed,
    robotDir,
    workers,
    cueAlwaysOn: false,
    baseIdleKeep: 1,
    armRole: "residual",
    daggerRounds,
    armDaggerRounds,
    goalDecoys,
  };
}

/**
 * The measured cue-stream panel (docs/sim.md, "Learned arms on cue-stream"), what `aura sim-stream --all`
 * and `npm run bench:sim` run: every arm in the goal role with the cue features, 20 episodes of the default
 * horizon (12,000 steps), 120 demonstration streams with 10% of their idle steps kept for the base, one
 * DAgger round of the base, carried-state training over 3 windows, and AURA trained with the stream recipe
 * (write decay 0.8, the gate's observation-norm input, training thresholds drawn from [0.3, 0.9]) and run at
 * the write threshold 0.5 (lambda_w its role's, DEFAULT_LAMBDA_W; docs/sim.md "The whole panel": 0.845 per
 * cue on the evaluation seeds 1,000,000+, held out on 3,000,000+). Laid over
 * {@link defaultStreamPanelOptions}; in the CLI an option given explicitly wins, except `--arms` (`--all` is
 * every arm).
 */
export function streamPanelRecipe(): Pick<StreamPanelOptions, "arms" | "armRole" | "episodes" | "demos" | "baseIdleKeep" | "daggerRounds" | "streamWindows" | "armSteps" | "streamRecipe" | "gateThreshold"> {
  return { arms: [...SIM_ARMS], armRole: "goal", episodes: 20, demos: 120, baseIdleKeep: 0.1, daggerRounds: 1, streamWindows: 3, armSteps: 600, streamRecipe: true, gateThreshold: 0.5 };
}

/** @throws ConfigError on unknown arms, bad sizes, a window longer than the demos, or no robot. */
export function checkStreamPanelOptions(o: StreamPanelOptions): void {
  checkArms(o.arms);
  const minH = STREAM.firstCue[1] + STREAM.minLast;
  checkIntOption(o, "episodes", 1);
  checkIntOption(o, "horizon", minH);
  checkIntOption(o, "demos", 4);
  checkEvalSeeds(o.firstEvalSeed, o.episodes, o.demos);
  checkIntOption(o, "demoHorizon", minH);
  checkIntOption(o, "window", 1);
  if (!ARM_ROLES.includes(o.armRole)) throw new ConfigError(`armRole must be one of ${ARM_ROLES.join(", ")}, got ${String(o.armRole)}`);
  if (o.armRole === "goal" && o.cueAlwaysOn) throw new ConfigError("the goal role clones the base with the cue visible already; --cue-visible (the diagnostic) is for the residual role");
  checkIntOption(o, "streamWindows", 1);
  checkDaggerOptions(o, o.demos, o.armRole);
  if (!(o.baseIdleKeep >= 0 && o.baseIdleKeep <= 1)) throw new ConfigError(`baseIdleKeep must be in [0, 1], got ${o.baseIdleKeep}`);
  if (o.window > o.demoHorizon) throw new ConfigError(`window ${o.window} is longer than the demonstrations (${o.demoHorizon} steps)`);
  if (o.window * o.streamWindows > o.demoHorizon) throw new ConfigError(`streamWindows x window = ${o.window * o.streamWindows} steps is longer than the demonstrations (${o.demoHorizon} steps)`);
  if (o.trace) {
    if (!o.arms.includes(o.trace.arm)) throw new ConfigError(`trace arm "${o.trace.arm}" is not among the arms (${o.arms.join(", ")})`);
    if (!Number.isInteger(o.trace.every) || o.trace.every < 1) throw new ConfigError(`trace every must be an integer >= 1, got ${o.trace.every}`);
    const ep = o.trace.episode ?? 0;
    if (!Number.isInteger(ep) || ep < 0 || ep >= o.episodes) throw new ConfigError(`trace episode must be an integer in [0, ${o.episodes - 1}] (the evaluation episodes), got ${ep}`);
  }
  checkPipelineOptions(o);
}

/**
 * @throws ConfigError unless the evaluation seeds first .. first + episodes - 1 are integers disjoint from every
 * training seed: inside [EVAL_SEED_BASE, DECOY_SEED_BASE) or at/after DECOY_SEED_BASE + MAX_GOAL_DECOYS
 * (at most 2^31 - 1), and past the `demos` demonstration seeds 0 .. demos - 1.
 */
export function checkEvalSeeds(first: number, episodes: number, demos = 0): void {
  const last = first + episodes - 1;
  const ok = Number.isSafeInteger(first) && first >= demos && ((first >= EVAL_SEED_BASE && last < DECOY_SEED_BASE) || (first >= DECOY_SEED_BASE + MAX_GOAL_DECOYS && last <= 0x7fffffff));
  if (!ok) throw new ConfigError(`evaluation seeds ${first}-${last} must lie in [${EVAL_SEED_BASE}, ${DECOY_SEED_BASE - 1}] or [${DECOY_SEED_BASE + MAX_GOAL_DECOYS}, ${0x7fffffff}], disjoint from the training seeds (demonstrations, DAgger visits, decoys)`);
}

/** One arm's training summary and closed-loop episodes. */
export interface StreamArmRun {
  arm: SimArm;
  train: Omit<ArmJobResult, "arm"> | null;
  params: number;
  episodes: StreamArmEpisode[];
}

export interface StreamPanelRun {
  options: StreamPanelOptions;
  demos: { n: number; steps: number; seconds: number };
  base: Omit<BaseJobResult, "base">;
  arms: Partial<Record<SimArm, StreamArmRun>>;
  evalSeeds: [number, number];
  wallSeconds: number;
  /** The trace of evaluation episode `options.trace.episode` of `options.trace.arm`, when asked for. */
  trace?: StreamTrace;
  /**
   * Goal role: the goal oracle's episodes on the same seeds (the frozen base acting on the true current
   * goal: the ceiling of every goal arm); null in the residual role.
   */
  goalOracle: StreamArmEpisode[] | null;
}

/** Run the learned panel on cue-stream. `onStage(stage, done, total, info)`: "demos" | "base" | "train" | "eval". */
export async function runStreamPanel(
  o: StreamPanelOptions,
  hooks: {
    onStage?(stage: string, done: number, total: number, info?: string): void;
    onWarn?(m: string): void;
    /** Run the jobs here instead of on a local pool of `workers` threads (e.g. a QueueSimPool); the caller closes it. */
    runner?: SimRunner;
  } = {},
): Promise<StreamPanelRun> {
  checkStreamPanelOptions(o);
  const started = Date.now();
  const own = hooks.runner ? null : new SimPool(o.workers, { onWarn: hooks.onWarn });
  const pool: SimRunner = hooks.runner ?? own!;
  try {
    const task = STREAM_TASK;
    const goalRole = o.armRole === "goal";
    const seeds = demoSeeds(o.demos);
    let nDemo = 0;
    const t0 = Date.now();
    const parts = await Promise.all(
      seeds.map(async (s) => {
        const r = (await pool.submit({ kind: "demos", task, seeds: [s], robotDir: o.robotDir, horizon: o.demoHorizon, cueAlwaysOn: o.cueAlwaysOn || goalRole })) as Demo[];
        hooks.onStage?.("demos", ++nDemo, seeds.length);
        return r;
      }),
    );
    const demos = parts.flat();
    const demoSeconds = (Date.now() - t0) / 1000;
    const nVal = Math.max(2, Math.round(demos.length * 0.1));
    const val = demos.slice(0, nVal);
    // the goal role: the base sees the goal throughout (its demonstrations and visits); the arms' visits and episodes are the real closed loop
    const plan: VisitPlan = { task, robotDir: o.robotDir, episodes: o.demos, perJob: 1, horizon: o.demoHorizon, cueAlwaysOn: o.cueAlwaysOn || goalRole };
    const armPlan: VisitPlan = goalRole ? { ...plan, cueAlwaysOn: false, role: "goal" } : plan;
    const stage: StageHook = (st, done, total, info) => hooks.onStage?.(st, done, total, info);
    const { base: baseRes, train: trainSet } = await cloneBase(pool, { train: demos.slice(nVal), val }, { ...o, idleKeep: o.baseIdleKeep }, plan, stage);
    // the goal role's decoy streams (dagger.ts decoyVisits): in every arm's training set, not the base's
        const armTrain = o.goalDecoys > 0 ? [...trainSet, ...(await decoyVisits(pool, armPlan, baseRes.base, o.goalDecoys, stage))] : trainSet;
    const memArms = o.arms.filter((a) => goalRole || a !== "no-memory");
    let trained = 0;
    const training = new Map(
      memArms.map((arm) => [
        arm,
        trainArm(pool, { base: baseRes.base, train: armTrain, val, ...armTrainingFields(o), window: o.window, streamWindows: o.streamWindows, ...(goalRole ? { role: "goal" as const } : {}) }, arm, o.armDaggerRounds, armPlan, stage).then((r) => {
          hooks.onStage?.("train", ++trained, memArms.length, goalRole ? `${arm} ${armValText(r)}` : `${arm} val mse ${r.valMse.toFixed(4)} (base ${r.valMseBase.toFixed(4)})`);
          return r;
        }),
      ]),
    );
    const evalSeeds = Array.from({ length: o.episodes }, (_, i) => o.firstEvalSeed + i);
    let evaluated = 0;
    const ops = createOps("auto", () => undefined);
    // the goal oracle beside the arms, on the same seeds (its jobs queue with theirs)
    const oracle: Promise<StreamArmEpisode[] | null> = goalRole
      ? Promise.all(
          evalSeeds.map(async (seed) => {
            const r = (await pool.submit({ kind: "stream-eval", task, arm: "no-memory", oracleGoal: true, seeds: [seed], horizon: o.horizon, base: baseRes.base, model: null, role: "goal", robotDir: o.robotDir })) as StreamArmEpisode[];
            hooks.onStage?.("eval", ++evaluated, (o.arms.length + 1) * o.episodes, "goal-oracle");
            return r;
          }),
        ).then((r) => r.flat())
      : Promise.resolve(null);
    oracle.catch(() => undefined); // awaited below, after the arms: no unhandled rejection meanwhile
    const evals = await Promise.all(
      o.arms.map(async (arm): Promise<StreamArmRun> => {
        const tr = training.has(arm) ? await training.get(arm)! : null;
        const episodes = (
          await Promise.all(
            evalSeeds.map(async (seed) => {
              const traced = o.trace?.arm === arm && seed === evalSeeds[o.trace.episode ?? 0];
              const r = (await pool.submit({ kind: "stream-eval", task, arm, seeds: [seed], horizon: o.horizon, base: baseRes.base, model: tr ? tr.arm : null, role: o.armRole, robotDir: o.robotDir, cueAlwaysOn: o.cueAlwaysOn, ...(traced ? { trace: { seed, every: o.trace!.every } } : {}) })) as StreamArmEpisode[];
              hooks.onStage?.("eval", ++evaluated, (o.arms.length + (goalRole ? 1 : 0)) * o.episodes, arm);
              return r;
            }),
          )
        ).flat();
        const model = tr ? armFromData(tr.arm, ops) : null;
        return { arm, train: tr ? (({ arm: _a, ...rest }) => rest)(tr) : null, params: model ? model.paramCount() : 0, episodes };
      }),
    );
    const goalOracle = await oracle;
    const arms: StreamPanelRun["arms"] = {};
    for (const e of evals) arms[e.arm] = e;
    const { base: _b, ...baseInfo } = baseRes;
    const out: StreamPanelRun = {
      options: o,
      demos: { n: demos.length, steps: demos.reduce((s, d) => s + d.T, 0), seconds: demoSeconds },
      base: baseInfo,
      arms,
      evalSeeds: [evalSeeds[0]!, evalSeeds[evalSeeds.length - 1]!],
      wallSeconds: (Date.now() - started) / 1000,
      goalOracle,
    };
    // the trace travels beside the episodes, not inside them (the --json summary stays as it was)
    for (const e of evals) {
      for (const ep of e.episodes) {
        if (ep.trace) {
          out.trace = ep.trace;
          delete ep.trace;
        }
      }
    }
    return out;
  } finally {
    await own?.close();
  }
}

/** The per-arm figures of the panel. */
export interface StreamArmSummary extends StreamSummary {
  /** The arm, or "goal-oracle" (goal role: the base on the true goal, {@link StreamPanelRun.goalOracle}). */
  arm: SimArm | "goal-oracle";
  /** Success per cue over the first EARLY_CUES cues of each episode and over the rest (the memory's age). */
  successEarly: ClusteredProportionCi;
  successLate: ClusteredProportionCi | null;
  writesPerEpisode: number;
  writesPerCue: number;
  /** Over all episodes, and in the median episode (a few episodes' write sprees move the mean, not the median). */
  writesPerMinute: number;
  writesPerMinuteMedian: number;
  /** always-write's writes over this arm's (null without always-write or for 0 writes). */
  writeReduction: number | null;
  pWriteCue: number | null;
  pWriteDistractor: number | null;
  stateBytesStart: number;
  stateBytesEnd: number;
  armMsStart: number;
  armMsEnd: number;
}

/** Cues counted as "early" in {@link StreamArmSummary}: about the first two minutes. */
export const EARLY_CUES = 4;

/** Summarise every arm of a panel run, then the goal oracle (goal role). */
export function summariseStreamPanel(run: StreamPanelRun): StreamArmSummary[] {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const runs: { arm: StreamArmSummary["arm"]; episodes: StreamArmEpisode[] }[] = Object.values(run.arms).map((a) => ({ arm: a!.arm, episodes: a!.episodes }));
  if (run.goalOracle) runs.push({ arm: "goal-oracle", episodes: run.goalOracle });
  const rows = runs.map((a): StreamArmSummary => {
    const memoryless = a.arm === "no-memory" || a.arm === "goal-oracle";
    const s = summariseStream(a.episodes);
    const writes = a.episodes.reduce((t, e) => t + e.writes, 0);
    const cw = a.episodes.reduce((t, e) => [t[0] + e.cueWrites[0], t[1] + e.cueWrites[1]], [0, 0]);
    const dw = a.episodes.reduce((t, e) => [t[0] + e.distractorWrites[0], t[1] + e.distractorWrites[1]], [0, 0]);
    const minutes = a.episodes.reduce((t, e) => t + e.horizon / 1200, 0);
    const split = (early: boolean): ClusteredProportionCi | null => {
      const n = a.episodes.map((e) => e.cues.filter((c) => c.cue < EARLY_CUES === early).length);
      if (n.every((k) => k === 0)) return null;
      const k = a.episodes.map((e) => e.cues.filter((c) => c.cue < EARLY_CUES === early && c.success).length);
      return clusteredWilson95(k, n);
    };
    return {
      ...s,
      arm: a.arm,
      successEarly: split(true)!,
      successLate: split(false),
      writesPerEpisode: writes / a.episodes.length,
      writesPerCue: writes / s.cues,
      writesPerMinute: writes / minutes,
      writesPerMinuteMedian: median(a.episodes.map((e) => e.writes / (e.horizon / 1200))),
      writeReduction: null,
      pWriteCue: memoryless ? null : cw[1] ? cw[0] / cw[1] : null,
      pWriteDistractor: memoryless ? null : dw[1] ? dw[0] / dw[1] : null,
      stateBytesStart: mean(a.episodes.map((e) => e.stateBytesStart)),
      stateBytesEnd: mean(a.episodes.map((e) => e.stateBytesEnd)),
      armMsStart: mean(a.episodes.map((e) => e.armMsStart)),
      armMsEnd: mean(a.episodes.map((e) => e.armMsEnd)),
    };
  });
  const aw = rows.find((r) => r.arm === "always-write");
  for (const r of rows) r.writeReduction = aw && r.writesPerEpisode > 0 ? aw.writesPerEpisode / r.writesPerEpisode : null;
  return rows;
}

/** Markdown table of {@link summariseStreamPanel}. */
export function streamPanelTable(rows: StreamArmSummary[]): string {
  const f3 = (x: number | null): string => (x === null ? "–" : x.toFixed(3));
  const out = [
    `| arm | success per cue [Wilson 95%, clustered] | first ${EARLY_CUES} cues | later cues | cues | writes / cue | writes / min (median episode) | write reduction vs always-write | P(write\\|cue) | P(write\\|distractor) | state bytes start -> end | arm step ms start -> end |`,
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.arm} | ${f3(r.success.p)} [${f3(r.success.ci95[0])}, ${f3(r.success.ci95[1])}] | ${f3(r.successEarly.p)} | ${r.successLate ? f3(r.successLate.p) : "–"} | ${r.cues} | ${r.writesPerCue.toFixed(1)} | ${r.writesPerMinute.toFixed(1)} (${r.writesPerMinuteMedian.toFixed(1)}) | ${r.writeReduction === null ? "–" : r.writeReduction.toFixed(1) + "x"} | ${f3(r.pWriteCue)} | ${f3(r.pWriteDistractor)} | ${Math.round(r.stateBytesStart).toLocaleString("en-US")} -> ${Math.round(r.stateBytesEnd).toLocaleString("en-US")} | ${r.armMsStart.toFixed(3)} -> ${r.armMsEnd.toFixed(3)} |`,
    );
  }
  return out.join("\n");
}
