/**
 * The units of work of `aura sim`, runnable in a worker thread or in-process: collect demos, train
 * the base policy, train one memory arm, evaluate one arm on a range of episodes. Inputs and
 * outputs are structured-clone friendly (typed arrays, plain objects).
 */
import { MemoryConfig, STREAM_GATE_NORM, STREAM_GATE_THRESHOLD, STREAM_TRAIN_GATE_BAND, STREAM_WRITE_DECAY, type MemoryConfigInit } from "aura-mem/config";
import type { Ops } from "aura-mem/ops/index";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel, type ArmName } from "aura-mem/model/model";
import { train, type TrainOptions } from "aura-mem/train/train";
import { ConfigError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import { ACTION_DIM, TabletopEnv, type SimTaskName } from "./env.js";
import { currentGoal, expertEpisode, learnerEpisode, residualSource, type Demo } from "./demos.js";
import { BasePolicy, type BasePolicyData } from "./policy.js";
import { runEpisode, stepArm, type EpisodeOutcome, type SimTrace } from "./rollout.js";
import { runStreamEpisode, runStreamArmEpisode, type StreamArmEpisode, type StreamEpisode, type StreamPolicy } from "./stream.js";
import { actOnGoal, decoyGoals, goalArmDim, goalClasses, goalSource, stepGoalArm, type ArmRole } from "./goal.js";
import { defaultKvConfig, kvCacheBytesFn, type StreamTraceOptions } from "./stream_trace.js";

/**
 * The arms of the closed-loop panel, in report order. kv-window keeps the last 16 (key, value) pairs
 * (the library's default window, armSpec): 16 x (dKey + dVal) x 4 B = 4,096 B at dKey = dVal = 32, the
 * byte-matched attention baseline beside AURA's 4,224 B.
 */
export const SIM_ARMS = ["no-memory", "always-write", "aura", "kv-cache", "kv-window", "gru"] as const;
export type SimArm = (typeof SIM_ARMS)[number];
export function isSimArm(s: string): s is SimArm {
  return (SIM_ARMS as readonly string[]).includes(s);
}

/** A trained memory arm in plain form. */
export interface ArmData {
  arm: ArmName;
  config: Required<MemoryConfigInit>;
  rnnHidden: number;
  window: number;
  writeRate: number;
  tau: number;
  params: Record<string, { shape: number[]; data: Float32Array }>;
}

export function armToData(m: SequenceModel): ArmData {
  const params: ArmData["params"] = {};
  for (const [k, v] of Object.entries(m.params)) params[k] = { shape: [...v.shape], data: v.data.slice() };
  const s = m.spec;
  return { arm: s.arm, config: s.config.toJSON(), rnnHidden: s.rnnHidden, window: s.window, writeRate: s.writeRate, tau: m.tau, params };
}

export function armFromData(d: ArmData, ops: Ops): SequenceModel {
  const m = new SequenceModel(
    { arm: d.arm, config: new MemoryConfig(d.config), rnnHidden: d.rnnHidden, window: d.window, writeRate: d.writeRate, tau: d.tau },
    ops,
  );
  for (const [k, v] of Object.entries(d.params)) {
    const p = m.params[k];
    if (!p || p.data.length !== v.data.length) throw new ConfigError(`arm ${d.arm}: parameter ${k} does not match`);
    p.data.set(v.data);
  }
  m.paramsChanged();
  return m;
}

export interface DemoJob {
  kind: "demos";
  task: SimTaskName;
  seeds: number[];
  robotDir: string;
  /** Perturbed demonstrations (training data) or the clean expert (default true). */
  perturb?: boolean;
  /** cue-stream: control steps per demonstration (default the task's). */
  horizon?: number;
  /** Diagnostic: the cue stays visible (env ResetOptions.cueAlwaysOn). */
  cueAlwaysOn?: boolean;
}

export interface BaseJob {
  kind: "base";
  task: SimTaskName;
  train: Demo[];
  val: Demo[];
  hidden: number;
  epochs: number;
  lr: number;
  seed: number;
  /**
   * Fraction of the idle training steps kept for behaviour cloning (default 1 = all): steps whose expert
   * label moves and turns the TCP by less than IDLE_ACTION (holding the home pose between cues), drawn
   * with the seed. Long cue-stream demos are mostly idle.
   */
  idleKeep?: number;
}

/** Below this norm of the label's translation and of its rotation (action units) a step counts as idle. */
export const IDLE_ACTION = 0.05;

/** Keep every non-idle row of (obs, act) and a `keep` fraction of the idle ones (deterministic for `seed`). */
export function dropIdle(obs: Float32Array, act: Float32Array, keep: number, seed: number): { obs: Float32Array; act: Float32Array } {
  if (!(keep >= 0 && keep <= 1)) throw new ConfigError(`idleKeep must be in [0, 1], got ${keep}`);
  if (keep === 1) return { obs, act };
  const n = act.length / ACTION_DIM;
  const D = obs.length / n;
  const rng = new Rng((seed * 31 + 0x1d1e) >>> 0);
  const rows: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = act.subarray(i * ACTION_DIM, (i + 1) * ACTION_DIM);
    const idle = Math.hypot(a[0]!, a[1]!, a[2]!) < IDLE_ACTION && Math.hypot(a[3]!, a[4]!, a[5]!) < IDLE_ACTION;
    if (!idle || rng.uniform() < keep) rows.push(i);
  }
  const o = new Float32Array(rows.length * D);
  const y = new Float32Array(rows.length * ACTION_DIM);
  rows.forEach((i, k) => {
    o.set(obs.subarray(i * D, (i + 1) * D), k * D);
    y.set(act.subarray(i * ACTION_DIM, (i + 1) * ACTION_DIM), k * ACTION_DIM);
  });
  return { obs: o, act: y };
}
export interface BaseJobResult {
  base: BasePolicyData;
  trainMse: number;
  valMse: number;
  bestEpoch: number;
  seconds: number;
}

export interface ArmJob {
  kind: "arm";
  task: SimTaskName;
  /** Any memory arm; no-memory only in the goal role (a memoryless goal predictor). */
  arm: SimArm;
  /** How the arm acts (src/sim/goal.ts): a residual on the base's action (default) or the goal it supplies. */
  role?: ArmRole;
  base: BasePolicyData;
  train: Demo[];
  val: Demo[];
  steps: number;
  batchSize: number;
  /** Write-sparsity weight (AURA only). */
  lambdaW: number;
  /**
   * AURA only: train and run it with the ess benchmarks' stream recipe (docs/method.md "Horizon";
   * aura-mem/config): write decay STREAM_WRITE_DECAY (0.8) where the gate writes, the gate's observation-norm
   * input (STREAM_GATE_NORM), training thresholds drawn from STREAM_TRAIN_GATE_BAND ([0.3, 0.9]) and the
   * deployment threshold STREAM_GATE_THRESHOLD (0.7) in the arm's MemoryConfig, so its evaluation runs with
   * them too; validation during training at 0.5 as in the bench. The learning rate stays train()'s (3e-3,
   * not the ess bench's STREAM_LR). Default false. {@link armGateSettings}.
   */
  streamRecipe?: boolean;
  /**
   * AURA only: its deployment write threshold on p (MemoryConfig.gateThreshold, so evaluation runs with it;
   * default 0.5, or 0.7 with streamRecipe). Training and its validation stay at 0.5
   * (TrainOptions.trainGateThreshold; the recipe's band draws the training thresholds): {@link armGateSettings}.
   */
  gateThreshold?: number;
  seed: number;
  /** Train on windows of this many steps of the demos (cue-stream); default whole demos. */
  window?: number;
  /** Carried-state training over this many consecutive windows of a demo (fast-weight and RNN arms; default 1). */
  streamWindows?: number;
}
export interface ArmJobResult {
  arm: ArmData;
  params: number;
  seconds: number;
  stepsRun: number;
  bestStep: number;
  /** Residual role: validation MSE of the residual, and of a zero residual (= the base alone) for comparison; NaN in the goal role. */
  valMse: number;
  valMseBase: number;
  /** Goal role: validation accuracy of the recalled goal where it must be recalled (steps after the cue); null in the residual role. */
  valAccuracy: number | null;
  valWritesPerEpisode: number;
}

export interface EvalJob {
  kind: "eval";
  task: SimTaskName;
  arm: SimArm;
  /** How `model` (and `companion`) act (default residual). */
  role?: ArmRole;
  /** Goal role, no model: the base acts on the true goal (ArmPolicy.oracleGoal). */
  oracleGoal?: boolean;
  seeds: number[];
  base: BasePolicyData;
  model: ArmData | null;
  /** Full-history arm for the AIS estimate (aura jobs). */
  companion: ArmData | null;
  /** Seeds whose trace is returned. */
  traceSeeds: number[];
  probeEvery: number;
  robotDir: string;
}
export interface EvalJobResult {
  episodes: EpisodeOutcome[];
  traces: SimTrace[];
}

/** cue-stream episodes of a scripted reference policy (stream.ts). */
export interface StreamJob {
  kind: "stream";
  task: "cue-stream";
  policy: StreamPolicy;
  seeds: number[];
  horizon: number;
  robotDir: string;
}

/** cue-stream episodes of one learned arm on the frozen base (stream.ts). */
export interface StreamEvalJob {
  kind: "stream-eval";
  task: "cue-stream";
  arm: SimArm;
  seeds: number[];
  horizon: number;
  base: BasePolicyData;
  model: ArmData | null;
  /** How `model` acts (default residual; src/sim/goal.ts). */
  role?: ArmRole;
  /** Goal role, no model: the base acts on the true current goal (ArmPolicy.oracleGoal). */
  oracleGoal?: boolean;
  robotDir: string;
  /** Diagnostic: the cue stays visible (env ResetOptions.cueAlwaysOn). */
  cueAlwaysOn?: boolean;
  /**
   * Return a downsampled trace (stream_trace.ts) of the episode of `seed` (one of `seeds`), keeping
   * every `every`-th control step; its KV-cache comparison uses the arm's MemoryConfig (no-memory:
   * the panel's arm config on the base's features).
   */
  trace?: { seed: number; every: number };
}

/**
 * On-policy data (DAgger): rollouts of the base policy, or of the base plus a memory arm's residual (the
 * arm's state carried over the whole episode), every visited state labelled by the expert (demos.ts learnerEpisode).
 */
export interface VisitJob {
  kind: "visit";
  task: SimTaskName;
  seeds: number[];
  horizon?: number;
  base: BasePolicyData;
  /** The memory arm whose residual is added to the base's action, or that supplies the goal (`role`); absent or null: the base alone. */
  model?: ArmData | null;
  role?: ArmRole;
  /** Probability of executing the expert's action instead of the learner's. */
  beta: number;
  /**
   * Goal role, no model: the base acts on a wrong goal filled into the empty cue channel (goal.ts
   * `decoyGoals`; dagger.ts `decoyVisits`); the episode is labelled with the true goal as always.
   */
  decoyGoal?: boolean;
  cueAlwaysOn?: boolean;
  robotDir: string;
}

export type SimJob = VisitJob | DemoJob | BaseJob | ArmJob | EvalJob | StreamJob | StreamEvalJob;
export type SimJobResult = Demo[] | BaseJobResult | ArmJobResult | EvalJobResult | StreamEpisode[] | StreamArmEpisode[];

/** Per-thread resources: the environments (one per robot directory, plus a probe copy) and the ops. */
export class SimContext {
  private readonly envs = new Map<string, Promise<TabletopEnv>>();
  constructor(readonly ops: Ops) {}
  env(robotDir: string, which: "main" | "probe" = "main"): Promise<TabletopEnv> {
    const key = `${which}|${robotDir}`;
    let e = this.envs.get(key);
    if (!e) {
      e = TabletopEnv.create(robotDir);
      this.envs.set(key, e);
    }
    return e;
  }
  async dispose(): Promise<void> {
    for (const e of this.envs.values()) (await e).dispose();
    this.envs.clear();
  }
}

function concat(ds: Demo[], k: "obs" | "act"): Float32Array {
  const n = ds.reduce((s, d) => s + d[k].length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const d of ds) {
    out.set(d[k], o);
    o += d[k].length;
  }
  return out;
}

/**
 * The gate settings an arm job trains and runs with (ArmJob.streamRecipe, ArmJob.gateThreshold): what goes
 * into the arm's MemoryConfig (so evaluation and DAgger visits run with it) and into train(). AURA only;
 * every other arm gets none. As the bench does (src/bench/jobs.ts), a deployment threshold other than 0.5
 * leaves training and its validation (the checkpoint kept) at 0.5, the recipe's band drawing the training
 * thresholds.
 */
export function armGateSettings(job: Pick<ArmJob, "arm" | "streamRecipe" | "gateThreshold">): {
  memory: Pick<MemoryConfigInit, "writeDecay" | "gateNorm" | "gateThreshold">;
  train: Pick<TrainOptions, "trainGateThresholdRange" | "trainGateThreshold"> | Record<string, never>;
} {
  if (job.arm !== "aura") return { memory: {}, train: {} };
  const recipe = job.streamRecipe === true;
  const memory = {
    ...(recipe ? { writeDecay: STREAM_WRITE_DECAY, gateNorm: STREAM_GATE_NORM, gateThreshold: STREAM_GATE_THRESHOLD } : {}),
    ...(job.gateThreshold !== undefined ? { gateThreshold: job.gateThreshold } : {}),
  };
  if (!recipe && job.gateThreshold === undefined) return { memory, train: {} };
  return { memory, train: { trainGateThreshold: 0.5, trainGateThresholdRange: recipe ? STREAM_TRAIN_GATE_BAND : null } };
}

/** Run one job. `progress(done, total)` reports within-job progress. */
export async function runSimJob(job: SimJob, ctx: SimContext, progress?: (done: number, total: number) => void): Promise<SimJobResult> {
  switch (job.kind) {
    case "demos": {
      const env = await ctx.env(job.robotDir);
      const out: Demo[] = [];
      for (const s of job.seeds) {
        out.push(expertEpisode(env, job.task, s, job.perturb ?? true, job.horizon, { cueAlwaysOn: job.cueAlwaysOn ?? false }));
        progress?.(out.length, job.seeds.length);
      }
      return out;
    }
    case "visit": {
      const env = await ctx.env(job.robotDir);
      const base = new BasePolicy(ctx.ops, job.base);
      const model = job.model ? armFromData(job.model, ctx.ops) : null;
      const out: Demo[] = [];
      for (const s of job.seeds) {
        let state = model ? model.initState(1) : null;
        const decoy = job.decoyGoal ? decoyGoals(job.task, s) : null;
        const act = (o: Float32Array): Float32Array => {
          if (decoy) return actOnGoal(job.task, base, o, decoy(currentGoal(env)));
          if (model && state && job.role === "goal") {
            const r = stepGoalArm(job.task, base, model, o, state);
            state = r.state;
            return r.action;
          }
          const { z, action } = base.forward(o, 1);
          if (!model || !state) return action;
          const r = stepArm(model, z, state);
          state = r.state;
          return action.map((v, i) => v + r.out[i]!);
        };
        out.push(learnerEpisode(env, job.task, s, act, { horizon: job.horizon, beta: job.beta, reset: { cueAlwaysOn: job.cueAlwaysOn ?? false } }));
        progress?.(out.length, job.seeds.length);
      }
      return out;
    }
    case "base": {
      const t0 = performance.now();
      const base = new BasePolicy(ctx.ops, { hidden: job.hidden, seed: job.seed });
      const tr = dropIdle(concat(job.train, "obs"), concat(job.train, "act"), job.idleKeep ?? 1, job.seed);
      const r = base.train(tr.obs, tr.act, concat(job.val, "obs"), concat(job.val, "act"), {
        epochs: job.epochs,
        batchSize: 256,
        lr: job.lr,
        seed: job.seed,
        onEpoch: (e, n) => progress?.(e, n),
      });
      return {
        base: base.toData(),
        trainMse: r.trainMse[r.bestEpoch - 1]!,
        valMse: r.valMse[r.bestEpoch - 1]!,
        bestEpoch: r.bestEpoch,
        seconds: (performance.now() - t0) / 1000,
      } satisfies BaseJobResult;
    }
    case "arm": {
      const base = new BasePolicy(ctx.ops, job.base);
      const goal = job.role === "goal";
      if (!goal && job.arm === "no-memory") throw new ConfigError("the no-memory arm is trained only in the goal role (in the residual role it is the base alone)");
      const win = job.window !== undefined ? { window: job.window } : {};
      const source = goal ? goalSource(base, job.train, job.val, job.task, win) : residualSource(base, job.train, job.val, win);
      const gate = armGateSettings(job);
      const config = goal
        ? new MemoryConfig({ dModel: goalArmDim(base), dAction: goalClasses(job.task), actionKind: "discrete", seed: job.seed, ...gate.memory })
        : new MemoryConfig({ dModel: base.hidden, dAction: ACTION_DIM, actionKind: "continuous", seed: job.seed, ...gate.memory });
      const model = new SequenceModel(armSpec(job.arm, config), ctx.ops);
      const tr = train(model, source, {
        steps: job.steps,
        batchSize: job.batchSize,
        lambdaW: job.lambdaW,
        ...gate.train,
        seed: job.seed,
        ...(job.streamWindows !== undefined ? { streamWindows: job.streamWindows } : {}),
        evalEvery: Math.max(1, Math.floor(job.steps / 6)),
        evalBatchSize: 32,
        onStep: (i) => progress?.(i.step, i.steps),
      });
      let se = 0;
      let n = 0;
      if (!goal) for (const b of source.evalSet("val", 64)) for (const v of b.target!) (se += v * v), n++;
      return {
        arm: armToData(model),
        params: model.paramCount(),
        seconds: tr.timeMs / 1000,
        stepsRun: tr.stepsRun,
        bestStep: tr.bestStep,
        valMse: goal ? NaN : tr.val.metric,
        valMseBase: goal ? NaN : se / n,
        valAccuracy: goal ? tr.val.metric : null,
        valWritesPerEpisode: tr.val.writesPerEpisode,
      } satisfies ArmJobResult;
    }
    case "eval": {
      const env = await ctx.env(job.robotDir);
      const probe = job.companion ? await ctx.env(job.robotDir, "probe") : undefined;
      const base = new BasePolicy(ctx.ops, job.base);
      const model = job.model ? armFromData(job.model, ctx.ops) : null;
      const companion = job.companion ? armFromData(job.companion, ctx.ops) : undefined;
      const episodes: EpisodeOutcome[] = [];
      const traces: SimTrace[] = [];
      for (const seed of job.seeds) {
        const o = runEpisode(env, job.task, seed, base, { name: job.oracleGoal ? "goal-oracle" : job.arm, model, role: job.role ?? "residual", oracleGoal: job.oracleGoal ?? false }, {
          trace: job.traceSeeds.includes(seed),
          companion,
          probeEnv: probe,
          probeEvery: job.probeEvery,
        });
        if (o.trace) traces.push(o.trace);
        delete o.trace;
        episodes.push(o);
        progress?.(episodes.length, job.seeds.length);
      }
      return { episodes, traces } satisfies EvalJobResult;
    }
    case "stream": {
      const env = await ctx.env(job.robotDir);
      const out: StreamEpisode[] = [];
      for (const seed of job.seeds) {
        out.push(runStreamEpisode(env, seed, job.horizon, job.policy));
        progress?.(out.length, job.seeds.length);
      }
      return out;
    }
    case "stream-eval": {
      const env = await ctx.env(job.robotDir);
      const base = new BasePolicy(ctx.ops, job.base);
      const model = job.model ? armFromData(job.model, ctx.ops) : null;
      const out: StreamArmEpisode[] = [];
      let trace: StreamTraceOptions | undefined;
      if (job.trace) {
        const config = model ? model.spec.config : defaultKvConfig(base.hidden, ACTION_DIM);
        trace = { every: job.trace.every, kvBytes: kvCacheBytesFn(config, ctx.ops), kvDims: { dKey: config.dKey, dVal: config.dVal } };
      }
      for (const seed of job.seeds) {
        out.push(runStreamArmEpisode(env, seed, job.horizon, base, { name: job.oracleGoal ? "goal-oracle" : job.arm, model, role: job.role ?? "residual", oracleGoal: job.oracleGoal ?? false }, { cueAlwaysOn: job.cueAlwaysOn ?? false }, seed === job.trace?.seed ? trace : undefined));
        progress?.(out.length, job.seeds.length);
      }
      return out;
    }
  }
}
