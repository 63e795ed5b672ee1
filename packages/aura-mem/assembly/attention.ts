// Kernels for src/ops/attention: causal softmax attention with a KV cache (kv-cache / kv-window).
//
// Forward is computed block by block with an online softmax (flash-attention style): every query
// row r keeps a running max m[r], a running sum l[r] of exp(logit - m[r]) and an unnormalised output
// acc[r, :]. `attn_fwd_block` folds one block of keys/values (a slice of the incoming cache, or the
// current chunk) into that state, masking by absolute positions (causal + window);
// `attn_fwd_finalize` turns the state into o = acc / l and the logsumexp lse = m + log l saved for
// the backward pass. `attn_bwd` recomputes the probabilities from lse (memory O(B*T), not O(B*T^2)).
//
// SIMD (f32x4) runs over dK / dV; logits of four keys are computed together and reduced with one
// 4x4 transpose-add; exponentials use the shared f32x4 exp (simd_math.ts; scalar tails run it on one lane). Any dK, dV >= 1 (scalar tails).
//
// Headers (u32 fields unless marked f32):
//   attn_fwd_block    [B, nq, nk, dK, dV, q, k, v, kStride, qpos0, kpos0, window, scale:f32, m, l, acc, scratch]
//       q [B, nq, dK]; k [B, kStride, dK] and v [B, kStride, dV] hold nk <= kStride keys per row at
//       absolute positions kpos0..; queries sit at positions qpos0..; scratch holds nk floats.
//   attn_fwd_finalize [rows, dV, m, l, acc, lse (0 = skip)]   (acc is turned into o in place)
//   attn_bwd          [B, T, dK, dV, q, k, v, o, do, lse, window, scale:f32, dq, dk, dv, scratchP, scratchDS]
//       no incoming cache; scratch buffers of T floats each; writes every element of dq, dk, dv.
import { hdrU32, hdrF32 } from "./common";
import { ld, st, splat, madd, hsum4, hsum } from "./simd";
import { vexp, exp1 } from "./simd_math";

// @ts-ignore: decorator
@inline function hmax(a: v128): f32 {
  return Mathf.max(Mathf.max(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), Mathf.max(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
}

/** Dot products of the d-vector at qp with the four d-vectors at kp, kp+row, kp+2row, kp+3row. */
// @ts-ignore: decorator
@inline function dot4(qp: usize, kp: usize, d: i32, row: usize): v128 {
  const d4 = d & ~3;
  const end = <usize>d4 << 2;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const k1 = kp + row, k2 = kp + 2 * row, k3 = kp + 3 * row;
  for (let o: usize = 0; o < end; o += 16) {
    const qv = ld(qp + o);
    a0 = madd(a0, qv, ld(kp + o));
    a1 = madd(a1, qv, ld(k1 + o));
    a2 = madd(a2, qv, ld(k2 + o));
    a3 = madd(a3, qv, ld(k3 + o));
  }
  let r = hsum4(a0, a1, a2, a3);
  if (d4 < d) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (let o: usize = end; o < (<usize>d << 2); o += 4) {
      const qs = load<f32>(qp + o);
      t0 += qs * load<f32>(kp + o);
      t1 += qs * load<f32>(k1 + o);
      t2 += qs * load<f32>(k2 + o);
      t3 += qs * load<f32>(k3 + o);
    }
    r = f32x4.add(r, f32x4(t0, t1, t2, t3));
  }
  return r;
}

/** Dot product of two d-vectors. */
// @ts-ignore: decorator
@inline function dot1(a: usize, b: usize, d: i32): f32 {
  const d4 = d & ~3;
  const end = <usize>d4 << 2;
  let acc = f32x4.splat(0);
  for (let o: usize = 0; o < end; o += 16) acc = madd(acc, ld(a + o), ld(b + o));
  let s = hsum(acc);
  for (let o: usize = end; o < (<usize>d << 2); o += 4) s += load<f32>(a + o) * load<f32>(b + o);
  return s;
}

/**
 * out[0:d] = alpha * out[0:d] + sum_{s < cnt} w[s] * rows[s, 0:d] (rows `row` bytes apart), with the
 * output held in registers over blocks of 32 / 4 / 1 columns. With `init` the old out is ignored.
 */
// @ts-ignore: decorator
@inline function weightedRowSum(out: usize, alpha: f32, init: bool, w: usize, rows: usize, row: usize, cnt: i32, d: i32): void {
  const va = f32x4.splat(alpha);
  const zero = f32x4.splat(0);
  let c = 0;
  for (; c + 32 <= d; c += 32) {
    const op = out + (<usize>c << 2);
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
    if (!init) {
      a0 = f32x4.mul(ld(op), va); a1 = f32x4.mul(ld(op + 16), va);
      a2 = f32x4.mul(ld(op + 32), va); a3 = f32x4.mul(ld(op + 48), va);
      a4 = f32x4.mul(ld(op + 64), va); a5 = f32x4.mul(ld(op + 80), va);
      a6 = f32x4.mul(ld(op + 96), va); a7 = f32x4.mul(ld(op + 112), va);
    }
    let rp = rows + (<usize>c << 2);
    for (let s = 0; s < cnt; s++) {
      const ws = splat(w + (<usize>s << 2));
      a0 = madd(a0, ws, ld(rp)); a1 = madd(a1, ws, ld(rp + 16));
      a2 = madd(a2, ws, ld(rp + 32)); a3 = madd(a3, ws, ld(rp + 48));
      a4 = madd(a4, ws, ld(rp + 64)); a5 = madd(a5, ws, ld(rp + 80));
      a6 = madd(a6, ws, ld(rp + 96)); a7 = madd(a7, ws, ld(rp + 112));
      rp += row;
    }
    st(op, a0); st(op + 16, a1); st(op + 32, a2); st(op + 48, a3);
    st(op + 64, a4); st(op + 80, a5); st(op + 96, a6); st(op + 112, a7);
  }
  for (; c + 4 <= d; c += 4) {
    const op = out + (<usize>c << 2);
    let a0 = init ? zero : f32x4.mul(ld(op), va);
    let rp = rows + (<usize>c << 2);
    for (let s = 0; s < cnt; s++) {
      a0 = madd(a0, splat(w + (<usize>s << 2)), ld(rp));
      rp += row;
    }
    st(op, a0);
  }
  for (; c < d; c++) {
    const op = out + (<usize>c << 2);
    let a0: f32 = init ? 0 : load<f32>(op) * alpha;
    let rp = rows + (<usize>c << 2);
    for (let s = 0; s < cnt; s++) {
      a0 += load<f32>(w + (<usize>s << 2)) * load<f32>(rp);
      rp += row;
    }
    store<f32>(op, a0);
  }
}

/** dst[0:d] += c * src[0:d]. */
// @ts-ignore: decorator
@inline function axpy(dst: usize, c: f32, src: usize, d: i32): void {
  const d4 = d & ~3;
  const end = <usize>d4 << 2;
  const vc = f32x4.splat(c);
  for (let o: usize = 0; o < end; o += 16) st(dst + o, madd(ld(dst + o), vc, ld(src + o)));
  for (let o: usize = end; o < (<usize>d << 2); o += 4) store<f32>(dst + o, load<f32>(dst + o) + c * load<f32>(src + o));
}

/** Fold one block of keys/values into the online-softmax state of every query row. */
export function attn_fwd_block(hdr: usize): void {
  const B = <i32>hdrU32(hdr, 0);
  const nq = <i32>hdrU32(hdr, 1);
  const nk = <i32>hdrU32(hdr, 2);
  const dK = <i32>hdrU32(hdr, 3);
  const dV = <i32>hdrU32(hdr, 4);
  const q = <usize>hdrU32(hdr, 5);
  const k = <usize>hdrU32(hdr, 6);
  const v = <usize>hdrU32(hdr, 7);
  const kStride = <usize>hdrU32(hdr, 8);
  const qpos0 = <i64>hdrU32(hdr, 9);
  const kpos0 = <i64>hdrU32(hdr, 10);
  const window = <i64>hdrU32(hdr, 11);
  const scale = hdrF32(hdr, 12);
  const m = <usize>hdrU32(hdr, 13);
  const l = <usize>hdrU32(hdr, 14);
  const acc = <usize>hdrU32(hdr, 15);
  const scratch = <usize>hdrU32(hdr, 16);
  if (nk <= 0) return;
  const rowK = <usize>dK << 2;
  const rowV = <usize>dV << 2;
  const vscale = f32x4.splat(scale);
  for (let b = 0; b < B; b++) {
    const qb = q + <usize>b * <usize>nq * rowK;
    const kb = k + <usize>b * kStride * rowK;
    const vb = v + <usize>b * kStride * rowV;
    const mb = m + ((<usize>b * <usize>nq) << 2);
    const lb = l + ((<usize>b * <usize>nq) << 2);
    const ab = acc + <usize>b * <usize>nq * rowV;
    for (let i = 0; i < nq; i++) {
      const pq = qpos0 + <i64>i;
      let hi = pq - kpos0;
      if (hi < 0) continue;
      if (hi > <i64>(nk - 1)) hi = <i64>(nk - 1);
      let lo: i64 = 0;
      if (window > 0) {
        lo = pq - window + 1 - kpos0;
        if (lo < 0) lo = 0;
      }
      if (lo > hi) continue;
      const cnt = <i32>(hi - lo + 1);
      const qi = qb + <usize>i * rowK;
      const kp0 = kb + <usize>lo * rowK;
      const vp0 = vb + <usize>lo * rowV;
      // scaled logits and their max
      let vmax = f32x4.splat(-Infinity);
      let s = 0;
      for (; s + 4 <= cnt; s += 4) {
        const z = f32x4.mul(dot4(qi, kp0 + <usize>s * rowK, dK, rowK), vscale);
        st(scratch + (<usize>s << 2), z);
        vmax = f32x4.max(vmax, z);
      }
      let bmax = hmax(vmax);
      for (; s < cnt; s++) {
        const z = dot1(qi, kp0 + <usize>s * rowK, dK) * scale;
        store<f32>(scratch + (<usize>s << 2), z);
        bmax = Mathf.max(bmax, z);
      }
      // merge with the running state
      const mp = mb + (<usize>i << 2);
      const lp = lb + (<usize>i << 2);
      const mold = load<f32>(mp);
      const mnew = Mathf.max(mold, bmax);
      const first = mold == -Infinity;
      const alpha: f32 = first ? 0 : exp1(mold - mnew);
      const vm = f32x4.splat(mnew);
      let vsum = f32x4.splat(0);
      s = 0;
      for (; s + 4 <= cnt; s += 4) {
        const e = vexp(f32x4.sub(ld(scratch + (<usize>s << 2)), vm));
        st(scratch + (<usize>s << 2), e);
        vsum = f32x4.add(vsum, e);
      }
      let sum = hsum(vsum);
      for (; s < cnt; s++) {
        const e = exp1(load<f32>(scratch + (<usize>s << 2)) - mnew);
        store<f32>(scratch + (<usize>s << 2), e);
        sum += e;
      }
      store<f32>(lp, first ? sum : load<f32>(lp) * alpha + sum);
      store<f32>(mp, mnew);
      weightedRowSum(ab + <usize>i * rowV, alpha, first, scratch, vp0, rowV, cnt, dV);
    }
  }
}

/** o = acc / l in place and lse = m + log(l) (rows that saw no key get o = 0, lse = -inf). */
export function attn_fwd_finalize(hdr: usize): void {
  const rows = <i32>hdrU32(hdr, 0);
  const dV = <i32>hdrU32(hdr, 1);
  const m = <usize>hdrU32(hdr, 2);
  const l = <usize>hdrU32(hdr, 3);
  const acc = <usize>hdrU32(hdr, 4);
  const lse = <usize>hdrU32(hdr, 5);
  const rowV = <usize>dV << 2;
  const d4 = dV & ~3;
  for (let r = 0; r < rows; r++) {
    const lv = load<f32>(l + (<usize>r << 2));
    const inv: f32 = lv > 0 ? <f32>1 / lv : 0;
    const ap = acc + <usize>r * rowV;
    const vi = f32x4.splat(inv);
    let d = 0;
    for (; d < d4; d += 4) st(ap + (<usize>d << 2), f32x4.mul(ld(ap + (<usize>d << 2)), vi));
    for (; d < dV; d++) store<f32>(ap + (<usize>d << 2), load<f32>(ap + (<usize>d << 2)) * inv);
    if (lse) store<f32>(lse + (<usize>r << 2), lv > 0 ? load<f32>(m + (<usize>r << 2)) + Mathf.log(lv) : -Infinity);
  }
}

/** Gradients dq, dk, dv of causal (windowed) softmax attention without an incoming cache. */
export function attn_bwd(hdr: usize): void {
  const B = <i32>hdrU32(hdr, 0);
  const T = <i32>hdrU32(hdr, 1);
  const dK = <i32>hdrU32(hdr, 2);
  const dV = <i32>hdrU32(hdr, 3);
  const q = <usize>hdrU32(hdr, 4);
  const k = <usize>hdrU32(hdr, 5);
  const v = <usize>hdrU32(hdr, 6);
  const o = <usize>hdrU32(hdr, 7);
  const g = <usize>hdrU32(hdr, 8);
  const lse = <usize>hdrU32(hdr, 9);
  const window = <i32>hdrU32(hdr, 10);
  const scale = hdrF32(hdr, 11);
  const dq = <usize>hdrU32(hdr, 12);
  const dk = <usize>hdrU32(hdr, 13);
  const dv = <usize>hdrU32(hdr, 14);
  const sp = <usize>hdrU32(hdr, 15);
  const sds = <usize>hdrU32(hdr, 16);
  const rowK = <usize>dK << 2;
  const rowV = <usize>dV << 2;
  memory.fill(dk, 0, <usize>B * <usize>T * rowK);
  memory.fill(dv, 0, <usize>B * <usize>T * rowV);
  const vscale = f32x4.splat(scale);
  for (let b = 0; b < B; b++) {
    const base = <usize>b * <usize>T;
    const qb = q + base * rowK, kb = k + base * rowK, vb = v + base * rowV;
    const ob = o + base * rowV, gb = g + base * rowV;
    const dqb = dq + base * rowK, dkb = dk + base * rowK, dvb = dv + base * rowV;
    const lb = lse + (base << 2);
    for (let i = 0; i < T; i++) {
      const lo = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
      const cnt = i - lo + 1;
      const qi = qb + <usize>i * rowK;
      const gi = gb + <usize>i * rowV;
      const D = dot1(gi, ob + <usize>i * rowV, dV);
      const li = load<f32>(lb + (<usize>i << 2));
      const kp0 = kb + <usize>lo * rowK;
      const vp0 = vb + <usize>lo * rowV;
      // p_s = exp(scale q_i . k_s - lse_i)
      const vl = f32x4.splat(li);
      let s = 0;
      for (; s + 4 <= cnt; s += 4) {
        st(sp + (<usize>s << 2), vexp(f32x4.sub(f32x4.mul(dot4(qi, kp0 + <usize>s * rowK, dK, rowK), vscale), vl)));
      }
      for (; s < cnt; s++) store<f32>(sp + (<usize>s << 2), exp1(dot1(qi, kp0 + <usize>s * rowK, dK) * scale - li));
      // ds_s = scale * p_s (do_i . v_s - D)
      const vD = f32x4.splat(D);
      s = 0;
      for (; s + 4 <= cnt; s += 4) {
        const dp = dot4(gi, vp0 + <usize>s * rowV, dV, rowV);
        st(sds + (<usize>s << 2), f32x4.mul(f32x4.mul(ld(sp + (<usize>s << 2)), f32x4.sub(dp, vD)), vscale));
      }
      for (; s < cnt; s++) {
        const dp = dot1(gi, vp0 + <usize>s * rowV, dV);
        store<f32>(sds + (<usize>s << 2), load<f32>(sp + (<usize>s << 2)) * (dp - D) * scale);
      }
      // dq_i = sum_s ds_s k_s
      weightedRowSum(dqb + <usize>i * rowK, 0, true, sds, kp0, rowK, cnt, dK);
      // dk_s += ds_s q_i ; dv_s += p_s do_i
      const dkp0 = dkb + <usize>lo * rowK;
      const dvp0 = dvb + <usize>lo * rowV;
      for (s = 0; s < cnt; s++) {
        axpy(dkp0 + <usize>s * rowK, load<f32>(sds + (<usize>s << 2)), qi, dK);
        axpy(dvp0 + <usize>s * rowV, load<f32>(sp + (<usize>s << 2)), gi, dV);
      }
    }
  }
}
