// Fused batch-1 control step of the aura arm (src/deploy/step_engine.ts drives it; the reference is the
// model's op composition, src/model/model.ts, the maths docs/method.md):
//
//   E = z W_enc + b_enc = [kRaw | qRaw | v | hPre | betaPre];  k, q = l2norm (eps 1e-6);  h = tanh(hPre)
//   beta = sigmoid(betaPre);  e = v - (M^T k + m);  surprise = ||e||
//   p = sigmoid(w2 . tanh([h, e, |e|] gateW1 + b1) + b2);  g = 1[p > threshold]
//   M = a M + g beta k e^T;  m = a m + g beta e  (a = 1 - g (1 - alpha), the write decay)
//   r = M^T q + m;  action = tanh([h, r] W1 + b1) W2 + b2
//
// tanh and sigmoid are the shared SIMD set (simd_math.ts), as in every other kernel.
//
// Everything but z and the state is resident: the engine writes the weights once (and again on
// refresh()) into a layout made for this kernel, and one header whose fields never change, so a step
// is "copy z, M, m in; aura_step(hdr); copy the outputs out".
//
// Encoder layout (the only large matrix, dModel x width): the first 32 * nPanel columns as panels
// [nPanel][Kp][32] (a panel is one contiguous stream; 8 f32x4 accumulators per panel, one splat of
// z_k per row), the remaining R = width - 32 nPanel columns transposed as rows [R][Kp] (dot products).
// Kp = dModel rounded up to a multiple of 4; rows k >= dModel of every matrix and z are zero.
//
// Header (u32 fields unless marked f32):
//   0 K (dModel)  1 dKey  2 dVal  3 dProj  4 dGate  5 dHidden  6 dAction  7 width  8 nPanel
//   9 encPanels  10 encRows  11 encB [width]  12 gateW1 [dProj + 2 dVal (+ 1), dGate] (rows: h, e, |e| (, ||z||))
//   13 gateB1 [dGate]  14 gateW2 [dGate]  15 gateB2 (f32)  16 hW1 [dProj + dVal, dHidden]  17 hB1 [dHidden]
//   18 hW2 [dHidden, dAction]  19 hB2 [dAction]  20 write decay alpha (f32; M, m *= alpha where g = 1)  21 z [Kp]  22 M [dKey, dVal]
//   (read and updated in place)  23 m [dVal] (in place)  24 out [dAction + 3] = action, g, p, surprise
//   25 E [width]  26 k [dKey]  27 q [dKey]  28 gin [dProj + 2 dVal (+ 1)] = h, e, |e| (, ||z||)
//   29 hin [dProj + dVal] = h, r  30 pre [dGate]  31 a1 [dHidden]  32-33 threshold (f64, so g = 1[f32(p) >
//   threshold] compares exactly like the TypeScript layer)  34 gate norm input (1: the gate's first layer
//   also reads ||z||_2, MemoryConfig.gateNorm; 0: not)
// Returns 0; 1 when z holds a NaN / Inf, 3 when M or m does (then nothing was written: M and m are
// untouched); 2 when the inputs were finite but an output (action, p, surprise, the new M or m)
// overflowed to Inf / NaN (everything was written; the caller refuses the result).
import { hdrU32, hdrF32 } from "./common";
import { ld, st, splat, madd, hsum } from "./simd";
import { vtanh, tanh1, sigmoid1 } from "./simd_math";

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}

/** In-place tanh of n floats at p (the tail runs the same vector maths on single lanes). */
function tanhArr(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) st(p + (<usize>i << 2), vtanh(ld(p + (<usize>i << 2))));
  for (; i < n; i++) {
    const q = p + (<usize>i << 2);
    store<f32>(q, tanh1(load<f32>(q)));
  }
}

/**
 * y [N] = b [N] + x [K] W [K, N] for the small layers (gate, head): SIMD over the output columns,
 * four accumulators per block of 16 columns, then blocks of 4, then a scalar tail.
 */
function matvec(x: usize, K: i32, W: usize, N: i32, b: usize, y: usize): void {
  const row = <usize>N << 2;
  let n = 0;
  for (; n + 16 <= N; n += 16) {
    const off = <usize>n << 2;
    let a0 = ld(b + off);
    let a1 = ld(b + off + 16);
    let a2 = ld(b + off + 32);
    let a3 = ld(b + off + 48);
    let wp = W + off;
    for (let k = 0; k < K; k++) {
      const s = splat(x + (<usize>k << 2));
      a0 = madd(a0, s, ld(wp));
      a1 = madd(a1, s, ld(wp + 16));
      a2 = madd(a2, s, ld(wp + 32));
      a3 = madd(a3, s, ld(wp + 48));
      wp += row;
    }
    st(y + off, a0);
    st(y + off + 16, a1);
    st(y + off + 32, a2);
    st(y + off + 48, a3);
  }
  for (; n + 4 <= N; n += 4) {
    const off = <usize>n << 2;
    let a0 = ld(b + off);
    let a1 = f32x4.splat(0);
    let wp = W + off;
    let k = 0;
    for (; k + 2 <= K; k += 2) {
      a0 = madd(a0, splat(x + (<usize>k << 2)), ld(wp));
      a1 = madd(a1, splat(x + (<usize>k << 2) + 4), ld(wp + row));
      wp += 2 * row;
    }
    if (k < K) a0 = madd(a0, splat(x + (<usize>k << 2)), ld(wp));
    st(y + off, f32x4.add(a0, a1));
  }
  for (; n < N; n++) {
    let a = ldf(b, n);
    for (let k = 0; k < K; k++) a += ldf(x, k) * ldf(W, k * N + n);
    stf(y, n, a);
  }
}

/** x / max(||x||, 1e-6) for n floats from src into dst. */
function l2norm(src: usize, dst: usize, n: i32): void {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = ld(src + (<usize>i << 2));
    acc = madd(acc, v, v);
  }
  let ss = hsum(acc);
  for (; i < n; i++) {
    const v = ldf(src, i);
    ss += v * v;
  }
  const inv: f32 = <f32>1.0 / Mathf.max(Mathf.sqrt(ss), <f32>1e-6);
  const iv = f32x4.splat(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) st(dst + (<usize>i << 2), f32x4.mul(ld(src + (<usize>i << 2)), iv));
  for (; i < n; i++) stf(dst, i, ldf(src, i) * inv);
}

/**
 * True when any of the Kp (multiple of 4) floats at z is NaN or +-Inf (exponent bits all ones). The
 * host allocates every buffer in whole f32x4 and keeps the padding zero, so M, m and out are checked
 * with their length rounded up.
 */
function hasNonFinite(z: usize, Kp: i32): bool {
  const ex = i32x4.splat(0x7f800000);
  let bad0 = i32x4.splat(0);
  let bad1 = i32x4.splat(0);
  let k = 0;
  for (; k + 8 <= Kp; k += 8) {
    const p = z + (<usize>k << 2);
    bad0 = v128.or(bad0, i32x4.eq(v128.and(ld(p), ex), ex));
    bad1 = v128.or(bad1, i32x4.eq(v128.and(ld(p + 16), ex), ex));
  }
  for (; k < Kp; k += 4) bad0 = v128.or(bad0, i32x4.eq(v128.and(ld(z + (<usize>k << 2)), ex), ex));
  return v128.any_true(v128.or(bad0, bad1));
}

/** E[0 .. 32 nPanel) = b + z W over the panels (see the layout above). */
function encoderPanels(z: usize, P: usize, nPanel: i32, Kp: i32, b: usize, E: usize): void {
  for (let p = 0; p < nPanel; p++) {
    const off = <usize>p << 7; // 32 floats
    let a0 = ld(b + off);
    let a1 = ld(b + off + 16);
    let a2 = ld(b + off + 32);
    let a3 = ld(b + off + 48);
    let a4 = ld(b + off + 64);
    let a5 = ld(b + off + 80);
    let a6 = ld(b + off + 96);
    let a7 = ld(b + off + 112);
    let wp = P + ((<usize>p * <usize>Kp) << 7);
    const end = z + (<usize>Kp << 2);
    for (let xp = z; xp < end; xp += 8) {
      const s = splat(xp);
      a0 = madd(a0, s, ld(wp));
      a1 = madd(a1, s, ld(wp + 16));
      a2 = madd(a2, s, ld(wp + 32));
      a3 = madd(a3, s, ld(wp + 48));
      a4 = madd(a4, s, ld(wp + 64));
      a5 = madd(a5, s, ld(wp + 80));
      a6 = madd(a6, s, ld(wp + 96));
      a7 = madd(a7, s, ld(wp + 112));
      const t = splat(xp + 4);
      a0 = madd(a0, t, ld(wp + 128));
      a1 = madd(a1, t, ld(wp + 144));
      a2 = madd(a2, t, ld(wp + 160));
      a3 = madd(a3, t, ld(wp + 176));
      a4 = madd(a4, t, ld(wp + 192));
      a5 = madd(a5, t, ld(wp + 208));
      a6 = madd(a6, t, ld(wp + 224));
      a7 = madd(a7, t, ld(wp + 240));
      wp += 256;
    }
    const y = E + off;
    st(y, a0);
    st(y + 16, a1);
    st(y + 32, a2);
    st(y + 48, a3);
    st(y + 64, a4);
    st(y + 80, a5);
    st(y + 96, a6);
    st(y + 112, a7);
  }
}

/** E[c0 + r] = b[c0 + r] + z . rows[r] for r < R (dot products over Kp, a multiple of 4). */
function encoderRows(z: usize, rows: usize, R: i32, Kp: i32, b: usize, E: usize, c0: i32): void {
  const stride = <usize>Kp << 2;
  let r = 0;
  for (; r + 4 <= R; r += 4) {
    const w0 = rows + <usize>r * stride;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let k: usize = 0; k < stride; k += 16) {
      const x = ld(z + k);
      a0 = madd(a0, x, ld(w0 + k));
      a1 = madd(a1, x, ld(w0 + stride + k));
      a2 = madd(a2, x, ld(w0 + 2 * stride + k));
      a3 = madd(a3, x, ld(w0 + 3 * stride + k));
    }
    stf(E, c0 + r, ldf(b, c0 + r) + hsum(a0));
    stf(E, c0 + r + 1, ldf(b, c0 + r + 1) + hsum(a1));
    stf(E, c0 + r + 2, ldf(b, c0 + r + 2) + hsum(a2));
    stf(E, c0 + r + 3, ldf(b, c0 + r + 3) + hsum(a3));
  }
  for (; r < R; r++) {
    const w0 = rows + <usize>r * stride;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let k: usize = 0;
    for (; k + 32 <= stride; k += 32) {
      a0 = madd(a0, ld(z + k), ld(w0 + k));
      a1 = madd(a1, ld(z + k + 16), ld(w0 + k + 16));
    }
    if (k < stride) a0 = madd(a0, ld(z + k), ld(w0 + k));
    stf(E, c0 + r, ldf(b, c0 + r) + hsum(f32x4.add(a0, a1)));
  }
}

/** One aura control step at batch 1 (header layout at the top of this file). */
export function aura_step(hdr: usize): i32 {
  const K = <i32>hdrU32(hdr, 0);
  const dK = <i32>hdrU32(hdr, 1);
  const dV = <i32>hdrU32(hdr, 2);
  const dP = <i32>hdrU32(hdr, 3);
  const dG = <i32>hdrU32(hdr, 4);
  const dH = <i32>hdrU32(hdr, 5);
  const dA = <i32>hdrU32(hdr, 6);
  const W = <i32>hdrU32(hdr, 7);
  const nPanel = <i32>hdrU32(hdr, 8);
  const encP = <usize>hdrU32(hdr, 9);
  const encR = <usize>hdrU32(hdr, 10);
  const encB = <usize>hdrU32(hdr, 11);
  const gateW1 = <usize>hdrU32(hdr, 12);
  const gateB1 = <usize>hdrU32(hdr, 13);
  const gateW2 = <usize>hdrU32(hdr, 14);
  const gateB2 = hdrF32(hdr, 15);
  const hW1 = <usize>hdrU32(hdr, 16);
  const hB1 = <usize>hdrU32(hdr, 17);
  const hW2 = <usize>hdrU32(hdr, 18);
  const hB2 = <usize>hdrU32(hdr, 19);
  const decay = hdrF32(hdr, 20);
  const threshold = load<f64>(hdr + 128); // fields 32-33
  const gateNorm = hdrU32(hdr, 34) != 0;
  const z = <usize>hdrU32(hdr, 21);
  const M = <usize>hdrU32(hdr, 22);
  const m = <usize>hdrU32(hdr, 23);
  const out = <usize>hdrU32(hdr, 24);
  const E = <usize>hdrU32(hdr, 25);
  const kv = <usize>hdrU32(hdr, 26);
  const qv = <usize>hdrU32(hdr, 27);
  const gin = <usize>hdrU32(hdr, 28);
  const hin = <usize>hdrU32(hdr, 29);
  const pre = <usize>hdrU32(hdr, 30);
  const a1 = <usize>hdrU32(hdr, 31);
  const Kp = (K + 3) & ~3;

  if (hasNonFinite(z, Kp)) return 1;
  if (hasNonFinite(M, (dK * dV + 3) & ~3) || hasNonFinite(m, (dV + 3) & ~3)) return 3;

  // encoder
  encoderPanels(z, encP, nPanel, Kp, encB, E);
  encoderRows(z, encR, W - (nPanel << 5), Kp, encB, E, nPanel << 5);

  // k, q, h, beta
  l2norm(E, kv, dK);
  l2norm(E + (<usize>dK << 2), qv, dK);
  const hOff = 2 * dK + dV;
  memory.copy(gin, E + (<usize>hOff << 2), <usize>dP << 2);
  tanhArr(gin, dP);
  memory.copy(hin, gin, <usize>dP << 2);
  const beta = sigmoid1(ldf(E, W - 1));

  // e = v - (M^T k + m) into gin[dP ..), |e| into gin[dP + dV ..); surprise = ||e||
  const e = gin + (<usize>dP << 2);
  const ea = e + (<usize>dV << 2);
  const v = E + (<usize>(2 * dK) << 2);
  const rowM = <usize>dV << 2;
  let ssv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= dV; j += 4) {
    const cj = <usize>j << 2;
    let acc = ld(m + cj);
    let mp = M + cj;
    for (let i = 0; i < dK; i++) {
      acc = madd(acc, splat(kv + (<usize>i << 2)), ld(mp));
      mp += rowM;
    }
    const ev = f32x4.sub(ld(v + cj), acc);
    st(e + cj, ev);
    st(ea + cj, f32x4.abs(ev));
    ssv = madd(ssv, ev, ev);
  }
  let ss: f32 = hsum(ssv);
  for (; j < dV; j++) {
    let acc = ldf(m, j);
    for (let i = 0; i < dK; i++) acc += ldf(kv, i) * ldf(M, i * dV + j);
    const ej = ldf(v, j) - acc;
    stf(e, j, ej);
    stf(ea, j, Mathf.abs(ej));
    ss += ej * ej;
  }
  const surprise = Mathf.sqrt(ss);

  // write gate (MemoryConfig.gateNorm: one more input, the observation norm ||z||, in gin[dP + 2 dV])
  if (gateNorm) {
    let zs = f32x4.splat(0);
    for (let x = 0; x < Kp; x += 4) {
      const zv = ld(z + (<usize>x << 2));
      zs = madd(zs, zv, zv);
    }
    stf(gin, dP + 2 * dV, Mathf.sqrt(hsum(zs)));
  }
  matvec(gin, dP + 2 * dV + (gateNorm ? 1 : 0), gateW1, dG, gateB1, pre);
  tanhArr(pre, dG);
  let lv = f32x4.splat(0);
  let u = 0;
  for (; u + 4 <= dG; u += 4) lv = madd(lv, ld(pre + (<usize>u << 2)), ld(gateW2 + (<usize>u << 2)));
  let logit: f32 = hsum(lv);
  for (; u < dG; u++) logit += ldf(pre, u) * ldf(gateW2, u);
  logit += gateB2;
  const p = sigmoid1(logit);
  const g: f32 = <f64>p > threshold ? 1 : 0;

  // write decay where the gate writes, gated delta-rule write, then r = M^T q + m into hin[dP ..)
  const keep: f32 = <f32>1 - g * (<f32>1 - decay);
  if (keep != <f32>1) {
    const kv4 = f32x4.splat(keep);
    for (let i = 0; i < dK; i++) {
      const rowp = M + <usize>i * rowM;
      j = 0;
      for (; j + 4 <= dV; j += 4) st(rowp + (<usize>j << 2), f32x4.mul(ld(rowp + (<usize>j << 2)), kv4));
      for (; j < dV; j++) stf(rowp, j, ldf(rowp, j) * keep);
    }
    for (j = 0; j < dV; j++) stf(m, j, ldf(m, j) * keep);
  }
  const wgt = g * beta;
  const r = hin + (<usize>dP << 2);
  if (wgt != 0) {
    const wv = f32x4.splat(wgt);
    j = 0;
    for (; j + 4 <= dV; j += 4) {
      const cj = <usize>j << 2;
      st(m + cj, madd(ld(m + cj), wv, ld(e + cj)));
    }
    for (; j < dV; j++) stf(m, j, ldf(m, j) + wgt * ldf(e, j));
    for (let i = 0; i < dK; i++) {
      const wk = wgt * ldf(kv, i);
      const s = f32x4.splat(wk);
      const rowp = M + <usize>i * rowM;
      j = 0;
      for (; j + 4 <= dV; j += 4) {
        const cj = <usize>j << 2;
        st(rowp + cj, madd(ld(rowp + cj), s, ld(e + cj)));
      }
      for (; j < dV; j++) stf(rowp, j, ldf(rowp, j) + wk * ldf(e, j));
    }
  }
  j = 0;
  for (; j + 4 <= dV; j += 4) {
    const cj = <usize>j << 2;
    let acc = ld(m + cj);
    let mp = M + cj;
    for (let i = 0; i < dK; i++) {
      acc = madd(acc, splat(qv + (<usize>i << 2)), ld(mp));
      mp += rowM;
    }
    st(r + cj, acc);
  }
  for (; j < dV; j++) {
    let acc = ldf(m, j);
    for (let i = 0; i < dK; i++) acc += ldf(qv, i) * ldf(M, i * dV + j);
    stf(r, j, acc);
  }

  // action head
  matvec(hin, dP + dV, hW1, dH, hB1, a1);
  tanhArr(a1, dH);
  matvec(a1, dH, hW2, dA, hB2, out);
  stf(out, dA, g);
  stf(out, dA + 1, p);
  stf(out, dA + 2, surprise);
  if (hasNonFinite(out, (dA + 3 + 3) & ~3) || hasNonFinite(M, (dK * dV + 3) & ~3) || hasNonFinite(m, (dV + 3) & ~3)) return 2;
  return 0;
}
