/**
 * Damped-least-squares inverse kinematics of the Panda's TCP site on a private MjData (kinematics
 * only, so it never disturbs the simulation):
 *
 *   e   = [p* - p(q); log(R* R(q)^T)]                         (6-D pose error, world frame)
 *   dq  = J^T (J J^T + lambda^2 I)^-1 e + (I - J^+ J) k (q_home - q)   (DLS step + null-space pull to home)
 *   q  <- clamp(q + clip(dq, +-maxStep), joint range)
 *
 * with J the 6x7 site Jacobian (mj_jacSite), lambda = 0.05 and k = 0.05. One or two iterations per
 * control step track a slowly moving target; `solve(..., iters)` with more iterations reaches a fixed
 * target (tested).
 */
import type { DoubleBuffer, MainModule, MjData, MjModel } from "@mujoco/mujoco";
import { matToQuat, rotErr, solveSpd, clamp, type Quat, type Vec3 } from "./math.js";

const N = 7;
const LAMBDA = 0.05;
const NULL_GAIN = 0.05;
const MAX_STEP = 0.25;
/** Home joint configuration of the arm (the Menagerie keyframe "home"); the null-space pull goes there. */
export const HOME_Q: readonly number[] = [0, 0, 0, -1.57079, 0, 1.57079, -0.7853];

export interface IkResult {
  q: number[];
  /** Position error after the last iteration (m). */
  posErr: number;
  /** Orientation error after the last iteration (rad). */
  rotErr: number;
}

export class Ik {
  private readonly data: MjData;
  private readonly site: number;
  private readonly jacp: DoubleBuffer;
  private readonly jacr: DoubleBuffer;
  private readonly range: [number, number][];
  private readonly nv: number;

  constructor(private readonly mj: MainModule, private readonly model: MjModel) {
    this.data = new mj.MjData(model);
    this.site = mj.mj_name2id(model, mj.mjtObj.mjOBJ_SITE.value, "tcp");
    this.nv = model.nv;
    this.jacp = new mj.DoubleBuffer(3 * this.nv);
    this.jacr = new mj.DoubleBuffer(3 * this.nv);
    const r = model.jnt_range;
    this.range = Array.from({ length: N }, (_, j) => [r[2 * j] as number, r[2 * j + 1] as number]);
  }

  dispose(): void {
    this.jacp.delete();
    this.jacr.delete();
    this.data.delete();
  }

  /** TCP pose at joint configuration q (7 arm joints). */
  fk(q: ArrayLike<number>): { pos: Vec3; quat: Quat } {
    this.setQ(q);
    const x = this.data.site_xpos;
    const s = this.site * 3;
    return { pos: [x[s], x[s + 1], x[s + 2]], quat: matToQuat(this.data.site_xmat, this.site * 9) };
  }

  private setQ(q: ArrayLike<number>): void {
    const qp = this.data.qpos;
    for (let i = 0; i < N; i++) qp[i] = q[i]!;
    this.mj.mj_kinematics(this.model, this.data);
    this.mj.mj_comPos(this.model, this.data);
  }

  /** Move q towards the target pose with `iters` DLS iterations. */
  solve(pos: Vec3, quat: Quat, qInit: ArrayLike<number>, iters = 2): IkResult {
    const q = Array.from({ length: N }, (_, i) => qInit[i]!);
    const A = new Float64Array(36);
    const e = new Float64Array(6);
    const J = new Float64Array(6 * N);
    let posErr = 0;
    let rErr = 0;
    for (let it = 0; it <= iters; it++) {
      const cur = this.fk(q);
      for (let k = 0; k < 3; k++) e[k] = pos[k]! - cur.pos[k]!;
      const r = rotErr(quat, cur.quat);
      for (let k = 0; k < 3; k++) e[3 + k] = r[k]!;
      posErr = Math.hypot(e[0]!, e[1]!, e[2]!);
      rErr = Math.hypot(e[3]!, e[4]!, e[5]!);
      if (it === iters) break;
      this.mj.mj_jacSite(this.model, this.data, this.jacp, this.jacr, this.site);
      const jp = this.jacp.GetView() as Float64Array;
      const jr = this.jacr.GetView() as Float64Array;
      for (let row = 0; row < 3; row++) {
        for (let c = 0; c < N; c++) {
          J[row * N + c] = jp[row * this.nv + c]!;
          J[(row + 3) * N + c] = jr[row * this.nv + c]!;
        }
      }
      // A = J J^T + lambda^2 I
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let c = 0; c < N; c++) s += J[i * N + c]! * J[j * N + c]!;
          if (i === j) s += LAMBDA * LAMBDA;
          A[i * 6 + j] = s;
          A[j * 6 + i] = s;
        }
      }
      const A2 = Float64Array.from(A);
      const y = solveSpd(A, e, 6);
      const dq = new Float64Array(N);
      for (let c = 0; c < N; c++) {
        let s = 0;
        for (let i = 0; i < 6; i++) s += J[i * N + c]! * y[i]!;
        dq[c] = s;
      }
      // null-space pull towards home: (I - J^+ J) z, J^+ = J^T (J J^T + l^2 I)^-1
      const z = Array.from({ length: N }, (_, c) => NULL_GAIN * (HOME_Q[c]! - q[c]!));
      const Jz = new Float64Array(6);
      for (let i = 0; i < 6; i++) {
        let s = 0;
        for (let c = 0; c < N; c++) s += J[i * N + c]! * z[c]!;
        Jz[i] = s;
      }
      const w = solveSpd(A2, Jz, 6);
      for (let c = 0; c < N; c++) {
        let s = 0;
        for (let i = 0; i < 6; i++) s += J[i * N + c]! * w[i]!;
        dq[c] = dq[c]! + z[c]! - s;
      }
      for (let c = 0; c < N; c++) {
        const [lo, hi] = this.range[c]!;
        q[c] = clamp(q[c]! + clamp(dq[c]!, -MAX_STEP, MAX_STEP), lo, hi);
      }
    }
    return { q, posErr, rotErr: rErr };
  }
}
