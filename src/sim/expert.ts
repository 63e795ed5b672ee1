/**
 * The scripted expert: a state-feedback finite-state machine over IK waypoints with privileged access
 * to the goal (it reads the episode plan, not the cue), used to produce demonstrations and as the
 * reference action of the "action error vs expert" metric.
 *
 * Per goal cube: approach (10 cm above it) -> descend (TCP at the cube centre) -> grasp (close,
 * 6 steps) -> lift (12 cm) -> carry (above the zone) -> lower (cube 1 cm above the table) -> release
 * (open, 5 steps) -> retreat (14 cm); then the next goal cube, then home. If the cube is lost while
 * lifting or carrying it goes back to approach. The action moves the commanded TCP towards the
 * phase's waypoint (proportional, capped at 0.8 of full scale) and holds the TCP pointing down.
 */
import { CUBE_HALF, ZONE_XY } from "./scene.js";
import { POS_SCALE, ROT_SCALE, type Goal, type TabletopEnv } from "./env.js";
import { rotErr, qexp, qmul, yawOf, type Quat, type Vec3 } from "./math.js";

export type ExpertPhase = "approach" | "descend" | "grasp" | "lift" | "carry" | "lower" | "release" | "retreat" | "home";

const GAIN = 1.0;
const VMAX = 0.8;
const ROT_GAIN = 0.5;
const HOVER = 0.1;
const CARRY = 0.12;
const HOME_POS: Vec3 = [0.5, 0, 0.22];

/** Where the expert's goal comes from: the environment (privileged, the default) or a policy's own reading of the cue. */
export interface GoalSource {
  /** The goal to pursue now (no cubes: hold the home pose). */
  readonly goal: Goal;
  /** Changes whenever a new goal is given (a new cue): the phase machine restarts on it. */
  readonly cueIndex: number;
}

export class Expert {
  phase: ExpertPhase = "approach";
  /** Index into the goal's cube list. */
  k = 0;
  private timer = 0;
  private grasp: Vec3 = [0, 0, 0];
  /** The cue whose goal the phase machine pursues (a new cue restarts it). */
  private cue = -1;

  private readonly src: GoalSource;

  /** @param goals where the goal comes from (default: the environment's current goal). */
  constructor(
    private readonly env: TabletopEnv,
    goals?: GoalSource,
  ) {
    this.src = goals ?? env;
  }

  /** Call after env.reset(). */
  reset(): void {
    this.restart();
  }

  /** Start pursuing the environment's current goal (home if there is none yet). */
  private restart(): void {
    this.cue = this.src.cueIndex;
    this.phase = this.src.goal.cubes.length ? "approach" : "home";
    this.k = 0;
    this.timer = 0;
  }

  /** The expert's action for the current state (advances its phase machine; a new cue restarts it). */
  act(): number[] {
    const env = this.env;
    if (this.src.cueIndex !== this.cue) this.restart();
    const goal = this.src.goal;
    const tcp = env.tcpPos();
    let target: Vec3 = HOME_POS;
    let close = false;
    const cube = this.k < goal.cubes.length ? goal.cubes[this.k]! : -1;
    const zone = this.k < goal.cubes.length ? goal.zones[this.k]! : -1;
    const cp = cube >= 0 ? env.cubePose(cube) : null;
    const near = (p: Vec3, xy: number, z: number): boolean => Math.hypot(p[0] - tcp[0], p[1] - tcp[1]) < xy && Math.abs(p[2] - tcp[2]) < z;
    let yawTarget = 0;
    // phase transitions (at most one per step, so a demo shows every phase)
    switch (this.phase) {
      case "approach": {
        if (cp && near([cp[0], cp[1], HOVER], 0.008, 0.02)) this.phase = "descend";
        break;
      }
      case "descend": {
        if (cp && near([cp[0], cp[1], cp[2]], 0.006, 0.006)) {
          this.phase = "grasp";
          this.timer = 0;
        }
        break;
      }
      case "grasp": {
        if (++this.timer >= 6) {
          this.phase = "lift";
          this.grasp = [tcp[0], tcp[1], tcp[2]];
        }
        break;
      }
      case "lift": {
        if (cp && !env.holding(cube)) this.phase = "approach";
        else if (tcp[2] > CARRY - 0.02) this.phase = "carry";
        break;
      }
      case "carry": {
        if (cp && !env.holding(cube)) this.phase = "approach";
        else if (near([ZONE_XY[zone]![0], ZONE_XY[zone]![1], CARRY], 0.01, 0.03)) this.phase = "lower";
        break;
      }
      case "lower": {
        if (cp && cp[2] < CUBE_HALF + 0.012) {
          this.phase = "release";
          this.timer = 0;
        }
        break;
      }
      case "release": {
        if (++this.timer >= 5) this.phase = "retreat";
        break;
      }
      case "retreat": {
        if (tcp[2] > 0.12) {
          this.k++;
          this.phase = this.k < goal.cubes.length ? "approach" : "home";
        }
        break;
      }
      case "home":
        break;
    }
    switch (this.phase) {
      case "approach":
        target = [cp![0], cp![1], Math.max(HOVER, tcp[2] > HOVER ? HOVER : tcp[2] + 0.02)];
        if (Math.hypot(cp![0] - tcp[0], cp![1] - tcp[1]) > 0.03) target[2] = Math.max(target[2], HOVER);
        yawTarget = cubeYaw(cp!);
        break;
      case "descend":
        target = [cp![0], cp![1], cp![2]];
        yawTarget = cubeYaw(cp!);
        break;
      case "grasp":
        target = [cp![0], cp![1], cp![2]];
        close = true;
        yawTarget = cubeYaw(cp!);
        break;
      case "lift":
        target = [this.grasp[0], this.grasp[1], CARRY];
        close = true;
        break;
      case "carry":
        target = [ZONE_XY[zone]![0], ZONE_XY[zone]![1], CARRY];
        close = true;
        break;
      case "lower":
        target = [ZONE_XY[zone]![0], ZONE_XY[zone]![1], CUBE_HALF + 0.008];
        close = true;
        break;
      case "release":
        target = [tcp[0], tcp[1], tcp[2]];
        break;
      case "retreat":
        target = [tcp[0], tcp[1], 0.15];
        break;
      case "home":
        target = HOME_POS;
        break;
    }
    const a = new Array<number>(7).fill(0);
    let vx = ((target[0] - tcp[0]) * GAIN) / POS_SCALE;
    let vy = ((target[1] - tcp[1]) * GAIN) / POS_SCALE;
    let vz = ((target[2] - tcp[2]) * GAIN) / POS_SCALE;
    const n = Math.hypot(vx, vy, vz);
    if (n > VMAX) {
      vx *= VMAX / n;
      vy *= VMAX / n;
      vz *= VMAX / n;
    }
    a[0] = vx;
    a[1] = vy;
    a[2] = vz;
    // orientation: TCP pointing down, yaw aligned with the cube's faces while grasping
    const want: Quat = qmul(qexp([0, 0, yawTarget]), env.downQuat);
    const r = rotErr(want, env.tcpQuat());
    for (let i = 0; i < 3; i++) a[3 + i] = Math.max(-VMAX, Math.min(VMAX, (r[i]! * ROT_GAIN) / ROT_SCALE));
    a[6] = close ? 1 : -1;
    return a;
  }
}

/** Cube yaw folded into (-pi/4, pi/4] (a cube looks the same every quarter turn). */
function cubeYaw(p: readonly number[]): number {
  let y = yawOf([p[3]!, p[4]!, p[5]!, p[6]!]);
  while (y > Math.PI / 4) y -= Math.PI / 2;
  while (y <= -Math.PI / 4) y += Math.PI / 2;
  return y;
}
