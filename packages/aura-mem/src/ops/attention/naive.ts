/**
 * Plain TypeScript reference for causal softmax attention with a KV cache (float64 accumulation,
 * max-subtracted softmax). The WASM SIMD kernels in assembly/attention.ts must match it.
 */
import { ConfigError } from "../../errors.js";
import type { AttentionOp, AttentionInputs, AttentionOutput, AttentionSaved, KvCache } from "./types.js";
import { appendKvCache, checkAttentionInputs, savedOf } from "./types.js";
import { checkF32 } from "../../errors.js";

function forward(inp: AttentionInputs, opts: { cache?: KvCache; outputCache?: boolean; saveForBackward?: boolean } = {}): AttentionOutput {
  checkAttentionInputs(inp, opts.cache);
  const { B, T, dK, dV, q, k, v, scale, window } = inp;
  const cache = opts.cache;
  const L = cache ? cache.length : 0;
  const cap = cache ? cache.capacity : 0;
  const o = new Float32Array(B * T * dV);
  const lse = new Float32Array(B * T);
  const logits = new Float64Array(L + T);
  const acc = new Float64Array(dV);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = L + t; // absolute position of this query
      const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
      const qo = (b * T + t) * dK;
      // key/value of absolute position s: the cache for s < L, the chunk otherwise
      let m = -Infinity;
      for (let s = lo; s <= p; s++) {
        const ka = s < L ? cache!.keys : k;
        const ko = s < L ? (b * cap + s) * dK : (b * T + s - L) * dK;
        let dot = 0;
        for (let d = 0; d < dK; d++) dot += q[qo + d]! * ka[ko + d]!;
        logits[s] = scale * dot;
        if (logits[s]! > m) m = logits[s]!;
      }
      let sum = 0;
      acc.fill(0);
      for (let s = lo; s <= p; s++) {
        const e = Math.exp(logits[s]! - m);
        sum += e;
        const va = s < L ? cache!.values : v;
        const vo = s < L ? (b * cap + s) * dV : (b * T + s - L) * dV;
        for (let d = 0; d < dV; d++) acc[d] += e * va[vo + d]!;
      }
      const oo = (b * T + t) * dV;
      for (let d = 0; d < dV; d++) o[oo + d] = acc[d]! / sum;
      lse[b * T + t] = m + Math.log(sum);
    }
  }
  const out: AttentionOutput = { o };
  if (opts.outputCache) out.cache = appendKvCache(cache, inp);
  if (opts.saveForBackward) out.saved = { kind: "attention-lse", lse, cacheLength: L } satisfies AttentionSaved;
  return out;
}

export const attentionNaive: AttentionOp = {
  forward,

  backward(inp, out, grad) {
    checkAttentionInputs(inp);
    const { B, T, dK, dV, q, k, v, scale, window } = inp;
    checkF32("do", grad?.do, B * T * dV, `[B=${B}, T=${T}, dV=${dV}]`);
    let saved = savedOf(out, B, T);
    let o = out.o;
    if (!saved) {
      const re = forward(inp, { saveForBackward: true });
      saved = re.saved as AttentionSaved;
      o = re.o;
    }
    checkF32("o", o, B * T * dV, `[B=${B}, T=${T}, dV=${dV}]`);
    if (saved.cacheLength !== 0) throw new ConfigError("attention backward: the forward had an incoming cache (training starts from an empty one)");
    const dO = grad.do;
    const lse = saved.lse;
    const dq = new Float64Array(B * T * dK);
    const dk = new Float64Array(B * T * dK);
    const dv = new Float64Array(B * T * dV);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) {
        const lo = window > 0 ? Math.max(0, i - window + 1) : 0;
        const qo = (b * T + i) * dK;
        const oo = (b * T + i) * dV;
        // D_i = do_i . o_i  (= sum_s p_s dp_s)
        let D = 0;
        for (let d = 0; d < dV; d++) D += dO[oo + d]! * o[oo + d]!;
        for (let s = lo; s <= i; s++) {
          const ko = (b * T + s) * dK;
          const vo = (b * T + s) * dV;
          let dot = 0;
          for (let d = 0; d < dK; d++) dot += q[qo + d]! * k[ko + d]!;
          const p = Math.exp(scale * dot - lse[b * T + i]!);
          let dp = 0;
          for (let d = 0; d < dV; d++) {
            dv[vo + d] += p * dO[oo + d]!;
            dp += dO[oo + d]! * v[vo + d]!;
          }
          const ds = p * (dp - D) * scale;
          for (let d = 0; d < dK; d++) {
            dq[qo + d] += ds * k[ko + d]!;
            dk[ko + d] += ds * q[qo + d]!;
          }
        }
      }
    }
    return { dq: Float32Array.from(dq), dk: Float32Array.from(dk), dv: Float32Array.from(dv) };
  },
};
