// Kernels for src/ops/delta_rule: the gated delta-rule memory cell of AURA (arXiv 2606.02775).
//
// Per batch row b, step t, state M [dK, dV] (row-major) and m [dV]:
//   e = v - (M^T k + m);  g = gate(e);  w = g beta;  M += w k e^T;  m += w e;  r = M^T q + m.
// See src/ops/delta_rule/README.md for the maths, the backward and the checkpointing scheme.
//
// SIMD layout: the value dimension dV is contiguous, so every loop that touches M runs f32x4 over
// columns j (plus a scalar tail for dV % 4) with rows i as the outer or inner loop. All buffers,
// including scratch, are allocated by the TypeScript wrapper (src/ops/delta_rule/wasm.ts).
import { hdrU32, hdrF32 } from "./common";
import { vtanh, tanh1, sigmoid1 } from "./simd_math";

const MODE_LEARNED: u32 = 0;
const MODE_FIXED: u32 = 1;

// ---------------------------------------------------------------------------------------------
// Small helpers

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}
// @ts-ignore: decorator
@inline function ldv(p: usize, i: i32): v128 {
  return v128.load(p + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function stv(p: usize, i: i32, x: v128): void {
  v128.store(p + (<usize>i << 2), x);
}
// @ts-ignore: decorator
@inline function hsum(x: v128): f32 {
  const y = f32x4.add(x, v128.shuffle<f32>(x, x, 2, 3, 0, 1));
  const z = f32x4.add(y, v128.shuffle<f32>(y, y, 1, 0, 3, 2));
  return f32x4.extract_lane(z, 0);
}
// @ts-ignore: decorator
@inline function copyF32(dst: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}
// @ts-ignore: decorator
@inline function zeroF32(dst: usize, n: i32): void {
  memory.fill(dst, 0, <usize>n << 2);
}

/** dot(a, b) over n contiguous floats. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  const n4 = n & ~3;
  let acc = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) acc = f32x4.add(acc, f32x4.mul(ldv(a, j), ldv(b, j)));
  let s = hsum(acc);
  for (let j = n4; j < n; j++) s += ldf(a, j) * ldf(b, j);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Forward

/**
 * vhat = m + sum_i k_i M[i,:] into `out` (dV). Columns in blocks of 4 with the row loop inside, so
 * the accumulator stays in a register.
 */
// @ts-ignore: decorator
@inline function readout(M: usize, m: usize, x: usize, out: usize, dK: i32, dV: i32): void {
  const n4 = dV & ~3;
  for (let j = 0; j < n4; j += 4) {
    let acc = ldv(m, j);
    let row = M + (<usize>j << 2);
    for (let i = 0; i < dK; i++) {
      acc = f32x4.add(acc, f32x4.mul(f32x4.splat(ldf(x, i)), v128.load(row)));
      row += <usize>dV << 2;
    }
    stv(out, j, acc);
  }
  for (let j = n4; j < dV; j++) {
    let acc = ldf(m, j);
    for (let i = 0; i < dK; i++) acc += ldf(x, i) * ldf(M, i * dV + j);
    stf(out, j, acc);
  }
}

/**
 * One fused pass over M for step t: optional write M[i,:] += wk_i e (and m += w e), then the
 * read-out r = M^T q + m and, when `next` is set, the next step's prediction vhat = M^T kn + m.
 * `upd`/`next` are compile-time constants at every call site (the function is inlined).
 * Columns go in groups of 8 (two f32x4 per row, four independent accumulator chains), then a single
 * f32x4 block, then a scalar tail; rows are the inner loop so the accumulators stay in registers.
 */
// @ts-ignore: decorator
@inline function fusedPass(
  M: usize, m: usize, e: usize, wk: usize, w: f32, q: usize, kn: usize, r: usize, vhat: usize,
  dK: i32, dV: i32, upd: bool, next: bool,
): void {
  const wv = f32x4.splat(w);
  const stride = <usize>dV << 2;
  let j = 0;
  for (; j + 8 <= dV; j += 8) {
    const e0 = ldv(e, j);
    const e1 = ldv(e, j + 4);
    let m0 = ldv(m, j);
    let m1 = ldv(m, j + 4);
    if (upd) {
      m0 = f32x4.add(m0, f32x4.mul(wv, e0));
      m1 = f32x4.add(m1, f32x4.mul(wv, e1));
      stv(m, j, m0);
      stv(m, j + 4, m1);
    }
    let r0 = m0;
    let r1 = m1;
    let h0 = m0;
    let h1 = m1;
    let row = M + (<usize>j << 2);
    for (let i = 0; i < dK; i++) {
      let M0 = v128.load(row);
      let M1 = v128.load(row, 16);
      if (upd) {
        const s = v128.load32_splat(wk + (<usize>i << 2));
        M0 = f32x4.add(M0, f32x4.mul(s, e0));
        M1 = f32x4.add(M1, f32x4.mul(s, e1));
        v128.store(row, M0);
        v128.store(row, M1, 16);
      }
      const qs = v128.load32_splat(q + (<usize>i << 2));
      r0 = f32x4.add(r0, f32x4.mul(qs, M0));
      r1 = f32x4.add(r1, f32x4.mul(qs, M1));
      if (next) {
        const ks = v128.load32_splat(kn + (<usize>i << 2));
        h0 = f32x4.add(h0, f32x4.mul(ks, M0));
        h1 = f32x4.add(h1, f32x4.mul(ks, M1));
      }
      row += stride;
    }
    stv(r, j, r0);
    stv(r, j + 4, r1);
    if (next) {
      stv(vhat, j, h0);
      stv(vhat, j + 4, h1);
    }
  }
  for (; j + 4 <= dV; j += 4) {
    const ev = ldv(e, j);
    let mv = ldv(m, j);
    if (upd) {
      mv = f32x4.add(mv, f32x4.mul(wv, ev));
      stv(m, j, mv);
    }
    let racc = mv;
    let hacc = mv;
    let row = M + (<usize>j << 2);
    for (let i = 0; i < dK; i++) {
      let Mv = v128.load(row);
      if (upd) {
        Mv = f32x4.add(Mv, f32x4.mul(v128.load32_splat(wk + (<usize>i << 2)), ev));
        v128.store(row, Mv);
      }
      racc = f32x4.add(racc, f32x4.mul(v128.load32_splat(q + (<usize>i << 2)), Mv));
      if (next) hacc = f32x4.add(hacc, f32x4.mul(v128.load32_splat(kn + (<usize>i << 2)), Mv));
      row += stride;
    }
    stv(r, j, racc);
    if (next) stv(vhat, j, hacc);
  }
  for (; j < dV; j++) {
    const ej = ldf(e, j);
    let mj = ldf(m, j);
    if (upd) {
      mj = mj + w * ej;
      stf(m, j, mj);
    }
    let racc = mj;
    let hacc = mj;
    for (let i = 0; i < dK; i++) {
      let Mij = ldf(M, i * dV + j);
      if (upd) {
        Mij = Mij + ldf(wk, i) * ej;
        stf(M, i * dV + j, Mij);
      }
      racc += ldf(q, i) * Mij;
      if (next) hacc += ldf(kn, i) * Mij;
    }
    stf(r, j, racc);
    if (next) stf(vhat, j, hacc);
  }
}

/**
 * Learned-gate pre-activation pre[h] = gatePre[h] + sum_j e_j W1e[j,h] + |e_j| W1a[j,h] (h contiguous),
 * as pre[h] = gatePre[h] + sum_j e_j Gs[j,h] with Gs = Gp = W1e + W1a where e_j >= 0 and
 * Gs = Gm = W1e - W1a where e_j < 0: one multiply-add per (j, h) instead of two. Groups of 16 h (four
 * accumulator chains), then single f32x4 blocks, then a scalar tail.
 */
// @ts-ignore: decorator
@inline function gatePreact(gp: usize, e: usize, Gp: usize, Gm: usize, pre: usize, dV: i32, dG: i32): void {
  const stride = <usize>dG << 2;
  let h = 0;
  for (; h + 16 <= dG; h += 16) {
    let a0 = ldv(gp, h);
    let a1 = ldv(gp, h + 4);
    let a2 = ldv(gp, h + 8);
    let a3 = ldv(gp, h + 12);
    const off = <usize>h << 2;
    for (let j = 0; j < dV; j++) {
      const ej = ldf(e, j);
      const row = select<usize>(Gp, Gm, ej >= 0) + <usize>j * stride + off;
      const s = f32x4.splat(ej);
      a0 = f32x4.add(a0, f32x4.mul(s, v128.load(row)));
      a1 = f32x4.add(a1, f32x4.mul(s, v128.load(row, 16)));
      a2 = f32x4.add(a2, f32x4.mul(s, v128.load(row, 32)));
      a3 = f32x4.add(a3, f32x4.mul(s, v128.load(row, 48)));
    }
    stv(pre, h, a0);
    stv(pre, h + 4, a1);
    stv(pre, h + 8, a2);
    stv(pre, h + 12, a3);
  }
  for (; h + 4 <= dG; h += 4) {
    let a0 = ldv(gp, h);
    let a1 = f32x4.splat(0);
    const off = <usize>h << 2;
    let j = 0;
    for (; j + 2 <= dV; j += 2) {
      const e0 = ldf(e, j);
      const e1 = ldf(e, j + 1);
      a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(e0), v128.load(select<usize>(Gp, Gm, e0 >= 0) + <usize>j * stride + off)));
      a1 = f32x4.add(a1, f32x4.mul(f32x4.splat(e1), v128.load(select<usize>(Gp, Gm, e1 >= 0) + <usize>(j + 1) * stride + off)));
    }
    for (; j < dV; j++) {
      const e0 = ldf(e, j);
      a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(e0), v128.load(select<usize>(Gp, Gm, e0 >= 0) + <usize>j * stride + off)));
    }
    stv(pre, h, f32x4.add(a0, a1));
  }
  for (; h < dG; h++) {
    let acc = ldf(gp, h);
    for (let j = 0; j < dV; j++) {
      const ej = ldf(e, j);
      acc += ej * ldf(select<usize>(Gp, Gm, ej >= 0), j * dG + h);
    }
    stf(pre, h, acc);
  }
}

/**
 * Forward over all rows and steps. Header (u32 unless noted):
 *  0 B, 1 T, 2 dK, 3 dV, 4 dGate, 5 mode (0 learned, 1 fixed, 2 recon), 6 hard, 7 C (0: no checkpoints),
 *  8 k, 9 q, 10 v, 11 beta, 12 gatePre (learned) | g (fixed), 13 W1e, 14 W1a, 15 w2, 16 M0 (0: zeros),
 *  17 m0 (0: zeros), 18 r, 19 e, 20 p, 21 g, 22 surprise, 23 M final (also the working state),
 *  24 m final, 25 checkpoints [B, ceil(T/C), dK, dV], 26 act [B, T, dGate] (0: none),
 *  27 scratch (pad4(dV) + pad4(dK) + pad4(dGate) + 2 pad4(dV * dGate) floats), 28 b2 (f32),
 *  29 threshold (f32), 30 tau (f32), 31 per-step thresholds [B, T] of the hard gate (0: use 29),
 *  32 write decay alpha (f32, 1 = none): at a step with gate g, M and m are scaled by 1 - g (1 - alpha)
 *     before the rank-1 write (the surprise e and the gate read the state before the decay).
 */
export function delta_rule_fwd(hdr: usize): void {
  const B = <i32>hdrU32(hdr, 0);
  const T = <i32>hdrU32(hdr, 1);
  const dK = <i32>hdrU32(hdr, 2);
  const dV = <i32>hdrU32(hdr, 3);
  const dG = <i32>hdrU32(hdr, 4);
  const mode = hdrU32(hdr, 5);
  const hard = hdrU32(hdr, 6) != 0;
  const C = <i32>hdrU32(hdr, 7);
  const pk = <usize>hdrU32(hdr, 8);
  const pq = <usize>hdrU32(hdr, 9);
  const pv = <usize>hdrU32(hdr, 10);
  const pbeta = <usize>hdrU32(hdr, 11);
  const pgate = <usize>hdrU32(hdr, 12);
  const W1e = <usize>hdrU32(hdr, 13);
  const W1a = <usize>hdrU32(hdr, 14);
  const w2 = <usize>hdrU32(hdr, 15);
  const pM0 = <usize>hdrU32(hdr, 16);
  const pm0 = <usize>hdrU32(hdr, 17);
  const pr = <usize>hdrU32(hdr, 18);
  const pe = <usize>hdrU32(hdr, 19);
  const pp = <usize>hdrU32(hdr, 20);
  const pg = <usize>hdrU32(hdr, 21);
  const ps = <usize>hdrU32(hdr, 22);
  const pMf = <usize>hdrU32(hdr, 23);
  const pmf = <usize>hdrU32(hdr, 24);
  const pck = <usize>hdrU32(hdr, 25);
  const pact = <usize>hdrU32(hdr, 26);
  const scr = <usize>hdrU32(hdr, 27);
  const b2 = hdrF32(hdr, 28);
  const thr = hdrF32(hdr, 29);
  const tau = hdrF32(hdr, 30);
  const pthr = <usize>hdrU32(hdr, 31);
  const decay = hdrF32(hdr, 32);

  const vhat = scr; // dV
  const wk = vhat + (<usize>((dV + 3) & ~3) << 2); // w k (dK)
  const pre = wk + (<usize>((dK + 3) & ~3) << 2); // gate pre-activation (dGate)
  const Gp = pre + (<usize>((dG + 3) & ~3) << 2); // W1e + W1a [dV, dGate]
  const Gm = Gp + (<usize>((dV * dG + 3) & ~3) << 2); // W1e - W1a [dV, dGate]
  const S = dK * dV;
  const nC = C > 0 ? (T + C - 1) / C : 0;
  const dG4 = dG & ~3;

  if (mode == MODE_LEARNED) {
    const n = dV * dG;
    let x = 0;
    for (; x + 4 <= n; x += 4) {
      const ge = ldv(W1e, x);
      const ga = ldv(W1a, x);
      stv(Gp, x, f32x4.add(ge, ga));
      stv(Gm, x, f32x4.sub(ge, ga));
    }
    for (; x < n; x++) {
      stf(Gp, x, ldf(W1e, x) + ldf(W1a, x));
      stf(Gm, x, ldf(W1e, x) - ldf(W1a, x));
    }
  }

  for (let b = 0; b < B; b++) {
    const M = pMf + (<usize>(b * S) << 2);
    const m = pmf + (<usize>(b * dV) << 2);
    if (pM0) copyF32(M, pM0 + (<usize>(b * S) << 2), S);
    else zeroF32(M, S);
    if (pm0) copyF32(m, pm0 + (<usize>(b * dV) << 2), dV);
    else zeroF32(m, dV);

    readout(M, m, pk + (<usize>(b * T * dK) << 2), vhat, dK, dV);
    for (let t = 0; t < T; t++) {
      const bt = b * T + t;
      const k = pk + (<usize>(bt * dK) << 2);
      const q = pq + (<usize>(bt * dK) << 2);
      const v = pv + (<usize>(bt * dV) << 2);
      const e = pe + (<usize>(bt * dV) << 2);
      if (C > 0 && t % C == 0) copyF32(pck + (<usize>((b * nC + t / C) * S) << 2), M, S);

      // Surprise vector and its norm.
      const n4 = dV & ~3;
      let ssv = f32x4.splat(0);
      for (let j = 0; j < n4; j += 4) {
        const ev = f32x4.sub(ldv(v, j), ldv(vhat, j));
        stv(e, j, ev);
        ssv = f32x4.add(ssv, f32x4.mul(ev, ev));
      }
      let ss = hsum(ssv);
      for (let j = n4; j < dV; j++) {
        const ej = ldf(v, j) - ldf(vhat, j);
        stf(e, j, ej);
        ss += ej * ej;
      }
      const surprise = Mathf.sqrt(ss);

      // Gate.
      let p: f32;
      let g: f32;
      if (mode == MODE_LEARNED) {
        const gp = pgate + (<usize>(bt * dG) << 2);
        gatePreact(gp, e, Gp, Gm, pre, dV, dG);
        const act = pact + (<usize>(bt * dG) << 2);
        let lv = f32x4.splat(0);
        for (let h = 0; h < dG4; h += 4) {
          const a = vtanh(ldv(pre, h));
          if (pact) stv(act, h, a);
          lv = f32x4.add(lv, f32x4.mul(a, ldv(w2, h)));
        }
        let logit = b2 + hsum(lv);
        for (let h = dG4; h < dG; h++) {
          const a = tanh1(ldf(pre, h));
          if (pact) stf(act, h, a);
          logit += a * ldf(w2, h);
        }
        p = sigmoid1(logit);
        const u = pthr ? ldf(pthr, bt) : thr;
        g = hard ? (p > u ? <f32>1 : <f32>0) : p;
      } else if (mode == MODE_FIXED) {
        g = p = ldf(pgate, bt);
      } else {
        g = p = surprise > tau ? <f32>1 : <f32>0;
      }
      stf(pp, bt, p);
      stf(pg, bt, g);
      stf(ps, bt, surprise);

      // Write decay (forgetting only where the gate writes), then write, read-out and the next step's
      // prediction in one pass over M.
      const keep: f32 = <f32>1 - g * (<f32>1 - decay);
      if (keep != <f32>1) {
        const kv = f32x4.splat(keep);
        const S4 = S & ~3;
        for (let x = 0; x < S4; x += 4) stv(M, x, f32x4.mul(ldv(M, x), kv));
        for (let x = S4; x < S; x++) stf(M, x, ldf(M, x) * keep);
        for (let j = 0; j < dV; j++) stf(m, j, ldf(m, j) * keep);
      }
      const w = g * ldf(pbeta, bt);
      const r = pr + (<usize>(bt * dV) << 2);
      const kn = k + (<usize>dK << 2);
      if (w != 0) {
        for (let i = 0; i < dK; i++) stf(wk, i, w * ldf(k, i));
        if (t + 1 < T) fusedPass(M, m, e, wk, w, q, kn, r, vhat, dK, dV, true, true);
        else fusedPass(M, m, e, wk, w, q, kn, r, vhat, dK, dV, true, false);
      } else {
        if (t + 1 < T) fusedPass(M, m, e, wk, w, q, kn, r, vhat, dK, dV, false, true);
        else fusedPass(M, m, e, wk, w, q, kn, r, vhat, dK, dV, false, false);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward

/**
 * dst = src + w k e^T row by row, with exactly the forward's float32 operations (wk_i = w*k_i, then
 * M + wk_i*e), so recomputed states are bit-identical to the forward's.
 */
// @ts-ignore: decorator
@inline function rank1Next(dst: usize, src: usize, k: usize, e: usize, w: f32, dK: i32, dV: i32): void {
  const n4 = dV & ~3;
  for (let i = 0; i < dK; i++) {
    const wki = w * ldf(k, i);
    const wkv = f32x4.splat(wki);
    const o = i * dV;
    for (let j = 0; j < n4; j += 4) stv(dst, o + j, f32x4.add(ldv(src, o + j), f32x4.mul(wkv, ldv(e, j))));
    for (let j = n4; j < dV; j++) stf(dst, o + j, ldf(src, o + j) + wki * ldf(e, j));
  }
}

/**
 * dst = keep src + w k e^T (the write decay of the forward, then its rank-1 write), with exactly the
 * forward's float32 operations (M * keep stored first, then M + wk_i * e).
 */
// @ts-ignore: decorator
@inline function decayRank1Next(dst: usize, src: usize, k: usize, e: usize, w: f32, keep: f32, dK: i32, dV: i32): void {
  const n4 = dV & ~3;
  const kv = f32x4.splat(keep);
  for (let i = 0; i < dK; i++) {
    const wki = w * ldf(k, i);
    const wkv = f32x4.splat(wki);
    const o = i * dV;
    if (w != 0) {
      for (let j = 0; j < n4; j += 4) stv(dst, o + j, f32x4.add(f32x4.mul(ldv(src, o + j), kv), f32x4.mul(wkv, ldv(e, j))));
      for (let j = n4; j < dV; j++) stf(dst, o + j, ldf(src, o + j) * keep + wki * ldf(e, j));
    } else {
      for (let j = 0; j < n4; j += 4) stv(dst, o + j, f32x4.mul(ldv(src, o + j), kv));
      for (let j = n4; j < dV; j++) stf(dst, o + j, ldf(src, o + j) * keep);
    }
  }
}

/** x[0:n] *= a (SIMD). */
// @ts-ignore: decorator
@inline function scaleF32(x: usize, a: f32, n: i32): void {
  const n4 = n & ~3;
  const av = f32x4.splat(a);
  for (let j = 0; j < n4; j += 4) stv(x, j, f32x4.mul(ldv(x, j), av));
  for (let j = n4; j < n; j++) stf(x, j, ldf(x, j) * a);
}

/** sign(x) per lane: 1, -1, or 0 (also for -0 and NaN). */
// @ts-ignore: decorator
@inline function sign4(x: v128): v128 {
  const zero = f32x4.splat(0);
  return v128.or(v128.and(f32x4.gt(x, zero), f32x4.splat(1.0)), v128.and(f32x4.lt(x, zero), f32x4.splat(-1.0)));
}

/**
 * Read-out and the start of the write's backward for one step (pass A), row by row:
 * dm += dr; z = dm (then z += sum_i k_i dM'[i,:]); dM'[i,:] = dM[i,:] + q_i dr; u_i = dM'[i,:] . e.
 */
// @ts-ignore: decorator
@inline function passA(dM: usize, dm: usize, z: usize, u: usize, q: usize, k: usize, dr: usize, e: usize, dK: i32, dV: i32): void {
  let j = 0;
  for (; j + 4 <= dV; j += 4) {
    const x = f32x4.add(ldv(dm, j), ldv(dr, j));
    stv(dm, j, x);
    stv(z, j, x);
  }
  for (; j < dV; j++) {
    const x = ldf(dm, j) + ldf(dr, j);
    stf(dm, j, x);
    stf(z, j, x);
  }
  const stride = <usize>dV << 2;
  let row = dM;
  for (let i = 0; i < dK; i++) {
    const qi = ldf(q, i);
    const ki = ldf(k, i);
    const qv = f32x4.splat(qi);
    const kv = f32x4.splat(ki);
    let u0 = f32x4.splat(0);
    let u1 = f32x4.splat(0);
    j = 0;
    for (; j + 8 <= dV; j += 8) {
      const x0 = f32x4.add(ldv(row, j), f32x4.mul(qv, ldv(dr, j)));
      const x1 = f32x4.add(ldv(row, j + 4), f32x4.mul(qv, ldv(dr, j + 4)));
      stv(row, j, x0);
      stv(row, j + 4, x1);
      u0 = f32x4.add(u0, f32x4.mul(x0, ldv(e, j)));
      u1 = f32x4.add(u1, f32x4.mul(x1, ldv(e, j + 4)));
      stv(z, j, f32x4.add(ldv(z, j), f32x4.mul(kv, x0)));
      stv(z, j + 4, f32x4.add(ldv(z, j + 4), f32x4.mul(kv, x1)));
    }
    for (; j + 4 <= dV; j += 4) {
      const x0 = f32x4.add(ldv(row, j), f32x4.mul(qv, ldv(dr, j)));
      stv(row, j, x0);
      u0 = f32x4.add(u0, f32x4.mul(x0, ldv(e, j)));
      stv(z, j, f32x4.add(ldv(z, j), f32x4.mul(kv, x0)));
    }
    let us = hsum(f32x4.add(u0, u1));
    for (; j < dV; j++) {
      const x = ldf(row, j) + qi * ldf(dr, j);
      stf(row, j, x);
      us += x * ldf(e, j);
      stf(z, j, ldf(z, j) + ki * x);
    }
    stf(u, i, us);
    row += stride;
  }
}

/**
 * The surprise's backward for one step (pass B), row by row over the pre-write (pre-decay) state Mp:
 * dq_i = a Mp[i,:] . dr + w k_i (e . dr);  dk_i = w u_i - Mp[i,:] . de;  dM[i,:] -= k_i de
 * (a = the step's write decay factor, 1 when silent or without decay).
 */
// @ts-ignore: decorator
@inline function passB(
  dM: usize, Mp: usize, u: usize, k: usize, dr: usize, de: usize, w: f32, edr: f32, a: f32, dq: usize, dk: usize, dK: i32, dV: i32,
): void {
  const stride = <usize>dV << 2;
  let row = dM;
  let mrow = Mp;
  for (let i = 0; i < dK; i++) {
    const ki = ldf(k, i);
    const kv = f32x4.splat(ki);
    let aq0 = f32x4.splat(0);
    let aq1 = f32x4.splat(0);
    let ak0 = f32x4.splat(0);
    let ak1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dV; j += 8) {
      const M0 = ldv(mrow, j);
      const M1 = ldv(mrow, j + 4);
      const d0 = ldv(de, j);
      const d1 = ldv(de, j + 4);
      aq0 = f32x4.add(aq0, f32x4.mul(M0, ldv(dr, j)));
      aq1 = f32x4.add(aq1, f32x4.mul(M1, ldv(dr, j + 4)));
      ak0 = f32x4.add(ak0, f32x4.mul(M0, d0));
      ak1 = f32x4.add(ak1, f32x4.mul(M1, d1));
      stv(row, j, f32x4.sub(ldv(row, j), f32x4.mul(kv, d0)));
      stv(row, j + 4, f32x4.sub(ldv(row, j + 4), f32x4.mul(kv, d1)));
    }
    for (; j + 4 <= dV; j += 4) {
      const M0 = ldv(mrow, j);
      const d0 = ldv(de, j);
      aq0 = f32x4.add(aq0, f32x4.mul(M0, ldv(dr, j)));
      ak0 = f32x4.add(ak0, f32x4.mul(M0, d0));
      stv(row, j, f32x4.sub(ldv(row, j), f32x4.mul(kv, d0)));
    }
    let sq = hsum(f32x4.add(aq0, aq1));
    let sk = hsum(f32x4.add(ak0, ak1));
    for (; j < dV; j++) {
      const Mij = ldf(mrow, j);
      const dej = ldf(de, j);
      sq += Mij * ldf(dr, j);
      sk += Mij * dej;
      stf(row, j, ldf(row, j) - ki * dej);
    }
    stf(dq, i, a * sq + w * ki * edr);
    stf(dk, i, w * ldf(u, i) - sk);
    row += stride;
    mrow += stride;
  }
}

/**
 * de[j] += sum_h (W1e[j,h] + sign(e_j) W1a[j,h]) dpre[h], with the gate weights transposed to
 * [dGate, dV] (GeT, GaT) so that columns j are contiguous: groups of 8 columns, rows h inner.
 */
// @ts-ignore: decorator
@inline function gateDe(de: usize, e: usize, dpre: usize, GeT: usize, GaT: usize, dV: i32, dG: i32): void {
  const stride = <usize>dV << 2;
  let j = 0;
  for (; j + 8 <= dV; j += 8) {
    let e0 = f32x4.splat(0);
    let e1 = f32x4.splat(0);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let pe = GeT + (<usize>j << 2);
    let pa = GaT + (<usize>j << 2);
    for (let h = 0; h < dG; h++) {
      const s = v128.load32_splat(dpre + (<usize>h << 2));
      e0 = f32x4.add(e0, f32x4.mul(s, v128.load(pe)));
      e1 = f32x4.add(e1, f32x4.mul(s, v128.load(pe, 16)));
      a0 = f32x4.add(a0, f32x4.mul(s, v128.load(pa)));
      a1 = f32x4.add(a1, f32x4.mul(s, v128.load(pa, 16)));
      pe += stride;
      pa += stride;
    }
    stv(de, j, f32x4.add(ldv(de, j), f32x4.add(e0, f32x4.mul(sign4(ldv(e, j)), a0))));
    stv(de, j + 4, f32x4.add(ldv(de, j + 4), f32x4.add(e1, f32x4.mul(sign4(ldv(e, j + 4)), a1))));
  }
  for (; j + 4 <= dV; j += 4) {
    let e0 = f32x4.splat(0);
    let a0 = f32x4.splat(0);
    let pe = GeT + (<usize>j << 2);
    let pa = GaT + (<usize>j << 2);
    for (let h = 0; h < dG; h++) {
      const s = v128.load32_splat(dpre + (<usize>h << 2));
      e0 = f32x4.add(e0, f32x4.mul(s, v128.load(pe)));
      a0 = f32x4.add(a0, f32x4.mul(s, v128.load(pa)));
      pe += stride;
      pa += stride;
    }
    stv(de, j, f32x4.add(ldv(de, j), f32x4.add(e0, f32x4.mul(sign4(ldv(e, j)), a0))));
  }
  for (; j < dV; j++) {
    const ej = ldf(e, j);
    const sgn: f32 = ej > 0 ? 1 : ej < 0 ? -1 : 0;
    let se: f32 = 0;
    let sa: f32 = 0;
    for (let h = 0; h < dG; h++) {
      const dh = ldf(dpre, h);
      se += ldf(GeT, h * dV + j) * dh;
      sa += ldf(GaT, h * dV + j) * dh;
    }
    stf(de, j, ldf(de, j) + (se + sgn * sa));
  }
}

/**
 * dW1e[j,h] += sum_t e[t,j] dpre[t,h] and dW1a[j,h] += sum_t |e[t,j]| dpre[t,h] over the T steps of
 * one batch row (e: [T, dV], dpre: [T, dGate]); eight accumulator chains per group of 16 h.
 */
// @ts-ignore: decorator
@inline function gateWeightGrads(dW1e: usize, dW1a: usize, e: usize, dpre: usize, T: i32, dV: i32, dG: i32): void {
  const se = <usize>dV << 2;
  const sg = <usize>dG << 2;
  for (let j = 0; j < dV; j++) {
    const o = j * dG;
    let h = 0;
    for (; h + 16 <= dG; h += 16) {
      let e0 = ldv(dW1e, o + h);
      let e1 = ldv(dW1e, o + h + 4);
      let e2 = ldv(dW1e, o + h + 8);
      let e3 = ldv(dW1e, o + h + 12);
      let a0 = ldv(dW1a, o + h);
      let a1 = ldv(dW1a, o + h + 4);
      let a2 = ldv(dW1a, o + h + 8);
      let a3 = ldv(dW1a, o + h + 12);
      let pe = e + (<usize>j << 2);
      let pg = dpre + (<usize>h << 2);
      for (let t = 0; t < T; t++) {
        const s = v128.load32_splat(pe);
        const sa = f32x4.abs(s);
        const g0 = v128.load(pg);
        const g1 = v128.load(pg, 16);
        const g2 = v128.load(pg, 32);
        const g3 = v128.load(pg, 48);
        e0 = f32x4.add(e0, f32x4.mul(s, g0));
        e1 = f32x4.add(e1, f32x4.mul(s, g1));
        e2 = f32x4.add(e2, f32x4.mul(s, g2));
        e3 = f32x4.add(e3, f32x4.mul(s, g3));
        a0 = f32x4.add(a0, f32x4.mul(sa, g0));
        a1 = f32x4.add(a1, f32x4.mul(sa, g1));
        a2 = f32x4.add(a2, f32x4.mul(sa, g2));
        a3 = f32x4.add(a3, f32x4.mul(sa, g3));
        pe += se;
        pg += sg;
      }
      stv(dW1e, o + h, e0);
      stv(dW1e, o + h + 4, e1);
      stv(dW1e, o + h + 8, e2);
      stv(dW1e, o + h + 12, e3);
      stv(dW1a, o + h, a0);
      stv(dW1a, o + h + 4, a1);
      stv(dW1a, o + h + 8, a2);
      stv(dW1a, o + h + 12, a3);
    }
    for (; h + 4 <= dG; h += 4) {
      let e0 = ldv(dW1e, o + h);
      let a0 = ldv(dW1a, o + h);
      let pe = e + (<usize>j << 2);
      let pg = dpre + (<usize>h << 2);
      for (let t = 0; t < T; t++) {
        const s = v128.load32_splat(pe);
        const g0 = v128.load(pg);
        e0 = f32x4.add(e0, f32x4.mul(s, g0));
        a0 = f32x4.add(a0, f32x4.mul(f32x4.abs(s), g0));
        pe += se;
        pg += sg;
      }
      stv(dW1e, o + h, e0);
      stv(dW1a, o + h, a0);
    }
    for (; h < dG; h++) {
      let ae: f32 = ldf(dW1e, o + h);
      let aa: f32 = ldf(dW1a, o + h);
      for (let t = 0; t < T; t++) {
        const x = ldf(e, t * dV + j);
        const g = ldf(dpre, t * dG + h);
        ae += x * g;
        aa += Mathf.abs(x) * g;
      }
      stf(dW1e, o + h, ae);
      stf(dW1a, o + h, aa);
    }
  }
}

/**
 * Backward (BPTT) over all rows. Header (u32):
 *  0 B, 1 T, 2 dK, 3 dV, 4 dGate, 5 mode, 6 C, 7 k, 8 q, 9 beta, 10 e, 11 g, 12 p, 13 act, 14 W1e,
 *  15 W1a, 16 w2, 17 checkpoints, 18 dr, 19 dp (0: none), 20 dFinal.M (0: none), 21 dFinal.m (0: none),
 *  22 dk, 23 dq, 24 dv, 25 dbeta, 26 dM0 (also the working dM), 27 dm0 (also the working dm),
 *  28 dGatePre, 29 dW1e (zeroed), 30 dW1a (zeroed), 31 dw2 (zeroed), 32 db2 (1 float),
 *  33 states (min(C, T) * dK * dV floats),
 *  34 scratch (2 pad4(dV) + pad4(dK) + pad4(dGate) + 2 pad4(dGate * dV) floats),
 *  35 write decay alpha (f32, 1 = none), 36 m0 (B * dV: the forward's initial bias; only with alpha < 1),
 *  37 mStates (T * dV floats scratch: one row's pre-write m; only with alpha < 1).
 * With alpha < 1 (M' = a M + w k e^T, m' = a m + w e, a = 1 - g (1 - alpha)): the recomputed states
 * include the decay, dq carries a, dL/dg gains -(1 - alpha) (<dM', M> + <dm', m>), and dM, dm are
 * scaled by a before the surprise's backward (docs/method.md, "Horizon").
 */
export function delta_rule_bwd(hdr: usize): void {
  const B = <i32>hdrU32(hdr, 0);
  const T = <i32>hdrU32(hdr, 1);
  const dK = <i32>hdrU32(hdr, 2);
  const dV = <i32>hdrU32(hdr, 3);
  const dG = <i32>hdrU32(hdr, 4);
  const mode = hdrU32(hdr, 5);
  const C = <i32>hdrU32(hdr, 6);
  const pk = <usize>hdrU32(hdr, 7);
  const pq = <usize>hdrU32(hdr, 8);
  const pbeta = <usize>hdrU32(hdr, 9);
  const pe = <usize>hdrU32(hdr, 10);
  const pg = <usize>hdrU32(hdr, 11);
  const pp = <usize>hdrU32(hdr, 12);
  const pact = <usize>hdrU32(hdr, 13);
  const W1e = <usize>hdrU32(hdr, 14);
  const W1a = <usize>hdrU32(hdr, 15);
  const w2 = <usize>hdrU32(hdr, 16);
  const pck = <usize>hdrU32(hdr, 17);
  const pdr = <usize>hdrU32(hdr, 18);
  const pdp = <usize>hdrU32(hdr, 19);
  const pdFM = <usize>hdrU32(hdr, 20);
  const pdFm = <usize>hdrU32(hdr, 21);
  const pdk = <usize>hdrU32(hdr, 22);
  const pdq = <usize>hdrU32(hdr, 23);
  const pdv = <usize>hdrU32(hdr, 24);
  const pdbeta = <usize>hdrU32(hdr, 25);
  const pdM = <usize>hdrU32(hdr, 26);
  const pdm = <usize>hdrU32(hdr, 27);
  const pdGate = <usize>hdrU32(hdr, 28);
  const dW1e = <usize>hdrU32(hdr, 29);
  const dW1a = <usize>hdrU32(hdr, 30);
  const dw2 = <usize>hdrU32(hdr, 31);
  const pdc2 = <usize>hdrU32(hdr, 32);
  const states = <usize>hdrU32(hdr, 33);
  const scr = <usize>hdrU32(hdr, 34);
  const decay = hdrF32(hdr, 35);
  const pm0 = <usize>hdrU32(hdr, 36);
  const mStates = <usize>hdrU32(hdr, 37);
  const decays = decay != <f32>1;

  const z = scr; // dM'^T k + dm' (dV)
  const de = z + (<usize>((dV + 3) & ~3) << 2); // dV
  const u = de + (<usize>((dV + 3) & ~3) << 2); // dM' e (dK)
  const dpre = u + (<usize>((dK + 3) & ~3) << 2); // dGate
  const GeT = dpre + (<usize>((dG + 3) & ~3) << 2); // W1e^T [dGate, dV]
  const GaT = GeT + (<usize>((dG * dV + 3) & ~3) << 2); // W1a^T [dGate, dV]
  const S = dK * dV;
  const nC = (T + C - 1) / C;
  const learned = mode == MODE_LEARNED;
  let db2: f64 = 0; // a sum over all B*T steps with cancellation: accumulate in f64

  if (learned) {
    for (let j = 0; j < dV; j++) {
      for (let h = 0; h < dG; h++) {
        stf(GeT, h * dV + j, ldf(W1e, j * dG + h));
        stf(GaT, h * dV + j, ldf(W1a, j * dG + h));
      }
    }
  }

  for (let b = 0; b < B; b++) {
    const dM = pdM + (<usize>(b * S) << 2);
    const dm = pdm + (<usize>(b * dV) << 2);
    if (pdFM) copyF32(dM, pdFM + (<usize>(b * S) << 2), S);
    else zeroF32(dM, S);
    if (pdFm) copyF32(dm, pdFm + (<usize>(b * dV) << 2), dV);
    else zeroF32(dm, dV);
    if (decays) {
      // The pre-write bias of every step of this row, as the forward computed it (m * keep, then + w e).
      copyF32(mStates, pm0 + (<usize>(b * dV) << 2), dV);
      for (let t = 0; t + 1 < T; t++) {
        const bt = b * T + t;
        const g = ldf(pg, bt);
        const keep: f32 = <f32>1 - g * (<f32>1 - decay);
        const w = g * ldf(pbeta, bt);
        const src = mStates + (<usize>(t * dV) << 2);
        const e = pe + (<usize>(bt * dV) << 2);
        for (let j = 0; j < dV; j++) {
          let x = ldf(src, j);
          if (keep != <f32>1) x = x * keep;
          if (w != 0) x = x + w * ldf(e, j);
          stf(src, j + dV, x);
        }
      }
    }

    for (let c = nC - 1; c >= 0; c--) {
      const t0 = c * C;
      const t1 = min(T, t0 + C);
      // Recompute the pre-write states of the chunk from its checkpoint.
      copyF32(states, pck + (<usize>((b * nC + c) * S) << 2), S);
      for (let t = t0; t + 1 < t1; t++) {
        const bt = b * T + t;
        const src = states + (<usize>((t - t0) * S) << 2);
        const gt = ldf(pg, bt);
        const w = gt * ldf(pbeta, bt);
        const keep: f32 = <f32>1 - gt * (<f32>1 - decay);
        if (keep != <f32>1) decayRank1Next(src + (<usize>S << 2), src, pk + (<usize>(bt * dK) << 2), pe + (<usize>(bt * dV) << 2), w, keep, dK, dV);
        else if (w != 0) rank1Next(src + (<usize>S << 2), src, pk + (<usize>(bt * dK) << 2), pe + (<usize>(bt * dV) << 2), w, dK, dV);
        else copyF32(src + (<usize>S << 2), src, S);
      }

      for (let t = t1 - 1; t >= t0; t--) {
        const bt = b * T + t;
        const k = pk + (<usize>(bt * dK) << 2);
        const q = pq + (<usize>(bt * dK) << 2);
        const e = pe + (<usize>(bt * dV) << 2);
        const dr = pdr + (<usize>(bt * dV) << 2);
        const g = ldf(pg, bt);
        const beta = ldf(pbeta, bt);
        const w = g * beta;

        // Read-out r = M'^T q + m': dm' = dm + dr, dM' = dM + q dr^T; u = dM' e, z = dM'^T k + dm'.
        passA(dM, dm, z, u, q, k, dr, e, dK, dV);
        const Mp = states + (<usize>((t - t0) * S) << 2);
        const keepT: f32 = <f32>1 - g * (<f32>1 - decay);
        // The decay's gradient into the gate: da = <dM', M> + <dm', m> (pre-write state).
        const da: f32 = decays && learned ? dot(dM, Mp, S) + dot(dm, mStates + (<usize>(t * dV) << 2), dV) : <f32>0;

        // Write M' = M + w k e^T, m' = m + w e: dw = z . e, de = w z, dk = w u (finished in pass B).
        const dw = dot(z, e, dV);
        stf(pdbeta, bt, dw * g);
        const wv = f32x4.splat(w);
        let j = 0;
        for (; j + 4 <= dV; j += 4) stv(de, j, f32x4.mul(wv, ldv(z, j)));
        for (; j < dV; j++) stf(de, j, w * ldf(z, j));

        // Learned gate: dlogit = (dL/dg + dL/dp) p (1-p)  (straight-through for the hard gate).
        if (learned) {
          const p = ldf(pp, bt);
          const dlogit = (dw * beta - da * (<f32>1 - decay) + (pdp ? ldf(pdp, bt) : <f32>0)) * p * (<f32>1 - p);
          db2 += <f64>dlogit;
          const act = pact + (<usize>(bt * dG) << 2);
          const dgp = pdGate + (<usize>(bt * dG) << 2);
          const dl = f32x4.splat(dlogit);
          const one = f32x4.splat(1.0);
          let h = 0;
          for (; h + 4 <= dG; h += 4) {
            const a = ldv(act, h);
            stv(dw2, h, f32x4.add(ldv(dw2, h), f32x4.mul(dl, a)));
            const dh = f32x4.mul(f32x4.mul(dl, ldv(w2, h)), f32x4.sub(one, f32x4.mul(a, a)));
            stv(dpre, h, dh);
            stv(dgp, h, dh);
          }
          for (; h < dG; h++) {
            const a = ldf(act, h);
            stf(dw2, h, ldf(dw2, h) + dlogit * a);
            const dh = dlogit * ldf(w2, h) * (<f32>1 - a * a);
            stf(dpre, h, dh);
            stf(dgp, h, dh);
          }
          gateDe(de, e, dpre, GeT, GaT, dV, dG);
        }

        // Through the decay to the pre-write state: dM = a dM', dm = a dm'.
        if (keepT != <f32>1) {
          scaleF32(dM, keepT, S);
          scaleF32(dm, keepT, dV);
        }
        // Surprise e = v - M^T k - m (pre-write state): dv = de, dm -= de, then pass B.
        copyF32(pdv + (<usize>(bt * dV) << 2), de, dV);
        j = 0;
        for (; j + 4 <= dV; j += 4) stv(dm, j, f32x4.sub(ldv(dm, j), ldv(de, j)));
        for (; j < dV; j++) stf(dm, j, ldf(dm, j) - ldf(de, j));
        passB(dM, Mp, u, k, dr, de, w, dot(e, dr, dV), keepT, pdq + (<usize>(bt * dK) << 2), pdk + (<usize>(bt * dK) << 2), dK, dV);
      }
    }
    // Gate weight gradients of this row in one register-blocked pass over its T steps.
    if (learned) gateWeightGrads(dW1e, dW1a, pe + (<usize>(b * T * dV) << 2), pdGate + (<usize>(b * T * dG) << 2), T, dV, dG);
  }
  stf(pdc2, 0, <f32>db2);
}
