/**
 * The goal role of a memory arm (`aura sim --arm-role goal`; docs/sim.md, "Memory arms"). The default role
 * adds the arm's output to a frozen base that never sees the goal (a residual, trained on the action error).
 * In the goal role the frozen base is cloned with the cue visible throughout (it acts on the goal's
 * spotlights), and the memory arm supplies the goal: at each control step it reads the base's features of
 * the real observation (the cue is visible only while it is shown), outputs logits over the task's goals
 * (trained by cross-entropy on the cued goal: recall), and where the observation's cue channel is empty it
 * is filled with the spotlights of the arm's most likely goal on the cubes' current positions; the base acts
 * on that. Where a cue or a flicker is shown the real channel is kept, as in the base's training data.
 * The arm is trained on goal recall, not on the action error: a deviation from the paper's objective that
 * the docs state.
 */
import type { EpisodeBatch } from "../tasks/types.js";
import { StepType } from "../tasks/types.js";
import type { TrainSource } from "aura-mem/train/train";
import type { Rng } from "aura-mem/util/rng";
import type { MemoryState, SequenceModel } from "aura-mem/model/model";
import { ConfigError } from "aura-mem/errors";
import { CUE_DIM, OBS_DIM, OBS_LAYOUT, cueVector, goalOf, type SimTaskName } from "./env.js";
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
 * One observation [OBS_DIM] with its cue channel naming goal `goal` (the spotlights of that goal on the
 * cubes' current positions, `on` = 1) where the channel is empty; the input itself where a cue or a
 * flicker is shown (any non-zero value in the channel).
 */
export function withGoal(task: SimTaskName, obs: Float32Array, goal: number): Float32Array {
  const c = OBS_LAYOUT.cue;
  for (let i = 0; i < CUE_DIM; i++) if (obs[c + i] !== 0) return obs;
  const cubeXY = [0, 1, 2].map((k) => [obs[OBS_LAYOUT.cubes + 7 * k]!, obs[OBS_LAYOUT.cubes + 7 * k + 1]!]);
  const out = obs.slice();
  out.set(cueVector(task, goalOf(task, goal), cubeXY), c);
  return out;
}

/** Index of the largest logit (the first on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** One control tick in the goal role: the arm's goal from the features of `obs`, then the base's action on the observation carrying it. */
export function stepGoalArm(
  task: SimTaskName,
  base: BasePolicy,
  model: SequenceModel,
  obs: Float32Array,
  state: MemoryState,
): { action: Float32Array; z: Float32Array; goal: number; g: number; p: number; state: MemoryState } {
  const { z } = base.forward(obs, 1);
  const fr = model.forward(z, 1, 1, { initialState: state, validate: false });
  const goal = argmax(fr.out);
  const { action } = base.forward(withGoal(task, obs, goal), 1);
  return { action, z, goal, g: fr.g[0]!, p: fr.p[0]!, state: fr.finalState };
}

interface GoalRows {
  T: number;
  z: Float32Array;
  goal: Int16Array;
  stepType: Uint8Array;
}

/**
 * The memory arms' training data in the goal role: z = the frozen base's features of the real observations
 * (cue hidden outside its steps, {@link hideCue}), label = the current cue's goal, in the loss from the
 * first cue on; accuracy is read where the goal must be recalled (labelled steps without the cue).
 * `val` is the validation split ("test" returns it too).
 * @throws ConfigError on no demos or demos of different lengths.
 */
export function goalSource(base: BasePolicy, train: Demo[], val: Demo[], nGoals: number): TrainSource {
  if (train.length === 0 || val.length === 0) throw new ConfigError("need at least one training and one validation demo");
  const T = train[0]!.T;
  const H = base.hidden;
  const rows = (ds: Demo[]): GoalRows[] =>
    ds.map((d) => {
      if (d.T !== T) throw new ConfigError("demos of one task must share T");
      return { T, z: base.forward(hideCue(d.obs, d.stepType), d.T).z, goal: d.goal, stepType: d.stepType };
    });
  const tr = rows(train);
  const va = rows(val);
  const batchOf = (rs: readonly GoalRows[]): EpisodeBatch => {
    const B = rs.length;
    const b: EpisodeBatch = {
      B,
      T,
      dModel: H,
      z: new Float32Array(B * T * H),
      label: new Int32Array(B * T).fill(-1),
      target: null,
      lossMask: new Float32Array(B * T),
      evalMask: new Float32Array(B * T),
      stepType: new Uint8Array(B * T),
    };
    rs.forEach((r, k) => {
      b.z.set(r.z, k * T * H);
      b.stepType.set(r.stepType, k * T);
      for (let t = 0; t < T; t++) {
        const y = r.goal[t]!;
        if (y < 0) continue;
        b.label![k * T + t] = y;
        b.lossMask[k * T + t] = 1;
        if (r.stepType[t] !== StepType.event) b.evalMask[k * T + t] = 1;
      }
    });
    return b;
  };
  return {
    kind: "discrete",
    metric: "accuracy",
    dAction: nGoals,
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
