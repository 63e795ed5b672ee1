// Kernels for src/ops/dense: the affine map y = x W + b, its gradients, and row-wise L2 normalisation.
//
// Layout: row-major f32. x [M, K], W [K, N], b [N], y [M, N]. SIMD (f32x4) always runs over a
// contiguous dimension: N for the forward pass and dW (a broadcast x value times four consecutive
// weights), N for dx (dot products of a dy row with a W row, reduced horizontally). Every loop has a
// scalar tail, so any M, K, N >= 0 works. The kernels write every output element (no zeroed buffers
// are assumed) and never allocate.
//
// Headers (u32 fields unless marked f32):
//   dense_forward   [M, K, N, x, W, b (0 = no bias), y]
//   dense_backward  [M, K, N, x, W, dy, dx (0 = skip), dW, db]
//   l2norm_forward  [M, D, x, y, eps:f32]
//   l2norm_backward [M, D, x, dy, dx, eps:f32]
import { hdrU32, hdrF32 } from "./common";
import { ld, st, splat, madd, hsum4, hsum } from "./simd";

/** Floats of W kept hot per K-tile (128 KiB): the forward/dx passes sweep all rows over one tile. */
const TILE_FLOATS: i32 = 32768;
/** Rows of x/dy per tile of the dW accumulation. */
const DW_ROW_TILE: i32 = 64;


// ------------------------------------------------------------------------------------------------
// Forward
// ------------------------------------------------------------------------------------------------

/**
 * Accumulate rows [0, M) of y over the K-range [k0, k1). When `first`, the accumulators start from
 * the bias (or zero), otherwise from the current y (partial sums of earlier K-tiles).
 */
function forwardTile(x: usize, W: usize, b: usize, y: usize, M: i32, K: i32, N: i32, k0: i32, k1: i32, first: bool): void {
  const kl = k1 - k0;
  const rowX = <usize>K << 2;
  const rowY = <usize>N << 2;
  const rowW = <usize>N << 2;
  const zero = f32x4.splat(0);
  let i = 0;
  // Four rows at a time: 4 x 8 register block.
  for (; i + 4 <= M; i += 4) {
    const x0 = x + ((<usize>i * <usize>K + <usize>k0) << 2);
    const y0 = y + ((<usize>i * <usize>N) << 2);
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const yp = y0 + (<usize>n << 2);
      let a00: v128, a01: v128, a10: v128, a11: v128, a20: v128, a21: v128, a30: v128, a31: v128;
      if (first) {
        const b0 = b ? ld(b + (<usize>n << 2)) : zero;
        const b1 = b ? ld(b + (<usize>n << 2) + 16) : zero;
        a00 = b0; a01 = b1; a10 = b0; a11 = b1; a20 = b0; a21 = b1; a30 = b0; a31 = b1;
      } else {
        a00 = ld(yp); a01 = ld(yp + 16);
        a10 = ld(yp + rowY); a11 = ld(yp + rowY + 16);
        a20 = ld(yp + 2 * rowY); a21 = ld(yp + 2 * rowY + 16);
        a30 = ld(yp + 3 * rowY); a31 = ld(yp + 3 * rowY + 16);
      }
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      for (let k = 0; k < kl; k++) {
        const w0 = ld(wp);
        const w1 = ld(wp + 16);
        const s0 = splat(xp);
        const s1 = splat(xp + rowX);
        const s2 = splat(xp + 2 * rowX);
        const s3 = splat(xp + 3 * rowX);
        a00 = madd(a00, s0, w0); a01 = madd(a01, s0, w1);
        a10 = madd(a10, s1, w0); a11 = madd(a11, s1, w1);
        a20 = madd(a20, s2, w0); a21 = madd(a21, s2, w1);
        a30 = madd(a30, s3, w0); a31 = madd(a31, s3, w1);
        wp += rowW;
        xp += 4;
      }
      st(yp, a00); st(yp + 16, a01);
      st(yp + rowY, a10); st(yp + rowY + 16, a11);
      st(yp + 2 * rowY, a20); st(yp + 2 * rowY + 16, a21);
      st(yp + 3 * rowY, a30); st(yp + 3 * rowY + 16, a31);
    }
    for (; n + 4 <= N; n += 4) {
      const yp = y0 + (<usize>n << 2);
      let a0: v128, a1: v128, a2: v128, a3: v128;
      if (first) {
        const b0 = b ? ld(b + (<usize>n << 2)) : zero;
        a0 = b0; a1 = b0; a2 = b0; a3 = b0;
      } else {
        a0 = ld(yp); a1 = ld(yp + rowY); a2 = ld(yp + 2 * rowY); a3 = ld(yp + 3 * rowY);
      }
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      for (let k = 0; k < kl; k++) {
        const w0 = ld(wp);
        a0 = madd(a0, splat(xp), w0);
        a1 = madd(a1, splat(xp + rowX), w0);
        a2 = madd(a2, splat(xp + 2 * rowX), w0);
        a3 = madd(a3, splat(xp + 3 * rowX), w0);
        wp += rowW;
        xp += 4;
      }
      st(yp, a0); st(yp + rowY, a1); st(yp + 2 * rowY, a2); st(yp + 3 * rowY, a3);
    }
    for (; n < N; n++) {
      const yp = y0 + (<usize>n << 2);
      let a0: f32, a1: f32, a2: f32, a3: f32;
      if (first) {
        const b0: f32 = b ? load<f32>(b + (<usize>n << 2)) : 0;
        a0 = b0; a1 = b0; a2 = b0; a3 = b0;
      } else {
        a0 = load<f32>(yp); a1 = load<f32>(yp + rowY); a2 = load<f32>(yp + 2 * rowY); a3 = load<f32>(yp + 3 * rowY);
      }
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      for (let k = 0; k < kl; k++) {
        const w = load<f32>(wp);
        a0 += load<f32>(xp) * w;
        a1 += load<f32>(xp + rowX) * w;
        a2 += load<f32>(xp + 2 * rowX) * w;
        a3 += load<f32>(xp + 3 * rowX) * w;
        wp += rowW;
        xp += 4;
      }
      store<f32>(yp, a0); store<f32>(yp + rowY, a1); store<f32>(yp + 2 * rowY, a2); store<f32>(yp + 3 * rowY, a3);
    }
  }
  // Remaining rows one at a time (this is the batch-1 matvec path): 1 x 32 register block.
  for (; i < M; i++) {
    const x0 = x + ((<usize>i * <usize>K + <usize>k0) << 2);
    const y0 = y + ((<usize>i * <usize>N) << 2);
    let n = 0;
    for (; n + 32 <= N; n += 32) {
      const yp = y0 + (<usize>n << 2);
      let a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128;
      const src: usize = first ? (b ? b + (<usize>n << 2) : 0) : yp;
      if (src) {
        a0 = ld(src); a1 = ld(src + 16); a2 = ld(src + 32); a3 = ld(src + 48);
        a4 = ld(src + 64); a5 = ld(src + 80); a6 = ld(src + 96); a7 = ld(src + 112);
      } else {
        a0 = zero; a1 = zero; a2 = zero; a3 = zero; a4 = zero; a5 = zero; a6 = zero; a7 = zero;
      }
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      for (let k = 0; k < kl; k++) {
        const s = splat(xp);
        a0 = madd(a0, s, ld(wp));
        a1 = madd(a1, s, ld(wp + 16));
        a2 = madd(a2, s, ld(wp + 32));
        a3 = madd(a3, s, ld(wp + 48));
        a4 = madd(a4, s, ld(wp + 64));
        a5 = madd(a5, s, ld(wp + 80));
        a6 = madd(a6, s, ld(wp + 96));
        a7 = madd(a7, s, ld(wp + 112));
        wp += rowW;
        xp += 4;
      }
      st(yp, a0); st(yp + 16, a1); st(yp + 32, a2); st(yp + 48, a3);
      st(yp + 64, a4); st(yp + 80, a5); st(yp + 96, a6); st(yp + 112, a7);
    }
    for (; n + 8 <= N; n += 8) {
      const yp = y0 + (<usize>n << 2);
      const src: usize = first ? (b ? b + (<usize>n << 2) : 0) : yp;
      let a0: v128 = src ? ld(src) : zero;
      let a1: v128 = src ? ld(src + 16) : zero;
      // two partial sums per vector (even / odd k) to hide the add latency
      let c0 = zero, c1 = zero;
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      let k = 0;
      for (; k + 2 <= kl; k += 2) {
        const s = splat(xp);
        const t = splat(xp + 4);
        a0 = madd(a0, s, ld(wp));
        a1 = madd(a1, s, ld(wp + 16));
        c0 = madd(c0, t, ld(wp + rowW));
        c1 = madd(c1, t, ld(wp + rowW + 16));
        wp += 2 * rowW;
        xp += 8;
      }
      if (k < kl) {
        const s = splat(xp);
        a0 = madd(a0, s, ld(wp));
        a1 = madd(a1, s, ld(wp + 16));
      }
      st(yp, f32x4.add(a0, c0)); st(yp + 16, f32x4.add(a1, c1));
    }
    for (; n + 4 <= N; n += 4) {
      const yp = y0 + (<usize>n << 2);
      const src: usize = first ? (b ? b + (<usize>n << 2) : 0) : yp;
      let a0: v128 = src ? ld(src) : zero;
      let c0 = zero;
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      let k = 0;
      for (; k + 2 <= kl; k += 2) {
        a0 = madd(a0, splat(xp), ld(wp));
        c0 = madd(c0, splat(xp + 4), ld(wp + rowW));
        wp += 2 * rowW;
        xp += 8;
      }
      if (k < kl) a0 = madd(a0, splat(xp), ld(wp));
      st(yp, f32x4.add(a0, c0));
    }
    for (; n < N; n++) {
      const yp = y0 + (<usize>n << 2);
      let a0: f32 = first ? (b ? load<f32>(b + (<usize>n << 2)) : 0) : load<f32>(yp);
      let a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
      let wp = W + ((<usize>k0 * <usize>N + <usize>n) << 2);
      let xp = x0;
      let k = 0;
      for (; k + 4 <= kl; k += 4) {
        a0 += load<f32>(xp) * load<f32>(wp);
        a1 += load<f32>(xp + 4) * load<f32>(wp + rowW);
        a2 += load<f32>(xp + 8) * load<f32>(wp + 2 * rowW);
        a3 += load<f32>(xp + 12) * load<f32>(wp + 3 * rowW);
        wp += 4 * rowW;
        xp += 16;
      }
      for (; k < kl; k++) {
        a0 += load<f32>(xp) * load<f32>(wp);
        wp += rowW;
        xp += 4;
      }
      store<f32>(yp, (a0 + a1) + (a2 + a3));
    }
  }
}

/** y [M, N] = x [M, K] W [K, N] + b [N]. Header: [M, K, N, x, W, b (0 = none), y]. */
export function dense_forward(hdr: usize): void {
  const M = <i32>hdrU32(hdr, 0);
  const K = <i32>hdrU32(hdr, 1);
  const N = <i32>hdrU32(hdr, 2);
  const x = <usize>hdrU32(hdr, 3);
  const W = <usize>hdrU32(hdr, 4);
  const b = <usize>hdrU32(hdr, 5);
  const y = <usize>hdrU32(hdr, 6);
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // y = b broadcast (or zeros).
    for (let i = 0; i < M; i++) {
      const yp = y + ((<usize>i * <usize>N) << 2);
      if (b) memory.copy(yp, b, <usize>N << 2);
      else memory.fill(yp, 0, <usize>N << 2);
    }
    return;
  }
  let kc = TILE_FLOATS / N;
  if (kc < 16) kc = 16;
  for (let k0 = 0; k0 < K; k0 += kc) {
    const k1 = k0 + kc < K ? k0 + kc : K;
    forwardTile(x, W, b, y, M, K, N, k0, k1, k0 == 0);
  }
}

// ------------------------------------------------------------------------------------------------
// Backward
// ------------------------------------------------------------------------------------------------

/** db [N] = column sums of dy [M, N]. */
function biasGrad(dy: usize, db: usize, M: i32, N: i32): void {
  const rowD = <usize>N << 2;
  let n = 0;
  for (; n + 16 <= N; n += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let p = dy + (<usize>n << 2);
    for (let i = 0; i < M; i++) {
      a0 = f32x4.add(a0, ld(p));
      a1 = f32x4.add(a1, ld(p + 16));
      a2 = f32x4.add(a2, ld(p + 32));
      a3 = f32x4.add(a3, ld(p + 48));
      p += rowD;
    }
    const q = db + (<usize>n << 2);
    st(q, a0); st(q + 16, a1); st(q + 32, a2); st(q + 48, a3);
  }
  for (; n + 4 <= N; n += 4) {
    let a0 = f32x4.splat(0);
    let p = dy + (<usize>n << 2);
    for (let i = 0; i < M; i++) {
      a0 = f32x4.add(a0, ld(p));
      p += rowD;
    }
    st(db + (<usize>n << 2), a0);
  }
  for (; n < N; n++) {
    let a: f32 = 0;
    let p = dy + (<usize>n << 2);
    for (let i = 0; i < M; i++) {
      a += load<f32>(p);
      p += rowD;
    }
    store<f32>(db + (<usize>n << 2), a);
  }
}

/** dW [K, N] += x[i0:i1]^T dy[i0:i1] (outer products of rows, 4 x 8 register blocks). */
function weightGradTile(x: usize, dy: usize, dW: usize, K: i32, N: i32, i0: i32, i1: i32): void {
  const rowX = <usize>K << 2;
  const rowD = <usize>N << 2;
  const rowW = <usize>N << 2;
  const xs0 = x + ((<usize>i0 * <usize>K) << 2);
  const ds0 = dy + ((<usize>i0 * <usize>N) << 2);
  const cnt = i1 - i0;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const wrow = dW + ((<usize>k * <usize>N) << 2);
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const wp = wrow + (<usize>n << 2);
      let a00 = ld(wp), a01 = ld(wp + 16);
      let a10 = ld(wp + rowW), a11 = ld(wp + rowW + 16);
      let a20 = ld(wp + 2 * rowW), a21 = ld(wp + 2 * rowW + 16);
      let a30 = ld(wp + 3 * rowW), a31 = ld(wp + 3 * rowW + 16);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        const d0 = ld(dp);
        const d1 = ld(dp + 16);
        const s0 = splat(xp);
        const s1 = splat(xp + 4);
        const s2 = splat(xp + 8);
        const s3 = splat(xp + 12);
        a00 = madd(a00, s0, d0); a01 = madd(a01, s0, d1);
        a10 = madd(a10, s1, d0); a11 = madd(a11, s1, d1);
        a20 = madd(a20, s2, d0); a21 = madd(a21, s2, d1);
        a30 = madd(a30, s3, d0); a31 = madd(a31, s3, d1);
        xp += rowX;
        dp += rowD;
      }
      st(wp, a00); st(wp + 16, a01);
      st(wp + rowW, a10); st(wp + rowW + 16, a11);
      st(wp + 2 * rowW, a20); st(wp + 2 * rowW + 16, a21);
      st(wp + 3 * rowW, a30); st(wp + 3 * rowW + 16, a31);
    }
    for (; n + 4 <= N; n += 4) {
      const wp = wrow + (<usize>n << 2);
      let a0 = ld(wp), a1 = ld(wp + rowW), a2 = ld(wp + 2 * rowW), a3 = ld(wp + 3 * rowW);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        const d0 = ld(dp);
        a0 = madd(a0, splat(xp), d0);
        a1 = madd(a1, splat(xp + 4), d0);
        a2 = madd(a2, splat(xp + 8), d0);
        a3 = madd(a3, splat(xp + 12), d0);
        xp += rowX;
        dp += rowD;
      }
      st(wp, a0); st(wp + rowW, a1); st(wp + 2 * rowW, a2); st(wp + 3 * rowW, a3);
    }
    for (; n < N; n++) {
      const wp = wrow + (<usize>n << 2);
      let a0 = load<f32>(wp), a1 = load<f32>(wp + rowW), a2 = load<f32>(wp + 2 * rowW), a3 = load<f32>(wp + 3 * rowW);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        const d = load<f32>(dp);
        a0 += load<f32>(xp) * d;
        a1 += load<f32>(xp + 4) * d;
        a2 += load<f32>(xp + 8) * d;
        a3 += load<f32>(xp + 12) * d;
        xp += rowX;
        dp += rowD;
      }
      store<f32>(wp, a0); store<f32>(wp + rowW, a1); store<f32>(wp + 2 * rowW, a2); store<f32>(wp + 3 * rowW, a3);
    }
  }
  for (; k < K; k++) {
    const wrow = dW + ((<usize>k * <usize>N) << 2);
    let n = 0;
    for (; n + 16 <= N; n += 16) {
      const wp = wrow + (<usize>n << 2);
      let a0 = ld(wp), a1 = ld(wp + 16), a2 = ld(wp + 32), a3 = ld(wp + 48);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        const s = splat(xp);
        a0 = madd(a0, s, ld(dp));
        a1 = madd(a1, s, ld(dp + 16));
        a2 = madd(a2, s, ld(dp + 32));
        a3 = madd(a3, s, ld(dp + 48));
        xp += rowX;
        dp += rowD;
      }
      st(wp, a0); st(wp + 16, a1); st(wp + 32, a2); st(wp + 48, a3);
    }
    for (; n + 4 <= N; n += 4) {
      const wp = wrow + (<usize>n << 2);
      let a0 = ld(wp);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        a0 = madd(a0, splat(xp), ld(dp));
        xp += rowX;
        dp += rowD;
      }
      st(wp, a0);
    }
    for (; n < N; n++) {
      const wp = wrow + (<usize>n << 2);
      let a0 = load<f32>(wp);
      let xp = xs0 + (<usize>k << 2);
      let dp = ds0 + (<usize>n << 2);
      for (let i = 0; i < cnt; i++) {
        a0 += load<f32>(xp) * load<f32>(dp);
        xp += rowX;
        dp += rowD;
      }
      store<f32>(wp, a0);
    }
  }
}

/** dx[i, k] = dot(dy[i, :], W[k, :]) for all rows i and k in [k0, k1). */
function inputGradTile(W: usize, dy: usize, dx: usize, M: i32, K: i32, N: i32, k0: i32, k1: i32): void {
  const rowD = <usize>N << 2;
  const rowW = <usize>N << 2;
  const rowX = <usize>K << 2;
  const N4 = N & ~3;
  let i = 0;
  // Two rows x four k at a time: 8 dot products, SIMD over N.
  for (; i + 2 <= M; i += 2) {
    const d0 = dy + ((<usize>i * <usize>N) << 2);
    const d1 = d0 + rowD;
    const xrow = dx + ((<usize>i * <usize>K) << 2);
    let k = k0;
    for (; k + 4 <= k1; k += 4) {
      const w0 = W + ((<usize>k * <usize>N) << 2);
      const w1 = w0 + rowW;
      const w2 = w1 + rowW;
      const w3 = w2 + rowW;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let n = 0; n < N4; n += 4) {
        const o = <usize>n << 2;
        const e0 = ld(d0 + o);
        const e1 = ld(d1 + o);
        const v0 = ld(w0 + o);
        const v1 = ld(w1 + o);
        const v2 = ld(w2 + o);
        const v3 = ld(w3 + o);
        a00 = madd(a00, e0, v0); a01 = madd(a01, e0, v1); a02 = madd(a02, e0, v2); a03 = madd(a03, e0, v3);
        a10 = madd(a10, e1, v0); a11 = madd(a11, e1, v1); a12 = madd(a12, e1, v2); a13 = madd(a13, e1, v3);
      }
      let r0 = hsum4(a00, a01, a02, a03);
      let r1 = hsum4(a10, a11, a12, a13);
      if (N4 < N) {
        let t00: f32 = 0, t01: f32 = 0, t02: f32 = 0, t03: f32 = 0, t10: f32 = 0, t11: f32 = 0, t12: f32 = 0, t13: f32 = 0;
        for (let n = N4; n < N; n++) {
          const o = <usize>n << 2;
          const e0 = load<f32>(d0 + o);
          const e1 = load<f32>(d1 + o);
          const v0 = load<f32>(w0 + o), v1 = load<f32>(w1 + o), v2 = load<f32>(w2 + o), v3 = load<f32>(w3 + o);
          t00 += e0 * v0; t01 += e0 * v1; t02 += e0 * v2; t03 += e0 * v3;
          t10 += e1 * v0; t11 += e1 * v1; t12 += e1 * v2; t13 += e1 * v3;
        }
        r0 = f32x4.add(r0, f32x4(t00, t01, t02, t03));
        r1 = f32x4.add(r1, f32x4(t10, t11, t12, t13));
      }
      st(xrow + (<usize>k << 2), r0);
      st(xrow + rowX + (<usize>k << 2), r1);
    }
    for (; k < k1; k++) {
      const w0 = W + ((<usize>k * <usize>N) << 2);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      for (let n = 0; n < N4; n += 4) {
        const o = <usize>n << 2;
        const v = ld(w0 + o);
        a0 = madd(a0, ld(d0 + o), v);
        a1 = madd(a1, ld(d1 + o), v);
      }
      let s0 = hsum(a0), s1 = hsum(a1);
      for (let n = N4; n < N; n++) {
        const o = <usize>n << 2;
        const v = load<f32>(w0 + o);
        s0 += load<f32>(d0 + o) * v;
        s1 += load<f32>(d1 + o) * v;
      }
      store<f32>(xrow + (<usize>k << 2), s0);
      store<f32>(xrow + rowX + (<usize>k << 2), s1);
    }
  }
  for (; i < M; i++) {
    const d0 = dy + ((<usize>i * <usize>N) << 2);
    const xrow = dx + ((<usize>i * <usize>K) << 2);
    let k = k0;
    for (; k + 4 <= k1; k += 4) {
      const w0 = W + ((<usize>k * <usize>N) << 2);
      const w1 = w0 + rowW;
      const w2 = w1 + rowW;
      const w3 = w2 + rowW;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let n = 0; n < N4; n += 4) {
        const o = <usize>n << 2;
        const e0 = ld(d0 + o);
        a0 = madd(a0, e0, ld(w0 + o));
        a1 = madd(a1, e0, ld(w1 + o));
        a2 = madd(a2, e0, ld(w2 + o));
        a3 = madd(a3, e0, ld(w3 + o));
      }
      let r0 = hsum4(a0, a1, a2, a3);
      if (N4 < N) {
        let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
        for (let n = N4; n < N; n++) {
          const o = <usize>n << 2;
          const e0 = load<f32>(d0 + o);
          t0 += e0 * load<f32>(w0 + o);
          t1 += e0 * load<f32>(w1 + o);
          t2 += e0 * load<f32>(w2 + o);
          t3 += e0 * load<f32>(w3 + o);
        }
        r0 = f32x4.add(r0, f32x4(t0, t1, t2, t3));
      }
      st(xrow + (<usize>k << 2), r0);
    }
    for (; k < k1; k++) {
      const w0 = W + ((<usize>k * <usize>N) << 2);
      let a0 = f32x4.splat(0);
      for (let n = 0; n < N4; n += 4) {
        const o = <usize>n << 2;
        a0 = madd(a0, ld(d0 + o), ld(w0 + o));
      }
      let s0 = hsum(a0);
      for (let n = N4; n < N; n++) {
        const o = <usize>n << 2;
        s0 += load<f32>(d0 + o) * load<f32>(w0 + o);
      }
      store<f32>(xrow + (<usize>k << 2), s0);
    }
  }
}

/**
 * Gradients of y = x W + b: dx = dy W^T (skipped when the dx pointer is 0), dW = x^T dy,
 * db = column sums of dy. Header: [M, K, N, x, W, dy, dx, dW, db].
 */
export function dense_backward(hdr: usize): void {
  const M = <i32>hdrU32(hdr, 0);
  const K = <i32>hdrU32(hdr, 1);
  const N = <i32>hdrU32(hdr, 2);
  const x = <usize>hdrU32(hdr, 3);
  const W = <usize>hdrU32(hdr, 4);
  const dy = <usize>hdrU32(hdr, 5);
  const dx = <usize>hdrU32(hdr, 6);
  const dW = <usize>hdrU32(hdr, 7);
  const db = <usize>hdrU32(hdr, 8);
  if (N > 0) biasGrad(dy, db, M, N);
  if (K > 0 && N > 0) {
    memory.fill(dW, 0, (<usize>K * <usize>N) << 2);
    for (let i0 = 0; i0 < M; i0 += DW_ROW_TILE) {
      const i1 = i0 + DW_ROW_TILE < M ? i0 + DW_ROW_TILE : M;
      weightGradTile(x, dy, dW, K, N, i0, i1);
    }
  }
  if (dx && M > 0 && K > 0) {
    if (N <= 0) {
      memory.fill(dx, 0, (<usize>M * <usize>K) << 2);
      return;
    }
    let kc = TILE_FLOATS / N;
    if (kc < 16) kc = 16;
    for (let k0 = 0; k0 < K; k0 += kc) {
      const k1 = k0 + kc < K ? k0 + kc : K;
      inputGradTile(W, dy, dx, M, K, N, k0, k1);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Row-wise L2 normalisation
// ------------------------------------------------------------------------------------------------

/** Sum of squares of a row of D floats. */
// @ts-ignore: decorator
@inline function sumSq(p: usize, D: i32): f32 {
  const D4 = D & ~3;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let d = 0;
  for (; d + 8 <= D4; d += 8) {
    const u = ld(p + (<usize>d << 2));
    const v = ld(p + (<usize>d << 2) + 16);
    a0 = madd(a0, u, u);
    a1 = madd(a1, v, v);
  }
  for (; d < D4; d += 4) {
    const u = ld(p + (<usize>d << 2));
    a0 = madd(a0, u, u);
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; d < D; d++) {
    const u = load<f32>(p + (<usize>d << 2));
    s += u * u;
  }
  return s;
}

/** y = x / max(||x||, eps) per row. Header: [M, D, x, y, eps:f32]. */
export function l2norm_forward(hdr: usize): void {
  const M = <i32>hdrU32(hdr, 0);
  const D = <i32>hdrU32(hdr, 1);
  const x = <usize>hdrU32(hdr, 2);
  const y = <usize>hdrU32(hdr, 3);
  const eps = hdrF32(hdr, 4);
  const D4 = D & ~3;
  for (let i = 0; i < M; i++) {
    const xp = x + ((<usize>i * <usize>D) << 2);
    const yp = y + ((<usize>i * <usize>D) << 2);
    const n = Mathf.sqrt(sumSq(xp, D));
    const inv: f32 = 1 / (n > eps ? n : eps);
    const vi = f32x4.splat(inv);
    let d = 0;
    for (; d < D4; d += 4) st(yp + (<usize>d << 2), f32x4.mul(ld(xp + (<usize>d << 2)), vi));
    for (; d < D; d++) store<f32>(yp + (<usize>d << 2), load<f32>(xp + (<usize>d << 2)) * inv);
  }
}

/**
 * dx of the row-wise L2 normalisation: with n = ||x|| > eps and y = x / n,
 * dx = (dy - y (y . dy)) / n; rows with n <= eps were divided by eps, so dx = dy / eps.
 * Header: [M, D, x, dy, dx, eps:f32].
 */
export function l2norm_backward(hdr: usize): void {
  const M = <i32>hdrU32(hdr, 0);
  const D = <i32>hdrU32(hdr, 1);
  const x = <usize>hdrU32(hdr, 2);
  const dy = <usize>hdrU32(hdr, 3);
  const dx = <usize>hdrU32(hdr, 4);
  const eps = hdrF32(hdr, 5);
  const D4 = D & ~3;
  for (let i = 0; i < M; i++) {
    const off = (<usize>i * <usize>D) << 2;
    const xp = x + off;
    const gp = dy + off;
    const op = dx + off;
    const n = Mathf.sqrt(sumSq(xp, D));
    if (n <= eps) {
      const vi = f32x4.splat(<f32>1 / eps);
      let d = 0;
      for (; d < D4; d += 4) st(op + (<usize>d << 2), f32x4.mul(ld(gp + (<usize>d << 2)), vi));
      for (; d < D; d++) store<f32>(op + (<usize>d << 2), load<f32>(gp + (<usize>d << 2)) / eps);
      continue;
    }
    const inv: f32 = 1 / n;
    // x . dy
    let a = f32x4.splat(0);
    let d = 0;
    for (; d < D4; d += 4) a = madd(a, ld(xp + (<usize>d << 2)), ld(gp + (<usize>d << 2)));
    let xdy = hsum(a);
    for (; d < D; d++) xdy += load<f32>(xp + (<usize>d << 2)) * load<f32>(gp + (<usize>d << 2));
    // y . dy = xdy / n; dx = dy / n - x * (xdy / n^3)
    const c: f32 = xdy * inv * inv * inv;
    const vi = f32x4.splat(inv);
    const vc = f32x4.splat(c);
    d = 0;
    for (; d < D4; d += 4) {
      const o = <usize>d << 2;
      st(op + o, f32x4.sub(f32x4.mul(ld(gp + o), vi), f32x4.mul(ld(xp + o), vc)));
    }
    for (; d < D; d++) {
      const o = <usize>d << 2;
      store<f32>(op + o, load<f32>(gp + o) * inv - load<f32>(xp + o) * c);
    }
  }
}
