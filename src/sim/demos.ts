/**
 * Demonstrations: the scripted expert rolled out in the environment with DART-style perturbations:
 * the executed action is the expert's plus Gaussian noise, and short excursions (at the decision
 * points and at random times) move towards a decoy (another cube while approaching, the other zone while carrying); the
 * recorded label is always the clean expert action for the true goal. So behaviour cloning sees the
 * states a slightly-off policy visits and how to recover, and the direction the arm is moving in
 * does not give the goal away at the decision points (the goal is only in the cue, hence in memory).
 * And the TrainSource the memory arms are trained on: backbone features of the frozen base along
 * the demos, target = expert action - base action (the residual), every step in the loss.
 */
import type { EpisodeBatch } from "../tasks/types.js";
import type { TrainSource } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import { ConfigError } from "aura-mem/errors";
import { ACTION_DIM, OBS_DIM, POS_SCALE, STREAM_TASK, TASK_INFO, type ResetOptions, type SimTaskName, type TabletopEnv } from "./env.js";
import { ZONE_XY } from "./scene.js";
import { Expert } from "./expert.js";
import type { BasePolicy } from "./policy.js";

/** One demonstration episode. */
export interface Demo {
  task: SimTaskName;
  seed: number;
  T: number;
  /** [T*OBS_DIM] observations. */
  obs: Float32Array;
  /** [T*7] clean expert actions (labels). */
  act: Float32Array;
  /** [T] StepType codes (event = cue shown, distractor = nudge / flicker). */
  stepType: Uint8Array;
  /** [T] index of the current cue's goal (0 .. nGoals - 1) at each step, -1 before the first cue (src/sim/goal.ts). */
  goal: Int16Array;
  success: boolean;
}

/** Perturbations of the executed demo actions (action units; the labels stay clean). */
export const DEMO_NOISE = {
  /** Gaussian noise on (dx, dy, dz) and on the rotation components. */
  pos: 0.2,
  rot: 0.05,
  /** Probability of a decoy excursion at each decision point (after the cue, start of approach / carry). */
  decision: 0.5,
  /** Further decoy excursions per episode at random times; every excursion lasts 4-9 steps. */
  excursions: 1,
};

/**
 * Roll the expert out on episode `seed`; with `perturb`, the executed actions carry the noise and
 * decoy excursions of {@link DEMO_NOISE} (labels are the clean expert actions). cue-stream: `horizon`
 * control steps (default the task's 12,000); its decision points and random excursions come with
 * every cue (the first step after the cue, then the start of every approach and carry, and
 * DEMO_NOISE.excursions at random times between that cue and the next). `opts` go to env.reset.
 */
export function expertEpisode(env: TabletopEnv, task: SimTaskName, seed: number, perturb = true, horizon?: number, opts: ResetOptions = {}): Demo {
  const info = TASK_INFO[task];
  let o = env.reset(task, seed, horizon, opts);
  const plan = env.plan;
  const T = plan.horizon;
  const obs = new Float32Array(T * OBS_DIM);
  const act = new Float32Array(T * ACTION_DIM);
  const stepType = new Uint8Array(T);
  const goal = new Int16Array(T);
  const expert = new Expert(env);
  expert.reset();
  const rng = new Rng((seed * 7919 + 0xde70) >>> 0);
  // excursions at the decision points (the first step without the cue, the start of every approach
  // and carry), each with probability DEMO_NOISE.decision, plus DEMO_NOISE.excursions at random times
  const starts = new Set<number>();
  const cueEnds = new Set<number>();
  if (task !== STREAM_TASK) {
    for (let k = 0; k < DEMO_NOISE.excursions; k++) starts.add(info.cueSteps + rng.int(Math.floor(0.8 * T) - info.cueSteps));
    cueEnds.add(info.cueSteps);
  } else {
    plan.cues.forEach((c, i) => {
      const lo = c.step + info.cueSteps;
      const hi = i + 1 < plan.cues.length ? plan.cues[i + 1]!.step : T;
      cueEnds.add(lo);
      for (let k = 0; k < DEMO_NOISE.excursions; k++) starts.add(lo + rng.int(Math.max(1, Math.floor(0.8 * (hi - lo)))));
    });
  }
  const firstEnd = task !== STREAM_TASK ? info.cueSteps : plan.cues[0]!.step + info.cueSteps;
  let excursion: { left: number; x: number; y: number; phase: string } | null = null;
  let lastPhase = "";
  for (let t = 0; t < T; t++) {
    obs.set(o, t * OBS_DIM);
    stepType[t] = env.stepType;
    goal[t] = currentGoal(env);
    const a = expert.act();
    act.set(a, t * ACTION_DIM);
    const exec = a.slice();
    const decision = cueEnds.has(t) || (t > firstEnd && expert.phase !== lastPhase && (expert.phase === "approach" || expert.phase === "carry"));
    lastPhase = expert.phase;
    if (perturb) {
      if (!excursion && ((decision && rng.uniform() < DEMO_NOISE.decision) || starts.has(t))) excursion = startExcursion(env, expert, rng);
      if (excursion && (excursion.left <= 0 || expert.phase !== excursion.phase)) excursion = null;
      if (excursion) {
        excursion.left--;
        const tcp = env.tcpPos();
        let vx = (excursion.x - tcp[0]) / POS_SCALE;
        let vy = (excursion.y - tcp[1]) / POS_SCALE;
        const n = Math.hypot(vx, vy);
        if (n > 0.8) {
          vx *= 0.8 / n;
          vy *= 0.8 / n;
        }
        exec[0] = vx;
        exec[1] = vy;
      }
      for (let i = 0; i < 3; i++) exec[i] = exec[i]! + DEMO_NOISE.pos * rng.normal();
      for (let i = 3; i < 6; i++) exec[i] = exec[i]! + DEMO_NOISE.rot * rng.normal();
    }
    o = env.step(exec);
  }
  return { task, seed, T, obs, act, stepType, goal, success: env.success() };
}

/** Index of the current cue's goal (env.plan.cues[env.cueIndex].goalIndex), -1 before the first cue. */
export function currentGoal(env: TabletopEnv): number {
  return env.cueIndex >= 0 ? env.plan.cues[env.cueIndex]!.goalIndex : -1;
}

/**
 * On-policy data (DAgger, Ross et al. 2011): roll out `act(obs)` (the learner), label every visited state
 * with the scripted expert's action for the true goal; with probability `beta` per step the expert's action
 * is executed instead (beta = 0: the learner's states only). `act` is called on every observation in order,
 * so a stateful learner (the base plus a memory arm) keeps its memory over the whole episode. The Demo holds
 * the visited observations and the expert labels.
 */
export function learnerEpisode(
  env: TabletopEnv,
  task: SimTaskName,
  seed: number,
  act: (obs: Float32Array) => ArrayLike<number>,
  o: { horizon?: number; beta?: number; reset?: ResetOptions } = {},
): Demo {
  let obs = env.reset(task, seed, o.horizon, o.reset ?? {});
  const T = env.horizon;
  const out = new Float32Array(T * OBS_DIM);
  const lab = new Float32Array(T * ACTION_DIM);
  const stepType = new Uint8Array(T);
  const goal = new Int16Array(T);
  const expert = new Expert(env);
  expert.reset();
  const rng = new Rng((seed * 104729 + 0xda66) >>> 0);
  const beta = o.beta ?? 0;
  for (let t = 0; t < T; t++) {
    out.set(obs, t * OBS_DIM);
    stepType[t] = env.stepType;
    goal[t] = currentGoal(env);
    const a = expert.act();
    lab.set(a, t * ACTION_DIM);
    // the learner sees every observation, also where the expert's action is executed (a memory arm's state must
    // follow the whole stream)
    const own = Array.from(act(obs));
    const exec = beta > 0 && rng.uniform() < beta ? a : own;
    obs = env.step(exec);
  }
  return { task, seed, T, obs: out, act: lab, stepType, goal, success: env.success() };
}

/** A decoy excursion for the expert's current phase: another cube while approaching, the other zone while carrying. */
function startExcursion(env: TabletopEnv, expert: Expert, rng: Rng): { left: number; x: number; y: number; phase: string } | null {
  const goal = env.goal;
  const len = 4 + rng.int(6);
  if (expert.phase === "approach") {
    const target = goal.cubes[expert.k];
    const others = [0, 1, 2].filter((c) => c !== target);
    const p = env.cubePose(others[rng.int(others.length)]!);
    return { left: len, x: p[0], y: p[1], phase: "approach" };
  }
  if (expert.phase === "carry" || expert.phase === "lift") {
    const zone = goal.zones[expert.k] ?? 0;
    const [x, y] = ZONE_XY[1 - zone]!;
    return { left: len, x, y, phase: expert.phase };
  }
  return null;
}

/** Demo seeds of a task: 0 .. n-1 (evaluation seeds start at EVAL_SEED_BASE, disjoint). */
export function demoSeeds(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** First evaluation seed (evaluation episodes are EVAL_SEED_BASE + i). */
export const EVAL_SEED_BASE = 1_000_000;

/** Features of the frozen base along a demo: z [T*hidden], base action [T*7]. */
export function demoFeatures(base: BasePolicy, d: Demo): { z: Float32Array; baseAct: Float32Array } {
  const { z, action } = base.forward(d.obs, d.T);
  return { z, baseAct: action };
}

/**
 * The memory arms' training data: z from the frozen base along each demo, target = expert - base
 * action, loss on every step. `val` episodes form the validation split (the trainer keeps the best
 * validation MSE); "test" returns the same episodes (only "val" is used by train()).
 * With `window` W (long cue-stream demos): a training episode is a window of W consecutive steps of a
 * demo at a uniformly drawn offset (fresh memory at its start: truncated BPTT over W steps), and the
 * validation set is every demo cut into consecutive W-step windows. Carried-state training
 * (`streamWindows` > 1) reads `sampleStream` streams of consecutive windows from one demo.
 * @throws ConfigError on no demos, demos of different lengths (without a window) or shorter than W.
 */
export function residualSource(base: BasePolicy, train: Demo[], val: Demo[], opts: { window?: number } = {}): TrainSource {
  if (train.length === 0 || val.length === 0) throw new ConfigError("need at least one training and one validation demo");
  if (opts.window !== undefined) return windowedSource(base, train, val, opts.window);
  const T = train[0]!.T;
  const H = base.hidden;
  const feat = (ds: Demo[]): DemoRows[] =>
    ds.map((d) => {
      if (d.T !== T) throw new ConfigError("demos of one task must share T");
      return demoRows(base, d);
    });
  const tr = feat(train);
  const va = feat(val);
  const batchOf = (rows: typeof tr): EpisodeBatch => residualBatch(rows.map((r) => ({ r, off: 0 })), T, H);
  return {
    kind: "continuous",
    metric: "mse",
    dAction: ACTION_DIM,
    metricScale: 1,
    sample(rng: Rng, B: number): EpisodeBatch {
      return batchOf(Array.from({ length: B }, () => tr[rng.int(tr.length)]!));
    },
    evalSet(_split: "val" | "test", batchSize: number): EpisodeBatch[] {
      const out: EpisodeBatch[] = [];
      for (let i = 0; i < va.length; i += batchSize) out.push(batchOf(va.slice(i, i + batchSize)));
      return out;
    },
  };
}


/** Features and residual targets of whole demos, cut into W-step windows on demand (residualSource's window mode). */
function windowedSource(base: BasePolicy, train: Demo[], val: Demo[], W: number): TrainSource {
  if (!Number.isInteger(W) || W < 1) throw new ConfigError(`window must be a positive integer, got ${W}`);
  const H = base.hidden;
  const feat = (d: Demo): DemoRows => {
    if (d.T < W) throw new ConfigError(`demo ${d.seed} has ${d.T} steps, shorter than the window ${W}`);
    return demoRows(base, d);
  };
  const tr = train.map(feat);
  const va = val.map(feat);
  const batchOf = (rows: { r: (typeof tr)[number]; off: number }[]): EpisodeBatch => residualBatch(rows, W, H);
  const valRows = va.flatMap((r) => Array.from({ length: Math.floor(r.T / W) }, (_, k) => ({ r, off: k * W })));
  const longest = Math.max(...tr.map((r) => r.T));
  return {
    kind: "continuous",
    metric: "mse",
    dAction: ACTION_DIM,
    metricScale: 1,
    horizon: W,
    // carried-state training (TrainOptions.streamWindows): `length` consecutive steps of a demo at least that long
    sampleStream(rng: Rng, length: number): EpisodeBatch {
      if (length > longest) throw new ConfigError(`a stream of ${length} steps is longer than every demonstration (${longest} steps)`);
      const fit = tr.filter((r) => r.T >= length);
      const r = fit[rng.int(fit.length)]!;
      return residualBatch([{ r, off: rng.int(r.T - length + 1) }], length, H);
    },
    sample(rng: Rng, B: number): EpisodeBatch {
      return batchOf(
        Array.from({ length: B }, () => {
          const r = tr[rng.int(tr.length)]!;
          return { r, off: rng.int(r.T - W + 1) };
        }),
      );
    },
    evalSet(_split: "val" | "test", batchSize: number): EpisodeBatch[] {
      const out: EpisodeBatch[] = [];
      for (let i = 0; i < valRows.length; i += batchSize) out.push(batchOf(valRows.slice(i, i + batchSize)));
      return out;
    },
  };
}

/** Residual features of one demo: T steps, z [T*H], target [T*7] = expert - base action, step types [T]. */
interface DemoRows {
  T: number;
  z: Float32Array;
  target: Float32Array;
  stepType: Uint8Array;
}

function demoRows(base: BasePolicy, d: Demo): DemoRows {
  const { z, baseAct } = demoFeatures(base, d);
  const target = new Float32Array(d.T * ACTION_DIM);
  for (let i = 0; i < target.length; i++) target[i] = d.act[i]! - baseAct[i]!;
  return { T: d.T, z, target, stepType: d.stepType };
}

/** A batch of `rows.length` episodes of L steps: steps [off, off + L) of each row's demo, every step in the loss. */
function residualBatch(rows: readonly { r: DemoRows; off: number }[], L: number, H: number): EpisodeBatch {
  const B = rows.length;
  const batch: EpisodeBatch = {
    B,
    T: L,
    dModel: H,
    z: new Float32Array(B * L * H),
    label: null,
    target: new Float32Array(B * L * ACTION_DIM),
    lossMask: new Float32Array(B * L).fill(1),
    evalMask: new Float32Array(B * L).fill(1),
    stepType: new Uint8Array(B * L),
  };
  rows.forEach(({ r, off }, b) => {
    batch.z.set(r.z.subarray(off * H, (off + L) * H), b * L * H);
    batch.target!.set(r.target.subarray(off * ACTION_DIM, (off + L) * ACTION_DIM), b * L * ACTION_DIM);
    batch.stepType.set(r.stepType.subarray(off, off + L), b * L);
  });
  return batch;
}
