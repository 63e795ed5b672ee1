/**
 * The goal role of a memory arm (`aura sim --arm-role goal`; docs/sim.md, "Memory arms"). The default role
 * adds the arm's output to a frozen base that never sees the goal (a residual, trained on the action error).
 * In the goal role the frozen base is cloned with the cue visible throughout (it acts on the goal's
 * spotlights), and the memory arm supplies the goal: at each control step it reads the base's features of
 * the real observation (the cue is visible only while it is shown) and the observation's cue features
 * ({@link cueFeatures}: which cube or zone each spotlight is on), outputs logits over the task's goals
 * (trained by cross-entropy on the cued goal: recall), and where the observation's cue channel is empty it
 * is filled with the spotlights of the arm's most likely goal on the cubes' current positions; the base acts
 * on that. Where a cue or a flicker is shown the real channel is kept, as in the base's training data.
 * The arm is trained on goal recall, not on the action error: a deviation from the paper's objective that
 * the docs state.
 */
import type { EpisodeBatch } from "../tasks/types.js";
import { StepType } from "../tasks/types.js";
import type { TrainSource } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import type { MemoryState, SequenceModel } from "aura-mem/model/model";
import { ConfigError } from "aura-mem/errors";
import { CUE_DIM, OBS_DIM, OBS_LAYOUT, STREAM_TASK, TASK_INFO, cueShown, cueVector, goalOf, spotToTable, type SimTaskName } from "./env.js";
import { CUBES, ZONE_XY } from "./scene.js";
import type { Demo } from "./demos.js";
import type { BasePolicy } from "./policy.js";

/** How a memory arm acts on the frozen base: its output added to the base's action, or the goal it supplies. */
export type ArmRole = "residual" | "goal";
export const ARM_ROLES: readonly ArmRole[] = ["residual", "goal"];

/**
 * Observations [T*OBS_DIM] as the robot sees them without the cue-visible diagnostic: a copy with the cue
 * channel zeroed at background steps (where only the diagnostic shows it). Idempotent on real observations.
 * @throws ConfigError unless obs has stepType.length * OBS_DIM values.
 */
export function hideCue(obs: Float32Array, stepType: Uint8Array): Float32Array {
  if (obs.length !== stepType.length * OBS_DIM) throw new ConfigError(`hideCue: ${obs.length} observation values for ${stepType.length} steps of ${OBS_DIM}`);
  const out = obs.slice();
  for (let t = 0; t < stepType.length; t++) if (stepType[t] === StepType.background) out.fill(0, t * OBS_DIM + OBS_LAYOUT.cue, t * OBS_DIM + OBS_LAYOUT.cue + CUE_DIM);
  return out;
}

/**
 * Classes of a goal arm's output: the task's goals, plus on cue-stream a last class "no cue yet" (before the
 * first cue the base holds the home pose on an empty channel; the short tasks cue at step 0).
 */
export function goalClasses(task: SimTaskName): number {
  return TASK_INFO[task].nGoals + (task === STREAM_TASK ? 1 : 0);
}

/**
 * One observation [OBS_DIM] with its cue channel naming goal `goal` (the spotlights of that goal on the
 * cubes' current positions, `on` = 1) where the channel is empty; the input itself where a cue or a
 * flicker is shown (any non-zero value in the channel) or where `goal` is the "no cue yet" class (or -1, the
 * environment's `currentGoal` before the first cue).
 */
export function withGoal(task: SimTaskName, obs: Float32Array, goal: number): Float32Array {
  if (goal < 0 || goal >= TASK_INFO[task].nGoals || cueShown(obs)) return obs;
  const cubeXY = [0, 1, 2].map((k) => [obs[OBS_LAYOUT.cubes + 7 * k]!, obs[OBS_LAYOUT.cubes + 7 * k + 1]!]);
  const out = obs.slice();
  out.set(cueVector(task, goalOf(task, goal), cubeXY), OBS_LAYOUT.cue);
  return out;
}

/**
 * The wrong goals of a decoy episode (dagger.ts `decoyVisits`): a function from the true current goal (-1
 * before the first cue) to the goal the base is given: -1 (nothing) before the first cue, else a goal drawn
 * uniformly among the task's other goals, drawn again whenever the true goal changes. Deterministic in `seed`.
 */
export function decoyGoals(task: SimTaskName, seed: number): (trueGoal: number) => number {
  const n = TASK_INFO[task].nGoals;
  const rng = new Rng((seed * 2654435761 + 0xdec0) >>> 0);
  let last = -1;
  let decoy = -1;
  return (g: number): number => {
    if (g < 0) return -1;
    if (g !== last) {
      last = g;
      decoy = (g + 1 + rng.int(n - 1)) % n;
    }
    return decoy;
  };
}

/** Index of the largest logit (the first on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/**
 * The frozen base's action [ACTION_DIM] on `obs` with goal `goal` filled into its empty cue channel ({@link withGoal}):
 * how every goal-role policy acts, whatever gives the goal (an arm's recall, the true goal of the oracle, a decoy).
 */
export function actOnGoal(task: SimTaskName, base: BasePolicy, obs: Float32Array, goal: number): Float32Array {
  return base.forward(withGoal(task, obs, goal), 1).action;
}

/** Values of {@link cueFeatures}: the cue's `on` bit, then per spotlight a one-hot over [cube 0, 1, 2, zone 0, 1]. */
export const CUE_FEATURES = 1 + 2 * (CUBES.length + ZONE_XY.length);
/** A spotlight within this distance (m, on the table) of a cube's or a zone's centre is on it. */
const SPOT_MATCH = 0.03;

/**
 * The cue features of one observation [OBS_DIM] (values [CUE_FEATURES]): the cue channel's `on` bit, then for
 * each of its two spotlights which cubes (at their current positions) and which zones it is on (1 within
 * 3 cm of the centre, else 0). All zero where no cue or flicker is shown. The spotlights sit at random
 * table positions (the goal's cubes are placed at random every episode), so the goal is a relation between
 * the cue channel and the cubes, not a linear function of the observation (bench/goal_probe.ts measures it);
 * these features make it one, for every arm alike. A hand-built perception feature of the goal role (any
 * robot that sees a highlighted object knows which object it is), not part of the paper's method: docs/sim.md.
 */
export function cueFeatures(obs: Float32Array, offset = 0): Float32Array {
  const out = new Float32Array(CUE_FEATURES);
  if (!cueShown(obs, offset)) return out;
  const c = offset + OBS_LAYOUT.cue;
  out[0] = obs[c]!;
  const targets: (readonly number[])[] = [...CUBES.map((_, k) => [obs[offset + OBS_LAYOUT.cubes + 7 * k]!, obs[offset + OBS_LAYOUT.cubes + 7 * k + 1]!]), ...ZONE_XY];
  for (let s = 0; s < 2; s++) {
    const [x, y] = spotToTable(obs[c + 1 + 2 * s]!, obs[c + 2 + 2 * s]!);
    targets.forEach(([tx, ty], k) => {
      if (Math.hypot(x - tx!, y - ty!) <= SPOT_MATCH) out[1 + s * targets.length + k] = 1;
    });
  }
  return out;
}

/** Width of a goal arm's input: the base's features and the cue features. */
export function goalArmDim(base: BasePolicy): number {
  return base.hidden + CUE_FEATURES;
}

/**
 * A goal arm's input [T*goalArmDim(base)] row-major for `T` observations [T*OBS_DIM]: per step the base's
 * features z [hidden] then {@link cueFeatures} [CUE_FEATURES].
 * @throws ConfigError unless obs has T * OBS_DIM values.
 */
export function goalArmInput(base: BasePolicy, obs: Float32Array, T: number): Float32Array {
  if (obs.length !== T * OBS_DIM) throw new ConfigError(`goalArmInput: ${obs.length} observation values for ${T} steps of ${OBS_DIM}`);
  const H = base.hidden;
  const D = H + CUE_FEATURES;
  const { z } = base.forward(obs, T);
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    out.set(z.subarray(t * H, (t + 1) * H), t * D);
    out.set(cueFeatures(obs, t * OBS_DIM), t * D + H);
  }
  return out;
}

/** One control tick in the goal role: the arm's goal from its input on `obs` ({@link goalArmInput}), then the base's action on the observation carrying it. */
export function stepGoalArm(
  task: SimTaskName,
  base: BasePolicy,
  model: SequenceModel,
  obs: Float32Array,
  state: MemoryState,
): { action: Float32Array; goal: number; g: number; p: number; state: MemoryState } {
  const fr = model.forward(goalArmInput(base, obs, 1), 1, 1, { initialState: state, validate: false });
  const goal = argmax(fr.out);
  const action = actOnGoal(task, base, obs, goal);
  return { action, goal, g: fr.g[0]!, p: fr.p[0]!, state: fr.finalState };
}

interface GoalRows {
  T: number;
  z: Float32Array;
  goal: Int16Array;
  stepType: Uint8Array;
}

/**
 * The memory arms' training data in the goal role: z = {@link goalArmInput} of the real observations
 * (cue hidden outside its steps, {@link hideCue}), label = the current cue's goal ({@link goalClasses}: on
 * cue-stream the steps before the first cue are the "no cue yet" class), accuracy read where the goal must be
 * recalled (labelled steps without the cue). Whole demos (the short tasks), or with `window` W (cue-stream)
 * W-step windows at random offsets, the validation set every demo cut into consecutive windows, and
 * `sampleStream` segments for carried-state training; a segment that does not start at its demo's first
 * step is in the loss (and the metric) only from its first cue on: before it, the goal was shown where the
 * segment's memory never was. `val` is the validation split ("test" returns it too).
 * @throws ConfigError on no demos, demos of different lengths (without a window) or shorter than the window.
 */
export function goalSource(base: BasePolicy, train: Demo[], val: Demo[], task: SimTaskName, opts: { window?: number } = {}): TrainSource {
  if (train.length === 0 || val.length === 0) throw new ConfigError("need at least one training and one validation demo");
  const W = opts.window;
  if (W !== undefined && !(Number.isInteger(W) && W >= 1)) throw new ConfigError(`window must be a positive integer, got ${W}`);
  const classes = goalClasses(task);
  const none = TASK_INFO[task].nGoals < classes ? TASK_INFO[task].nGoals : -1;
  const T0 = train[0]!.T;
  const H = goalArmDim(base);
  const rows = (ds: Demo[]): GoalRows[] =>
    ds.map((d) => {
      if (W === undefined && d.T !== T0) throw new ConfigError("demos of one task must share T");
      if (W !== undefined && d.T < W) throw new ConfigError(`demo ${d.seed} has ${d.T} steps, shorter than the window ${W}`);
      return { T: d.T, z: goalArmInput(base, hideCue(d.obs, d.stepType), d.T), goal: d.goal, stepType: d.stepType };
    });
  const tr = rows(train);
  const va = rows(val);
  const L = W ?? T0;
  const batchOf = (segs: readonly { r: GoalRows; off: number }[], len: number): EpisodeBatch => {
    const B = segs.length;
    const b: EpisodeBatch = {
      B,
      T: len,
      dModel: H,
      z: new Float32Array(B * len * H),
      label: new Int32Array(B * len).fill(-1),
      target: null,
      lossMask: new Float32Array(B * len),
      evalMask: new Float32Array(B * len),
      stepType: new Uint8Array(B * len),
    };
    segs.forEach(({ r, off }, k) => {
      b.z.set(r.z.subarray(off * H, (off + len) * H), k * len * H);
      b.stepType.set(r.stepType.subarray(off, off + len), k * len);
      let seen = off === 0;
      for (let t = 0; t < len; t++) {
        const st = r.stepType[off + t]!;
        if (st === StepType.event) seen = true;
        if (!seen) continue;
        const y = r.goal[off + t]! >= 0 ? r.goal[off + t]! : none;
        if (y < 0) continue;
        const i = k * len + t;
        b.label![i] = y;
        b.lossMask[i] = 1;
        if (st !== StepType.event) b.evalMask[i] = 1;
      }
    });
    return b;
  };
  const valSegs = va.flatMap((r) => Array.from({ length: Math.floor(r.T / L) }, (_, k) => ({ r, off: k * L })));
  const longest = Math.max(...tr.map((r) => r.T));
  return {
    kind: "discrete",
    metric: "accuracy",
    dAction: classes,
    metricScale: 1,
    ...(W !== undefined
      ? {
          horizon: W,
          sampleStream(rng: Rng, length: number): EpisodeBatch {
            if (length > longest) throw new ConfigError(`a stream of ${length} steps is longer than every demonstration (${longest} steps)`);
            const fit = tr.filter((r) => r.T >= length);
            const r = fit[rng.int(fit.length)]!;
            return batchOf([{ r, off: rng.int(r.T - length + 1) }], length);
          },
        }
      : {}),
    sample(rng: Rng, B: number): EpisodeBatch {
      return batchOf(
        Array.from({ length: B }, () => {
          const r = tr[rng.int(tr.length)]!;
          return { r, off: W === undefined ? 0 : rng.int(r.T - W + 1) };
        }),
        L,
      );
    },
    evalSet(_split: "val" | "test", batchSize: number): EpisodeBatch[] {
      const out: EpisodeBatch[] = [];
      for (let i = 0; i < valSegs.length; i += batchSize) out.push(batchOf(valSegs.slice(i, i + batchSize), L));
      return out;
    },
  };
}
