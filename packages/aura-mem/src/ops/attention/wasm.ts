/**
 * WASM SIMD implementation of {@link AttentionOp} (kernels in assembly/attention.ts).
 *
 * Forward runs an online softmax over blocks of keys: first the visible part of the incoming cache
 * (only the last window-1 entries when windowed), streamed into wasm memory in blocks of about
 * 512 KiB (the cache's arrays are read in place, never re-allocated; a block is copied while it is
 * hot and folded into the running max / sum / output of every query row), then the current chunk
 * (causal). The cache update is the shared, allocation-amortised {@link appendKvCache}.
 */
import { ConfigError, checkF32 } from "../../errors.js";
import { kernelFn, type WasmKernels } from "../../wasm/runtime.js";
import { KernelCall } from "../dense/wasm.js";
import type { AttentionOp, AttentionInputs, AttentionOutput, AttentionSaved, KvCache } from "./types.js";
import { appendKvCache, checkAttentionInputs, savedOf } from "./types.js";

type Kernel = (hdr: number) => void;

/** Floats of keys + values per streamed cache block (all batch rows together). */
const BLOCK_FLOATS = 131072;

export interface AttentionWasmOptions {
  /** Cache entries per streamed block (default: about 512 KiB of keys + values over all rows). */
  cacheBlock?: number;
}

/** WASM SIMD attention op; reuses one arena per instance. */
export function attentionWasm(k: WasmKernels, options: AttentionWasmOptions = {}): AttentionOp {
  const call = new KernelCall(k);
  const arena = call.arena;
  const block = kernelFn<Kernel>(k, "attn_fwd_block");
  const finalize = kernelFn<Kernel>(k, "attn_fwd_finalize");
  const bwd = kernelFn<Kernel>(k, "attn_bwd");

  function forward(inp: AttentionInputs, opts: { cache?: KvCache; outputCache?: boolean; saveForBackward?: boolean } = {}): AttentionOutput {
    checkAttentionInputs(inp, opts.cache);
    const { B, T, dK, dV, scale, window } = inp;
    const cache = opts.cache;
    const L = cache ? cache.length : 0;
    const cap = cache ? cache.capacity : 0;
    const cs = window > 0 ? Math.max(0, L - window + 1) : 0; // first cache entry any query can see
    const nC = L - cs;
    const rows = B * T;
    let o = new Float32Array(B * T * dV);
    let lse = new Float32Array(rows);
    if (T > 0) {
      try {
        const pq = call.reserve(B * T * dK);
        const pk = call.reserve(B * T * dK);
        const pv = call.reserve(B * T * dV);
        const pacc = call.reserve(B * T * dV);
        const pm = call.reserve(rows);
        const pl = call.reserve(rows);
        const plse = opts.saveForBackward ? call.reserve(rows) : 0;
        const CB = nC > 0 ? Math.min(nC, options.cacheBlock ?? Math.max(16, Math.floor(BLOCK_FLOATS / (B * (dK + dV))))) : 0;
        const pkc = call.reserve(B * CB * dK);
        const pvc = call.reserve(B * CB * dV);
        const pscr = call.reserve(Math.max(T, CB, 1));
        const hBlock = nC > 0 ? call.header([B, T, CB, dK, dV, pq, pkc, pvc, CB, L, cs, window, scale, pm, pl, pacc, pscr], 12) : 0;
        const hChunk = call.header([B, T, T, dK, dV, pq, pk, pv, T, L, L, window, scale, pm, pl, pacc, pscr], 12);
        const hFin = call.header([rows, dV, pm, pl, pacc, plse]);
        const mem = call.f32(); // no allocation below: the view stays valid
        mem.set(inp.q, pq >>> 2);
        mem.set(inp.k, pk >>> 2);
        mem.set(inp.v, pv >>> 2);
        mem.fill(-Infinity, pm >>> 2, (pm >>> 2) + rows);
        if (cache && nC > 0) {
          for (let s0 = cs; s0 < L; s0 += CB) {
            const nb = Math.min(CB, L - s0);
            for (let b = 0; b < B; b++) {
              const ko = (b * cap + s0) * dK;
              const vo = (b * cap + s0) * dV;
              mem.set(cache.keys.subarray(ko, ko + nb * dK), (pkc >>> 2) + b * CB * dK);
              mem.set(cache.values.subarray(vo, vo + nb * dV), (pvc >>> 2) + b * CB * dV);
            }
            call.setU32(hBlock, 2, nb);
            call.setU32(hBlock, 10, s0);
            block(hBlock);
          }
        }
        block(hChunk);
        finalize(hFin);
        o = arena.take(pacc, B * T * dV);
        if (plse) lse = arena.take(plse, rows);
      } finally {
        arena.reset();
      }
    }
    const out: AttentionOutput = { o };
    if (opts.outputCache) out.cache = appendKvCache(cache, inp);
    if (opts.saveForBackward) out.saved = { kind: "attention-lse", lse, cacheLength: L } satisfies AttentionSaved;
    return out;
  }

  return {
    forward,
    backward(inp, out, grad) {
      checkAttentionInputs(inp);
      const { B, T, dK, dV, scale, window } = inp;
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
      if (T === 0) return { dq: new Float32Array(0), dk: new Float32Array(0), dv: new Float32Array(0) };
      try {
        const nK = B * T * dK, nV = B * T * dV;
        const pq = call.reserve(nK), pk = call.reserve(nK), pv = call.reserve(nV), po = call.reserve(nV), pg = call.reserve(nV);
        const plse = call.reserve(B * T);
        const pdq = call.reserve(nK), pdk = call.reserve(nK), pdv = call.reserve(nV);
        const psp = call.reserve(T), psds = call.reserve(T);
        const h = call.header([B, T, dK, dV, pq, pk, pv, po, pg, plse, window, scale, pdq, pdk, pdv, psp, psds], 11);
        const mem = call.f32();
        mem.set(inp.q, pq >>> 2);
        mem.set(inp.k, pk >>> 2);
        mem.set(inp.v, pv >>> 2);
        mem.set(o, po >>> 2);
        mem.set(grad.do, pg >>> 2);
        mem.set(saved.lse, plse >>> 2);
        bwd(h);
        return {
          dq: arena.take(pdq, nK),
          dk: arena.take(pdk, nK),
          dv: arena.take(pdv, nV),
        };
      } finally {
        arena.reset();
      }
    },
  };
}
