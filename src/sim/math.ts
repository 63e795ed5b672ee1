/**
 * Small rigid-body helpers for the control loop (float64, allocation-light): quaternions as
 * [w, x, y, z], rotation errors as axis-angle vectors, and a dense symmetric solve.
 */

export type Vec3 = [number, number, number];
export type Quat = [number, number, number, number];

/** Hamilton product a * b. */
export function qmul(a: Quat, b: Quat): Quat {
  return [
    a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
    a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
    a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
    a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
  ];
}

/** Conjugate (inverse of a unit quaternion). */
export function qconj(q: Quat): Quat {
  return [q[0], -q[1], -q[2], -q[3]];
}

/** Unit quaternion (w >= 0, the canonical sign). */
export function qnormalize(q: Quat): Quat {
  const n = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
  const s = q[0] < 0 ? -1 / n : 1 / n;
  return [q[0] * s, q[1] * s, q[2] * s, q[3] * s];
}

/** Quaternion of a rotation vector (axis * angle, radians). */
export function qexp(v: Vec3): Quat {
  const a = Math.hypot(v[0], v[1], v[2]);
  if (a < 1e-12) return [1, v[0] / 2, v[1] / 2, v[2] / 2];
  const s = Math.sin(a / 2) / a;
  return [Math.cos(a / 2), v[0] * s, v[1] * s, v[2] * s];
}

/** Rotation vector of a unit quaternion (shortest way). */
export function qlog(q: Quat): Vec3 {
  const w = q[0] < 0 ? -q[0] : q[0];
  const sgn = q[0] < 0 ? -1 : 1;
  const x = q[1] * sgn;
  const y = q[2] * sgn;
  const z = q[3] * sgn;
  const s = Math.hypot(x, y, z);
  if (s < 1e-12) return [2 * x, 2 * y, 2 * z];
  const angle = 2 * Math.atan2(s, w);
  return [(x / s) * angle, (y / s) * angle, (z / s) * angle];
}

/** World-frame rotation vector that takes orientation `from` to `to`: log(to * from^-1). */
export function rotErr(to: Quat, from: Quat): Vec3 {
  return qlog(qmul(to, qconj(from)));
}

/** Quaternion of a row-major 3x3 rotation matrix (at offset o). */
export function matToQuat(R: ArrayLike<number>, o = 0): Quat {
  const m00 = R[o]!, m01 = R[o + 1]!, m02 = R[o + 2]!;
  const m10 = R[o + 3]!, m11 = R[o + 4]!, m12 = R[o + 5]!;
  const m20 = R[o + 6]!, m21 = R[o + 7]!, m22 = R[o + 8]!;
  const tr = m00 + m11 + m22;
  let q: Quat;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    q = [0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s];
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    q = [(m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s];
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    q = [(m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s];
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    q = [(m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s];
  }
  return qnormalize(q);
}

/** Yaw (rotation about world z) of a quaternion, radians. */
export function yawOf(q: Quat): number {
  return Math.atan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] * q[2] + q[3] * q[3]));
}

/**
 * Solve A x = b for a small symmetric positive-definite A [n, n] (row-major, overwritten) by
 * Cholesky; returns x (b is not modified).
 */
export function solveSpd(A: Float64Array, b: Float64Array, n: number): Float64Array {
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j]!;
    for (let k = 0; k < j; k++) s -= A[j * n + k]! * A[j * n + k]!;
    const d = Math.sqrt(Math.max(s, 1e-300));
    A[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j]!;
      for (let k = 0; k < j; k++) t -= A[i * n + k]! * A[j * n + k]!;
      A[i * n + j] = t / d;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    let t = x[i]!;
    for (let k = 0; k < i; k++) t -= A[i * n + k]! * x[k]!;
    x[i] = t / A[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let t = x[i]!;
    for (let k = i + 1; k < n; k++) t -= A[k * n + i]! * x[k]!;
    x[i] = t / A[i * n + i]!;
  }
  return x;
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
