/**
 * The closed-loop environment: the Menagerie Franka Panda on a table with three cubes and two target
 * zones in MuJoCo (WebAssembly), a 20 Hz policy over 500 Hz physics (25 substeps per control step).
 *
 * Action (LIBERO's 7-D format, each in [-1, 1]): (dx, dy, dz, droll, dpitch, dyaw, gripper).
 *   The commanded TCP pose moves by (dx, dy, dz) * POS_SCALE metres and rotates by
 *   (droll, dpitch, dyaw) * ROT_SCALE radians (world-frame rotation vector); gripper > 0 closes,
 *   <= 0 opens. The commanded pose is mapped to joint targets of the 7 position actuators by
 *   damped-least-squares IK (ik.ts); the gripper actuator gets 0 (closed) or 255 (open).
 * Observation (OBS_DIM = 61 floats, see OBS_LAYOUT): joint positions (9) and velocities (9), gripper
 *   width, TCP position and quaternion, the three cube poses, the cubes relative to the TCP, and a
 *   5-D cue channel [on, s1x, s1y, s2x, s2y]: two spotlights on the table, non-zero only while a cue
 *   (or a flicker, with on = 0) is shown. cue-place and cue-stream light the target cube (s1) and the
 *   target zone (s2); cue-sequence lights the first cube (s1) and the second cube (s2). Spot
 *   coordinates are in table units: ((x - 0.5) / 0.1, y / 0.1).
 * Tasks: the short episodes of the n = 60 panel (cue-place, 8 s; cue-sequence, 15 s; one cue at the
 *   start) and cue-stream, one continual episode (default 12,000 control steps = 10 min, no reset)
 *   with a new cue every 20-40 s (docs/sim.md, "cue-stream").
 * Everything is deterministic given (task, seed): same seed -> same trajectory for the same actions.
 */
import type { MainModule, MjData, MjModel } from "@mujoco/mujoco";
import { ConfigError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import { StepType, type StepTypeCode } from "../tasks/types.js";
import { loadScene } from "./mujoco.js";
import { CUBES, CUBE_HALF, PHYSICS_DT, ZONE_RADIUS, ZONE_XY } from "./scene.js";
import { Ik, HOME_Q } from "./ik.js";
import { clamp, matToQuat, qexp, qmul, qnormalize, rotErr, type Quat, type Vec3 } from "./math.js";

/** The short-episode tasks of the n = 60 panel (`aura sim --all`). */
export const SIM_TASKS = ["cue-place", "cue-sequence"] as const;
/** The continual task: one non-resetting episode of many minutes with a cue every 20-40 s. */
export const STREAM_TASK = "cue-stream" as const;
export type PanelTaskName = (typeof SIM_TASKS)[number];
export type SimTaskName = PanelTaskName | typeof STREAM_TASK;

/** Whether `s` names a task of the short-episode panel (cue-place, cue-sequence). */
export function isSimTask(s: string): s is PanelTaskName {
  return (SIM_TASKS as readonly string[]).includes(s);
}

/** Constants of a task. */
export interface SimTaskInfo {
  name: SimTaskName;
  /** Control steps per episode (20 Hz). */
  horizon: number;
  /** Control steps at the start during which the cue is shown. */
  cueSteps: number;
  /** Number of distinct goals a cue can name. */
  nGoals: number;
  /** One line for reports. */
  description: string;
}

export const TASK_INFO: Record<SimTaskName, SimTaskInfo> = {
  "cue-place": {
    name: "cue-place",
    horizon: 160,
    cueSteps: 6,
    nGoals: 6,
    description: "the cue names one of 3 cubes and one of 2 zones; pick that cube and place it in that zone",
  },
  "cue-sequence": {
    name: "cue-sequence",
    horizon: 300,
    cueSteps: 6,
    nGoals: 6,
    description: "the cue names two of 3 cubes in order; place the first in zone A, then the second in zone B",
  },
  "cue-stream": {
    name: "cue-stream",
    horizon: 12000,
    cueSteps: 6,
    nGoals: 6,
    description: "one 10-minute episode without a reset; every 20-40 s a cue names one of 3 cubes and one of 2 zones: put that cube there, then go on",
  },
};

/**
 * The cue-stream schedule (control steps at 20 Hz). The first cue comes in [firstCue[0], firstCue[1]);
 * each next one `gap` steps after the previous (uniform integer in [gap[0], gap[1]], 20-40 s) while at
 * least `minLast` steps remain for it. Between two cues: `flickersPerCue` two-step flickers (the
 * spotlights on a random cube and zone with `on` = 0) and `nudgesPerCue` nudges of a cube that is not the
 * current target and rests on the table outside the zones, none within `quiet` steps after a cue's first
 * step or `quietBefore` steps before the next. At every cue after the first, cubes resting in a zone
 * (or knocked off the table) are put back on a free spot of the spawn region before the cue is shown
 * (someone clears the zones), so every cue starts from empty zones.
 */
export const STREAM = {
  firstCue: [20, 100] as const,
  gap: [400, 800] as const,
  minLast: 400,
  flickersPerCue: 2,
  nudgesPerCue: 1,
  quiet: 40,
  quietBefore: 20,
} as const;

/** Check a task name. @throws ConfigError naming the valid tasks. */
export function simTask(name: string): SimTaskInfo {
  if (!isSimTask(name) && name !== STREAM_TASK) throw new ConfigError(`unknown sim task "${name}" (valid: ${[...SIM_TASKS, STREAM_TASK].join(", ")})`);
  return TASK_INFO[name as SimTaskName];
}

export const CONTROL_HZ = 20;
/** Physics steps per control step (0.05 s / 0.002 s). */
export const SUBSTEPS = Math.round(1 / CONTROL_HZ / PHYSICS_DT);
/** Metres of commanded TCP motion per unit of (dx, dy, dz) per control step. */
export const POS_SCALE = 0.02;
/** Radians of commanded TCP rotation per unit of (droll, dpitch, dyaw) per control step. */
export const ROT_SCALE = 0.1;
export const ACTION_DIM = 7;
/** Offsets of the observation fields. */
export const OBS_LAYOUT = {
  q: 0, // 9: 7 arm joints + 2 finger slides (rad, m)
  qvel: 9, // 9
  width: 18, // 1: finger gap (m)
  tcpPos: 19, // 3
  tcpQuat: 22, // 4 (w, x, y, z), w >= 0
  cubes: 26, // 3 x 7: position + quaternion
  cubesRel: 47, // 3 x 3: cube position - TCP position
  cue: 56, // 5: [on, s1x, s1y, s2x, s2y]
} as const;
export const OBS_DIM = 61;
export const CUE_DIM = 5;

/** Commanded TCP workspace (m): the IK target is clamped into this box. */
const WORKSPACE = { lo: [0.25, -0.4, 0.012] as Vec3, hi: [0.8, 0.4, 0.45] as Vec3 };
/** The commanded position may lead the measured TCP by at most this (m) (no wind-up). */
const MAX_LEAD = 0.04;
/** The commanded orientation may lead the measured one by at most this (rad). */
const MAX_ROT_LEAD = 0.3;
/** Cube spawn region (centre x, y) and minimum centre distance. */
const SPAWN = { x: [0.38, 0.66], y: [-0.24, -0.02], minDist: 0.085 };

/** A goal: cube `cubes[i]` must end in zone `zones[i]`; every other cube in no zone. */
export interface Goal {
  cubes: number[];
  zones: number[];
}

/** Options of {@link TabletopEnv.reset}. */
export interface ResetOptions {
  /**
   * Diagnostic: after a cue the cue channel keeps showing it (on = 1) until the next cue, except during
   * a flicker; step types are unchanged. Tells the motor skill from the memory: a policy that succeeds
   * with the cue visible and fails without it lacks the memory, not the skill.
   */
  cueAlwaysOn?: boolean;
}

/** One cue of an episode: shown on control steps [step, step + cueSteps). */
export interface CueEvent {
  step: number;
  /** 0-based id of the goal among the task's nGoals (the cue's content). */
  goalIndex: number;
  goal: Goal;
}

/** Everything an episode draws from its seed before it starts. */
export interface EpisodePlan {
  task: SimTaskName;
  seed: number;
  /** Control steps of the episode. */
  horizon: number;
  /** Cube (x, y, yaw). */
  cubes: [number, number, number][];
  /** The first cue's goal (the only one of cue-place / cue-sequence). */
  goal: Goal;
  /** 0-based id of the first cue's goal among the task's nGoals. */
  goalIndex: number;
  /** Every cue in time order (cue-place / cue-sequence: one, at step 0). */
  cues: CueEvent[];
  /** Step at whose start a non-target cube is nudged (the first nudge of a stream), or -1. */
  nudgeStep: number;
  /** First of the two steps with an irrelevant cue flicker (the first flicker of a stream). */
  flickerStep: number;
  /** Every nudge step, in time order. */
  nudges: number[];
  /** Every flicker's first step, in time order (each flicker lasts two steps). */
  flickers: number[];
  /** Initial arm joint offsets from the home pose (rad). */
  armNoise: number[];
}

/** The goal before the first cue of a stream: nothing to place. */
const NO_GOAL: Goal = Object.freeze({ cubes: [], zones: [] }) as unknown as Goal;

/** All ordered pairs of distinct cubes, the cue-sequence goals. */
const PAIRS: [number, number][] = [
  [0, 1],
  [0, 2],
  [1, 0],
  [1, 2],
  [2, 0],
  [2, 1],
];

/** Goal of a task by index (cue-place and cue-stream: cube floor(index / 2) to zone index % 2). */
export function goalOf(task: SimTaskName, index: number): Goal {
  if (task !== "cue-sequence") return { cubes: [Math.floor(index / 2)], zones: [index % 2] };
  const [a, b] = PAIRS[index]!;
  return { cubes: [a, b], zones: [0, 1] };
}

/** A table position in the cue channel's units. */
export function spot(x: number, y: number): [number, number] {
  return [(x - 0.5) / 0.1, y / 0.1];
}

/** The inverse of {@link spot}: a position in the cue channel's units back to metres on the table. */
export function spotToTable(sx: number, sy: number): [number, number] {
  return [0.5 + 0.1 * sx, 0.1 * sy];
}

/** True where the cue channel of the observation at `offset` shows something (a cue or a flicker: any non-zero value). */
export function cueShown(obs: Float32Array, offset = 0): boolean {
  for (let i = 0; i < CUE_DIM; i++) if (obs[offset + OBS_LAYOUT.cue + i] !== 0) return true;
  return false;
}

/**
 * Cue channel [on, s1x, s1y, s2x, s2y] lighting `goal` given the cube (x, y) positions: cue-place
 * lights the cube and its zone, cue-sequence the first and the second cube.
 */
export function cueVector(task: SimTaskName, goal: Goal, cubeXY: readonly (readonly number[])[], on = 1): number[] {
  const c1 = cubeXY[goal.cubes[0]!]!;
  const s2 = task !== "cue-sequence" ? ZONE_XY[goal.zones[0]!]! : cubeXY[goal.cubes[1]!]!;
  return [on, ...spot(c1[0]!, c1[1]!), ...spot(s2[0]!, s2[1]!)];
}

/** A free cube spot (x, y, yaw) in the spawn region, at least SPAWN.minDist from every spot in `taken`. */
function freeSpot(rng: Rng, taken: readonly (readonly number[])[]): [number, number, number] {
  for (;;) {
    const x = SPAWN.x[0] + rng.uniform() * (SPAWN.x[1] - SPAWN.x[0]);
    const y = SPAWN.y[0] + rng.uniform() * (SPAWN.y[1] - SPAWN.y[0]);
    if (taken.every((c) => Math.hypot(c[0]! - x, c[1]! - y) >= SPAWN.minDist)) return [x, y, (rng.uniform() - 0.5) * 0.3];
  }
}

/**
 * Draw the plan of episode `seed` (deterministic). `horizon` sets the length of a cue-stream episode
 * (default 12,000 control steps; at least STREAM.firstCue[1] + STREAM.minLast); the short tasks have
 * their own fixed horizon.
 * @throws ConfigError on an unknown task or a horizon given for a short task / too short for a stream.
 */
export function planEpisode(task: SimTaskName, seed: number, horizon?: number): EpisodePlan {
  const info = simTask(task);
  if (task === STREAM_TASK) return planStream(seed, horizon ?? info.horizon);
  if (horizon !== undefined && horizon !== info.horizon) throw new ConfigError(`${task} has a fixed horizon of ${info.horizon} steps (got ${horizon}); only cue-stream takes one`);
  const rng = new Rng((seed * 2654435761 + (task === "cue-place" ? 11 : 23)) >>> 0);
  const cubes: [number, number, number][] = [];
  while (cubes.length < CUBES.length) cubes.push(freeSpot(rng, cubes));
  const goalIndex = rng.int(info.nGoals);
  const T = info.horizon;
  const nudgeStep = Math.floor(T * 0.25 + rng.uniform() * T * 0.3);
  let flickerStep = Math.floor(T * 0.15 + rng.uniform() * T * 0.7);
  if (Math.abs(flickerStep - nudgeStep) < 3) flickerStep = nudgeStep + 3;
  const armNoise = Array.from({ length: 7 }, () => (rng.uniform() - 0.5) * 0.06);
  const goal = goalOf(task, goalIndex);
  return {
    task,
    seed,
    horizon: T,
    cubes,
    goal,
    goalIndex,
    cues: [{ step: 0, goalIndex, goal }],
    nudgeStep,
    flickerStep,
    nudges: [nudgeStep],
    flickers: [flickerStep],
    armNoise,
  };
}

/** The cue-stream plan: cue schedule, flickers and nudges between cues (STREAM). */
function planStream(seed: number, T: number): EpisodePlan {
  const task = STREAM_TASK;
  const info = TASK_INFO[task];
  if (!Number.isInteger(T) || T < STREAM.firstCue[1] + STREAM.minLast) {
    throw new ConfigError(`cue-stream horizon must be an integer >= ${STREAM.firstCue[1] + STREAM.minLast} control steps, got ${T}`);
  }
  const rng = new Rng((seed * 2654435761 + 37) >>> 0);
  const cubes: [number, number, number][] = [];
  while (cubes.length < CUBES.length) cubes.push(freeSpot(rng, cubes));
  const cues: CueEvent[] = [];
  for (let step = STREAM.firstCue[0] + rng.int(STREAM.firstCue[1] - STREAM.firstCue[0]); step + STREAM.minLast <= T; ) {
    const goalIndex = rng.int(info.nGoals);
    cues.push({ step, goalIndex, goal: goalOf(task, goalIndex) });
    step += STREAM.gap[0] + rng.int(STREAM.gap[1] - STREAM.gap[0] + 1);
  }
  const flickers: number[] = [];
  const nudges: number[] = [];
  for (let i = 0; i < cues.length; i++) {
    const lo = cues[i]!.step + STREAM.quiet;
    const hi = (i + 1 < cues.length ? cues[i + 1]!.step : T) - STREAM.quietBefore;
    // distinct steps at least 3 apart (a flicker lasts 2), drawn from [lo, hi)
    const used: number[] = [];
    const draw = (): number => {
      for (;;) {
        const s = lo + rng.int(hi - lo);
        if (used.every((u) => Math.abs(u - s) >= 3)) {
          used.push(s);
          return s;
        }
      }
    };
    for (let k = 0; k < STREAM.flickersPerCue; k++) flickers.push(draw());
    for (let k = 0; k < STREAM.nudgesPerCue; k++) nudges.push(draw());
  }
  flickers.sort((a, b) => a - b);
  nudges.sort((a, b) => a - b);
  const armNoise = Array.from({ length: 7 }, () => (rng.uniform() - 0.5) * 0.06);
  const first = cues[0]!;
  return {
    task,
    seed,
    horizon: T,
    cubes,
    goal: first.goal,
    goalIndex: first.goalIndex,
    cues,
    nudgeStep: nudges[0] ?? -1,
    flickerStep: flickers[0] ?? -1,
    nudges,
    flickers,
    armNoise,
  };
}

/** The outcome of one cue of a stream, scored on the state just before the next cue (or at the end). */
export interface CueOutcome {
  /** Index of the cue in the plan. */
  cue: number;
  /** Control step at which the cue was shown first, and the step at which it was scored. */
  step: number;
  scoredAt: number;
  goalIndex: number;
  /** The cued cube rests in the cued zone and no other cube lies in a zone. */
  success: boolean;
  /** The cued cube rests in the cued zone (whatever else lies in the zones). */
  placed: boolean;
}

/** One cube pose [x, y, z, qw, qx, qy, qz]. */
export type Pose7 = [number, number, number, number, number, number, number];

export { HOME_Q };
/** TCP position of the start configuration (m). */
export const READY_POS: Vec3 = [0.5, 0, 0.22];

/**
 * The tabletop environment. One instance owns one MuJoCo model + data; reuse it across episodes
 * with {@link reset}. Not thread-safe (one per worker).
 */
export class TabletopEnv {
  readonly mj: MainModule;
  readonly model: MjModel;
  private readonly data: MjData;
  private readonly ik: Ik;
  private readonly tcpSite: number;
  private readonly cubeQ: number[];
  private readonly cubeV: number[];
  private plan_: EpisodePlan | null = null;
  private t_ = 0;
  private cmdPos: Vec3 = [0, 0, 0];
  private cmdQuat: Quat = [1, 0, 0, 0];
  private qCmd: number[] = HOME_Q.slice();
  private gripperClosed = false;
  private stepType_: StepTypeCode = StepType.background;
  private cue_: number[] = new Array(CUE_DIM).fill(0);
  private cueCode_ = 0;
  private rng: Rng = new Rng(0);
  /** Index of the current cue in plan.cues (-1 before the first). */
  private cueIndex_ = -1;
  private nudgeAt = new Set<number>();
  private flickerAt = new Set<number>();
  private outcomes: CueOutcome[] = [];
  private cueAlwaysOn = false;
  /** Whether the planned nudge happened (it is skipped when no displacement is free; a stream: the last one). */
  nudged = false;
  /** Nudges that happened so far (a stream has several). */
  nudgeCount = 0;
  /** Orientation of the TCP at the home pose: pointing down, fingers closing along world x. */
  readonly downQuat: Quat;
  /** Start configuration: TCP at READY_POS pointing down (IK from the home keyframe). */
  readonly readyQ: number[];

  private constructor(mj: MainModule, model: MjModel) {
    this.mj = mj;
    this.model = model;
    model.opt.enableflags = model.opt.enableflags | mj.mjtEnableBit.mjENBL_SLEEP.value;
    this.data = new mj.MjData(model);
    this.ik = new Ik(mj, model);
    this.tcpSite = mj.mj_name2id(model, mj.mjtObj.mjOBJ_SITE.value, "tcp");
    if (this.tcpSite < 0) throw new ConfigError("scene has no tcp site");
    this.cubeQ = [];
    this.cubeV = [];
    for (const c of CUBES) {
      const j = mj.mj_name2id(model, mj.mjtObj.mjOBJ_JOINT.value, `${c}_joint`);
      this.cubeQ.push(model.jnt_qposadr[j]);
      this.cubeV.push(model.jnt_dofadr[j]);
    }
    this.downQuat = this.ik.fk(HOME_Q).quat;
    this.readyQ = this.ik.solve(READY_POS, this.downQuat, HOME_Q, 200).q;
  }

  /** Load the scene around the Panda in `robotDir`. @throws ConfigError if it is missing or broken. */
  static async create(robotDir: string): Promise<TabletopEnv> {
    const { mj, model } = await loadScene(robotDir);
    return new TabletopEnv(mj, model);
  }

  /** Free the MuJoCo objects. */
  dispose(): void {
    this.ik.dispose();
    this.data.delete();
    this.model.delete();
  }

  get plan(): EpisodePlan {
    if (!this.plan_) throw new ConfigError("call reset() first");
    return this.plan_;
  }
  /** Control step of the current observation (0 after reset). */
  get t(): number {
    return this.t_;
  }
  /** Step type of the current observation: event (cue shown), distractor (nudge, flicker) or background. */
  get stepType(): StepTypeCode {
    return this.stepType_;
  }
  /** Cue shown now, for traces: 1 + goal index while the cue is on, -1 during a flicker, else 0. */
  get cueCode(): number {
    return this.cueCode_;
  }
  /** Control steps of the episode (the plan's horizon). */
  get horizon(): number {
    return this.plan.horizon;
  }
  /** Index of the current cue in plan.cues: the last one shown at or before this step (-1 before the first). */
  get cueIndex(): number {
    return this.cueIndex_;
  }
  /** The goal of the current cue (no cubes before the first cue of a stream). */
  get goal(): Goal {
    return this.cueIndex_ >= 0 ? this.plan.cues[this.cueIndex_]!.goal : NO_GOAL;
  }
  /**
   * The scored cues so far: every cue is scored on the state just before the next cue is shown, and
   * the last one at the end of the episode (after the final step). A copy.
   */
  cueOutcomes(): CueOutcome[] {
    return this.outcomes.map((o) => ({ ...o }));
  }
  get done(): boolean {
    return this.t_ >= this.horizon;
  }

  /**
   * Start episode `seed` of `task` (`horizon`: the length of a cue-stream episode, default 12,000
   * control steps; `opts.cueAlwaysOn`: the diagnostic in which the cue stays visible); returns the first
   * observation.
   * @throws ConfigError on an unknown task or a bad horizon (planEpisode).
   */
  reset(task: SimTaskName, seed: number, horizon?: number, opts: ResetOptions = {}): Float32Array {
    const plan = planEpisode(task, seed, horizon);
    this.plan_ = plan;
    this.cueAlwaysOn = opts.cueAlwaysOn ?? false;
    this.cueIndex_ = -1;
    this.nudgeAt = new Set(plan.nudges);
    this.flickerAt = new Set(plan.flickers);
    this.outcomes = [];
    this.nudgeCount = 0;
    this.rng = new Rng((seed ^ 0x5eed1e55) >>> 0);
    const { mj, model, data } = this;
    mj.mj_resetData(model, data);
    const q = data.qpos;
    for (let i = 0; i < 7; i++) q[i] = this.readyQ[i]! + plan.armNoise[i]!;
    q[7] = 0.04;
    q[8] = 0.04;
    plan.cubes.forEach(([x, y, yaw], i) => this.setCube(i, x, y, CUBE_HALF, yaw));
    for (let i = 0; i < 7; i++) data.ctrl[i] = q[i];
    data.ctrl[7] = 255;
    mj.mj_forward(model, data);
    this.qCmd = Array.from({ length: 7 }, (_, i) => q[i] as number);
    this.cmdPos = this.tcpPos();
    this.cmdQuat = this.tcpQuat();
    this.gripperClosed = false;
    this.t_ = 0;
    this.nudged = false;
    this.updateCue();
    return this.observe();
  }

  /**
   * Make this environment an exact copy of `other`'s current state (physics and controller), for
   * one-step "what if" probes (the AIS estimate) that leave `other` untouched. Both must run the
   * same scene. The probe's own random stream is not copied: do not probe across a distractor step.
   */
  copyFrom(other: TabletopEnv): void {
    const a = this.data;
    const b = other.data;
    a.qpos.set(b.qpos);
    a.qvel.set(b.qvel);
    a.ctrl.set(b.ctrl);
    a.qacc_warmstart.set(b.qacc_warmstart);
    a.time = b.time;
    this.mj.mj_forward(this.model, a);
    this.plan_ = other.plan;
    this.t_ = other.t_;
    this.cmdPos = [...other.cmdPos];
    this.cmdQuat = [...other.cmdQuat];
    this.qCmd = [...other.qCmd];
    this.gripperClosed = other.gripperClosed;
    this.stepType_ = other.stepType_;
    this.cue_ = [...other.cue_];
    this.cueCode_ = other.cueCode_;
    this.nudged = other.nudged;
    this.nudgeCount = other.nudgeCount;
    this.cueIndex_ = other.cueIndex_;
    this.nudgeAt = other.nudgeAt;
    this.flickerAt = other.flickerAt;
    this.outcomes = other.outcomes.map((o) => ({ ...o }));
    this.cueAlwaysOn = other.cueAlwaysOn;
  }

  /** Positions of the TCP and the three cubes (12 values, m): the state the AIS distance is read on. */
  positions(): number[] {
    const out = this.tcpPos() as number[];
    for (let c = 0; c < CUBES.length; c++) out.push(...this.cubePose(c).slice(0, 3));
    return out;
  }

  /** Apply one 7-D action for one control step (25 physics steps); returns the next observation. */
  step(action: ArrayLike<number>): Float32Array {
    if (!this.plan_) throw new ConfigError("call reset() first");
    if (this.t_ >= this.plan_.horizon) throw new ConfigError(`the episode is over (${this.plan_.horizon} control steps): call reset()`);
    if (action.length !== ACTION_DIM) throw new ConfigError(`action must have ${ACTION_DIM} values, got ${action.length}`);
    const a = Array.from({ length: ACTION_DIM }, (_, i) => {
      const v = Number(action[i]);
      if (!Number.isFinite(v)) throw new ConfigError(`action[${i}] is ${v}`);
      return clamp(v, -1, 1);
    });
    const { mj, model, data } = this;
    const tcp = this.tcpPos();
    for (let i = 0; i < 3; i++) {
      let c = this.cmdPos[i]! + a[i]! * POS_SCALE;
      c = clamp(c, tcp[i]! - MAX_LEAD, tcp[i]! + MAX_LEAD);
      this.cmdPos[i] = clamp(c, WORKSPACE.lo[i]!, WORKSPACE.hi[i]!);
    }
    let cq = qnormalize(qmul(qexp([a[3]! * ROT_SCALE, a[4]! * ROT_SCALE, a[5]! * ROT_SCALE]), this.cmdQuat));
    const meas = this.tcpQuat();
    const lead = rotErr(cq, meas);
    const leadN = Math.hypot(...lead);
    if (leadN > MAX_ROT_LEAD) {
      const s = MAX_ROT_LEAD / leadN;
      cq = qnormalize(qmul(qexp([lead[0] * s, lead[1] * s, lead[2] * s]), meas));
    }
    this.cmdQuat = cq;
    this.qCmd = this.ik.solve(this.cmdPos, this.cmdQuat, this.qCmd, 2).q;
    for (let i = 0; i < 7; i++) data.ctrl[i] = this.qCmd[i];
    this.gripperClosed = a[6]! > 0;
    data.ctrl[7] = this.gripperClosed ? 0 : 255;
    for (let s = 0; s < SUBSTEPS; s++) mj.mj_step(model, data);
    // derived quantities (site poses) at the final state, so the observation is coherent
    mj.mj_forward(model, data);
    this.t_++;
    this.updateCue();
    if (this.nudgeAt.has(this.t_)) this.nudge();
    if (this.t_ === this.plan_.horizon) this.scoreCue();
    return this.observe();
  }

  private updateCue(): void {
    const plan = this.plan;
    const info = TASK_INFO[plan.task];
    const t = this.t_;
    const next = plan.cues[this.cueIndex_ + 1];
    if (next && next.step === t) {
      // a new cue after the first (streams): score the one before it, clear the zones; then switch the goal
      if (this.cueIndex_ >= 0) {
        this.scoreCue();
        this.clearZones();
      }
      this.cueIndex_++;
    }
    this.cue_.fill(0);
    this.cueCode_ = 0;
    this.stepType_ = StepType.background;
    const cubeXY = [0, 1, 2].map((i) => this.cubePose(i).slice(0, 2));
    const cue = this.cueIndex_ >= 0 ? plan.cues[this.cueIndex_]! : null;
    if (cue && t < cue.step + info.cueSteps) {
      this.cue_ = cueVector(plan.task, cue.goal, cubeXY);
      this.cueCode_ = 1 + cue.goalIndex;
      this.stepType_ = StepType.event;
    } else if (this.flickerAt.has(t) || this.flickerAt.has(t - 1)) {
      // an irrelevant flicker: spotlights on a random cube and zone (cube pair) with the "on" bit off
      this.cue_ = cueVector(plan.task, goalOf(plan.task, this.rng.int(info.nGoals)), cubeXY, 0);
      this.cueCode_ = -1;
      this.stepType_ = StepType.distractor;
    } else if (cue && this.cueAlwaysOn) {
      // diagnostic: the current cue stays visible (the step keeps its type: only true cue steps are events)
      this.cue_ = cueVector(plan.task, cue.goal, cubeXY);
    }
  }

  /** Score the current cue on the current state: just before the next cue, and at the end of the episode. */
  private scoreCue(): void {
    const cue = this.plan.cues[this.cueIndex_];
    if (!cue) return;
    this.outcomes.push({
      cue: this.cueIndex_,
      step: cue.step,
      scoredAt: this.t_,
      goalIndex: cue.goalIndex,
      success: this.success(),
      placed: cue.goal.cubes.every((c, k) => this.cubeInZone(c, cue.goal.zones[k]!)),
    });
  }

  /**
   * At every cue after the first (streams): every cube lying in or near a zone (or off the table, or
   * outside the reach of the workspace) is put back at a free spot of the spawn region (random yaw), at rest.
   */
  private clearZones(): void {
    const moved: number[] = [];
    for (let c = 0; c < CUBES.length; c++) {
      const p = this.cubePose(c);
      const lost = p[2] < 0 || p[0] < WORKSPACE.lo[0] || p[0] > WORKSPACE.hi[0] || p[1] < WORKSPACE.lo[1] || p[1] > WORKSPACE.hi[1];
      if (this.nearZone(c) || lost) moved.push(c);
    }
    if (!moved.length) return;
    const tcp = this.tcpPos();
    const taken: number[][] = [[tcp[0], tcp[1]]];
    for (let c = 0; c < CUBES.length; c++) if (!moved.includes(c)) taken.push(this.cubePose(c).slice(0, 2));
    for (const c of moved) {
      const [x, y, yaw] = freeSpot(this.rng, taken);
      taken.push([x, y]);
      this.setCube(c, x, y, CUBE_HALF, yaw);
    }
    this.mj.mj_forward(this.model, this.data);
  }

  /** Whether cube c's centre lies within 3 cm of a zone's edge (x, y), whatever its height. */
  private nearZone(c: number): boolean {
    const p = this.cubePose(c);
    return ZONE_XY.some(([zx, zy]) => Math.hypot(p[0] - zx, p[1] - zy) <= ZONE_RADIUS + 0.03);
  }

  /** Displace a non-target cube that rests on the table by 3-5 cm (a distractor event); streams: not one lying in a zone. */
  private nudge(): void {
    const plan = this.plan;
    const targets = new Set(this.goal.cubes);
    const tcp = this.tcpPos();
    // streams only: the short tasks' nudge (and its random draws) stays as their panel was measured with
    const cands = [0, 1, 2].filter((i) => !targets.has(i) && (plan.task !== STREAM_TASK || !this.nearZone(i)));
    if (!cands.length) return;
    const i = cands[this.rng.int(cands.length)]!;
    const p = this.cubePose(i);
    if (p[2] > CUBE_HALF + 0.01) return;
    const dist = 0.03 + this.rng.uniform() * 0.02;
    const a0 = this.rng.uniform() * 2 * Math.PI;
    for (let k = 0; k < 12; k++) {
      const a = a0 + (k * Math.PI) / 6;
      const x = p[0] + dist * Math.cos(a);
      const y = p[1] + dist * Math.sin(a);
      if (x < SPAWN.x[0] - 0.03 || x > SPAWN.x[1] + 0.03 || y < SPAWN.y[0] - 0.03 || y > SPAWN.y[1] + 0.04) continue;
      if (Math.hypot(x - tcp[0], y - tcp[1]) < 0.08) continue;
      let free = true;
      for (let j = 0; j < CUBES.length; j++) {
        if (j === i) continue;
        const o = this.cubePose(j);
        if (Math.hypot(o[0] - x, o[1] - y) < 0.065) free = false;
      }
      for (const [zx, zy] of ZONE_XY) if (Math.hypot(zx - x, zy - y) < ZONE_RADIUS + 0.04) free = false;
      if (!free) continue;
      const yaw = 2 * Math.atan2(p[6], p[3]) + (this.rng.uniform() - 0.5) * 0.4;
      this.setCube(i, x, y, p[2], yaw);
      this.mj.mj_forward(this.model, this.data);
      this.nudged = true;
      this.nudgeCount++;
      this.stepType_ = StepType.distractor;
      return;
    }
  }

  private setCube(i: number, x: number, y: number, z: number, yaw: number): void {
    const q = this.data.qpos;
    const v = this.data.qvel;
    const o = this.cubeQ[i]!;
    q[o] = x;
    q[o + 1] = y;
    q[o + 2] = z;
    q[o + 3] = Math.cos(yaw / 2);
    q[o + 4] = 0;
    q[o + 5] = 0;
    q[o + 6] = Math.sin(yaw / 2);
    for (let k = 0; k < 6; k++) v[this.cubeV[i]! + k] = 0;
  }

  /** The observation of the current state (OBS_LAYOUT). */
  observe(): Float32Array {
    const o = new Float32Array(OBS_DIM);
    const q = this.data.qpos;
    const v = this.data.qvel;
    for (let i = 0; i < 9; i++) {
      o[OBS_LAYOUT.q + i] = q[i];
      o[OBS_LAYOUT.qvel + i] = v[i];
    }
    o[OBS_LAYOUT.width] = this.gripperWidth();
    const p = this.tcpPos();
    const tq = this.tcpQuat();
    o.set(p, OBS_LAYOUT.tcpPos);
    o.set(tq, OBS_LAYOUT.tcpQuat);
    for (let c = 0; c < CUBES.length; c++) {
      const cp = this.cubePose(c);
      o.set(cp, OBS_LAYOUT.cubes + 7 * c);
      for (let k = 0; k < 3; k++) o[OBS_LAYOUT.cubesRel + 3 * c + k] = cp[k]! - p[k]!;
    }
    o.set(this.cue_, OBS_LAYOUT.cue);
    return o;
  }

  /** Measured TCP position (m). */
  tcpPos(): Vec3 {
    const x = this.data.site_xpos;
    const s = this.tcpSite * 3;
    return [x[s], x[s + 1], x[s + 2]];
  }
  /** Measured TCP orientation. */
  tcpQuat(): Quat {
    return matToQuat(this.data.site_xmat, this.tcpSite * 9);
  }
  /** Finger gap (m): 0.08 open, 0 closed on nothing. */
  gripperWidth(): number {
    const q = this.data.qpos;
    return q[7] + q[8];
  }
  /** Whether the last action commanded the gripper closed. */
  get gripperCommandClosed(): boolean {
    return this.gripperClosed;
  }
  /** Pose of cube i. */
  cubePose(i: number): Pose7 {
    const q = this.data.qpos;
    const o = this.cubeQ[i]!;
    return [q[o], q[o + 1], q[o + 2], q[o + 3], q[o + 4], q[o + 5], q[o + 6]];
  }
  /** Joint positions (7 arm + 2 fingers). */
  jointPositions(): number[] {
    const q = this.data.qpos;
    return Array.from({ length: 9 }, (_, i) => q[i] as number);
  }
  /** Simulated time (s). */
  get time(): number {
    return this.data.time;
  }

  /** Whether cube i rests in zone z: centre within the zone radius (x, y), on the table, not held. */
  cubeInZone(i: number, z: number): boolean {
    const p = this.cubePose(i);
    const [zx, zy] = ZONE_XY[z]!;
    return Math.hypot(p[0] - zx, p[1] - zy) <= ZONE_RADIUS && p[2] < CUBE_HALF + 0.008 && !this.holding(i);
  }

  /** Whether the gripper holds cube i (closed on it, cube between the fingers). */
  holding(i: number): boolean {
    const p = this.cubePose(i);
    const tcp = this.tcpPos();
    return this.gripperWidth() < 2 * CUBE_HALF + 0.012 && Math.hypot(p[0] - tcp[0], p[1] - tcp[1], p[2] - tcp[2]) < 0.03;
  }

  /**
   * Success of the current goal on the current state (the final one for cue-place / cue-sequence):
   * every goal cube rests in its zone (centre within ZONE_RADIUS in x, y, height < 2.8 cm, not held)
   * and no other cube lies in any zone. Before the first cue of a stream: no cube in a zone.
   */
  success(): boolean {
    const goal = this.goal;
    for (let k = 0; k < goal.cubes.length; k++) if (!this.cubeInZone(goal.cubes[k]!, goal.zones[k]!)) return false;
    for (let c = 0; c < CUBES.length; c++) {
      if (goal.cubes.includes(c)) continue;
      const p = this.cubePose(c);
      for (const [zx, zy] of ZONE_XY) if (Math.hypot(p[0] - zx, p[1] - zy) <= ZONE_RADIUS) return false;
    }
    return true;
  }
}
