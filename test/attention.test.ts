/**
 * Causal softmax attention (kv-cache / kv-window): WASM vs the TS reference (forward with and
 * without an incoming cache, backward), the reference's gradients vs finite differences and tfjs
 * autodiff, streaming == batch, cache memory growth, and input validation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { loadKernels } from "aura-mem/wasm/runtime";
import {
  attentionNaive,
  attentionWasm,
  appendKvCache,
  cloneKvCache,
  emptyKvCache,
  kvCacheBytes,
} from "aura-mem/ops/attention/index";
import type { AttentionInputs, AttentionOp, KvCache } from "aura-mem/ops/attention/index";
import { ConfigError, ShapeError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import { assertClose, finiteDiff, sampleIdx } from "./helpers.js";

const kernels = loadKernels();
const wasm = attentionWasm(kernels);
/** Tiny cache blocks: exercises the streaming of the cache in many blocks. */
const wasmSmallBlocks = attentionWasm(kernels, { cacheBlock: 3 });

function inputs(B: number, T: number, dK: number, dV: number, window: number, seed: number, std = 1): AttentionInputs {
  const rng = new Rng(seed);
  return {
    B, T, dK, dV, window,
    q: rng.normals(B * T * dK, std),
    k: rng.normals(B * T * dK, std),
    v: rng.normals(B * T * dV),
    scale: 1 / Math.sqrt(dK),
  };
}
/** Rows [t0, t1) of every batch row of x [B, T, d]. */
function rows(x: Float32Array, B: number, T: number, d: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * d);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * T + t0) * d, (b * T + t1) * d), b * (t1 - t0) * d);
  return out;
}
function chunk(inp: AttentionInputs, t0: number, t1: number): AttentionInputs {
  const { B, T, dK, dV } = inp;
  return { ...inp, T: t1 - t0, q: rows(inp.q, B, T, dK, t0, t1), k: rows(inp.k, B, T, dK, t0, t1), v: rows(inp.v, B, T, dV, t0, t1) };
}
/** Concatenate outputs of chunks [B, Ti, d] along time. */
function concatTime(parts: Float32Array[], lens: number[], B: number, d: number): Float32Array {
  const T = lens.reduce((a, b) => a + b, 0);
  const out = new Float32Array(B * T * d);
  let t0 = 0;
  parts.forEach((p, i) => {
    const n = lens[i]!;
    for (let b = 0; b < B; b++) out.set(p.subarray(b * n * d, (b + 1) * n * d), (b * T + t0) * d);
    t0 += n;
  });
  return out;
}

const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [2, 7, 3, 5],
  [3, 33, 32, 32],
  [2, 17, 13, 6],
  [1, 50, 8, 36],
];
const WINDOWS = [0, 1, 3, 16];

test("attention forward: wasm matches naive (shapes x windows), lse too", () => {
  for (const [B, T, dK, dV] of SHAPES) {
    for (const window of WINDOWS) {
      const inp = inputs(B, T, dK, dV, window, B * 100 + T + window);
      const r = attentionNaive.forward(inp, { saveForBackward: true });
      const g = wasm.forward(inp, { saveForBackward: true });
      const tag = `B${B} T${T} dK${dK} dV${dV} W${window}`;
      assertClose(`o ${tag}`, r.o, g.o, 1e-5);
      assertClose(`lse ${tag}`, (r.saved as { lse: Float32Array }).lse, (g.saved as { lse: Float32Array }).lse, 1e-5);
    }
  }
});

test("attention forward: wasm matches naive with a non-empty incoming cache", () => {
  for (const [B, T, dK, dV] of SHAPES) {
    for (const window of WINDOWS) {
      for (const L of [1, 9, 40]) {
        // a cache with slack capacity, built with window 0 (so it may be longer than the window)
        const past = inputs(B, L, dK, dV, 0, 7 * L + T);
        const cache = appendKvCache(emptyKvCache(B, dK, dV, L + 5), past);
        const inp = inputs(B, T, dK, dV, window, B + T + L + window);
        const r = attentionNaive.forward(inp, { cache });
        const tag = `B${B} T${T} dK${dK} dV${dV} W${window} L${L}`;
        assertClose(`o ${tag}`, r.o, wasm.forward(inp, { cache }).o, 1e-5);
        assertClose(`o small blocks ${tag}`, r.o, wasmSmallBlocks.forward(inp, { cache }).o, 1e-5);
      }
    }
  }
});

test("attention forward: batch-1 step over a long cache (L = 5000) matches naive", () => {
  for (const window of [0, 100]) {
    const d = 32;
    const cache = appendKvCache(undefined, inputs(1, 5000, d, d, 0, 3));
    const inp = inputs(1, 1, d, d, window, 4);
    assertClose(`step W${window}`, attentionNaive.forward(inp, { cache }).o, wasm.forward(inp, { cache }).o, 1e-5);
  }
});

test("attention forward: stable for large logits (max-subtracted softmax)", () => {
  const inp = { ...inputs(2, 20, 16, 8, 0, 5, 6), scale: 2 }; // logits in the hundreds
  const r = attentionNaive.forward(inp, { saveForBackward: true });
  const g = wasm.forward(inp, { saveForBackward: true });
  for (const x of g.o) assert.ok(Number.isFinite(x));
  assertClose("o large logits", r.o, g.o, 1e-5);
  const dO = new Rng(1).normals(2 * 20 * 8);
  const gr = attentionNaive.backward(inp, r, { do: dO });
  const gw = wasm.backward(inp, g, { do: dO });
  assertClose("dv large logits", gr.dv, gw.dv, 1e-4);
});

test("attention backward: wasm matches naive (shapes x windows); missing saved state is recomputed", () => {
  for (const [B, T, dK, dV] of SHAPES) {
    for (const window of WINDOWS) {
      const inp = inputs(B, T, dK, dV, window, 3 * B + T + window);
      const dO = new Rng(T + window).normals(B * T * dV);
      const r = attentionNaive.backward(inp, attentionNaive.forward(inp, { saveForBackward: true }), { do: dO });
      const g = wasm.backward(inp, wasm.forward(inp, { saveForBackward: true }), { do: dO });
      const tag = `B${B} T${T} dK${dK} dV${dV} W${window}`;
      assertClose(`dq ${tag}`, r.dq, g.dq, 1e-4);
      assertClose(`dk ${tag}`, r.dk, g.dk, 1e-4);
      assertClose(`dv ${tag}`, r.dv, g.dv, 1e-4);
      // without saved state: recomputed (and the saved lse of one backend works in the other)
      const g2 = wasm.backward(inp, { o: new Float32Array(B * T * dV) }, { do: dO });
      assertClose(`dq recomputed ${tag}`, r.dq, g2.dq, 1e-4);
      const g3 = attentionNaive.backward(inp, wasm.forward(inp, { saveForBackward: true }), { do: dO });
      assertClose(`dk cross ${tag}`, r.dk, g3.dk, 1e-4);
    }
  }
});

/** loss = sum(R * attention(q, k, v)) in float64. */
function loss64(B: number, T: number, dK: number, dV: number, window: number, scale: number, q: Float64Array, k: Float64Array, v: Float64Array, R: Float32Array): number {
  let L = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const lo = window > 0 ? Math.max(0, t - window + 1) : 0;
      const z: number[] = [];
      for (let s = lo; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < dK; d++) dot += q[(b * T + t) * dK + d]! * k[(b * T + s) * dK + d]!;
        z.push(scale * dot);
      }
      const m = Math.max(...z);
      const e = z.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, c) => a + c, 0);
      for (let s = lo; s <= t; s++) {
        for (let d = 0; d < dV; d++) L += R[(b * T + t) * dV + d]! * (e[s - lo]! / sum) * v[(b * T + s) * dV + d]!;
      }
    }
  }
  return L;
}

test("attention backward: naive gradients match finite differences", () => {
  for (const window of [0, 3]) {
    const [B, T, dK, dV] = [2, 6, 4, 3];
    const inp = inputs(B, T, dK, dV, window, 11 + window);
    const R = new Rng(2).normals(B * T * dV);
    const g = attentionNaive.backward(inp, attentionNaive.forward(inp, { saveForBackward: true }), { do: R });
    const q = Float64Array.from(inp.q), k = Float64Array.from(inp.k), v = Float64Array.from(inp.v);
    const loss = () => loss64(B, T, dK, dV, window, inp.scale, q, k, v, R);
    const iq = sampleIdx(q.length, 10), ik = sampleIdx(k.length, 10), iv = sampleIdx(v.length, 10);
    assertClose(`dq fd W${window}`, finiteDiff(loss, q, iq), iq.map((i) => g.dq[i]!), 1e-4);
    assertClose(`dk fd W${window}`, finiteDiff(loss, k, ik), ik.map((i) => g.dk[i]!), 1e-4);
    assertClose(`dv fd W${window}`, finiteDiff(loss, v, iv), iv.map((i) => g.dv[i]!), 1e-4);
  }
});

test("attention backward: naive and wasm match tfjs autodiff of masked softmax attention", async () => {
  await tf.setBackend("cpu");
  for (const window of [0, 1, 3, 16]) {
    const [B, T, dK, dV] = [2, 20, 8, 5];
    const inp = inputs(B, T, dK, dV, window, 21 + window);
    const R = new Rng(5).normals(B * T * dV);
    const mask = new Float32Array(T * T);
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < T; s++) {
        const ok = s <= t && (window === 0 || s > t - window);
        mask[t * T + s] = ok ? 0 : -1e9;
      }
    }
    const [tq, tk, tv, to] = tf.tidy(() => {
      const Rt = tf.tensor3d(R, [B, T, dV]);
      const Mt = tf.tensor2d(mask, [T, T]);
      const attend = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
        const logits = tf.add(tf.mul(tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true), inp.scale), Mt);
        return tf.matMul(tf.softmax(logits) as tf.Tensor3D, v as tf.Tensor3D);
      };
      const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(Rt, attend(q, k, v))) as tf.Scalar;
      const args = [tf.tensor3d(inp.q, [B, T, dK]), tf.tensor3d(inp.k, [B, T, dK]), tf.tensor3d(inp.v, [B, T, dV])];
      const grads = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)(args);
      return [...grads, attend(args[0]!, args[1]!, args[2]!)].map((t) => t.dataSync() as Float32Array);
    });
    for (const [name, op] of [
      ["naive", attentionNaive],
      ["wasm", wasm],
    ] as [string, AttentionOp][]) {
      const out = op.forward(inp, { saveForBackward: true });
      assertClose(`${name} o vs tf W${window}`, to!, out.o, 1e-5);
      const g = op.backward(inp, out, { do: R });
      assertClose(`${name} dq vs tf W${window}`, tq!, g.dq, 1e-4);
      assertClose(`${name} dk vs tf W${window}`, tk!, g.dk, 1e-4);
      assertClose(`${name} dv vs tf W${window}`, tv!, g.dv, 1e-4);
    }
  }
});

test("attention streaming: whole sequence == chunks with carried cache == single steps (window 0 and 5)", () => {
  const [B, T, dK, dV] = [2, 23, 8, 6];
  for (const window of [0, 5]) {
    const inp = inputs(B, T, dK, dV, window, 40 + window);
    for (const [name, op] of [
      ["naive", attentionNaive],
      ["wasm", wasm],
      ["wasm small blocks", wasmSmallBlocks],
    ] as [string, AttentionOp][]) {
      const whole = op.forward(inp, { outputCache: true });
      const run = (lens: number[]) => {
        let cache: KvCache | undefined;
        let t0 = 0;
        const parts: Float32Array[] = [];
        for (const n of lens) {
          const out = op.forward(chunk(inp, t0, t0 + n), { cache, outputCache: true });
          parts.push(out.o);
          cache = out.cache;
          t0 += n;
        }
        return { o: concatTime(parts, lens, B, dV), cache: cache! };
      };
      const chunks = run([4, 1, 7, 5, 6]);
      const steps = run(new Array(T).fill(1));
      assertClose(`${name} W${window} chunks`, whole.o, chunks.o, 1e-5);
      assertClose(`${name} W${window} steps`, whole.o, steps.o, 1e-5);
      const kept = window > 0 ? Math.min(T, window) : T;
      for (const c of [whole.cache!, chunks.cache, steps.cache]) {
        assert.equal(c.length, kept);
        // the cache holds the last `kept` keys/values of every row
        assertClose("cache keys", rows(inp.k, B, T, dK, T - kept, T), cloneKvCache(c).keys, 0, 0);
        assertClose("cache values", rows(inp.v, B, T, dV, T - kept, T), cloneKvCache(c).values, 0, 0);
      }
      // the whole sequence == the whole naive reference
      assertClose(`${name} W${window} vs naive`, attentionNaive.forward(inp).o, whole.o, 1e-5);
    }
  }
});

test("kv cache: bytes grow linearly for window 0 and stay at W for kv-window; capacity is bounded", () => {
  const [B, dK, dV] = [3, 4, 2];
  for (const window of [0, 5]) {
    let cache = emptyKvCache(B, dK, dV);
    assert.equal(kvCacheBytes(cache), 0);
    for (let t = 1; t <= 40; t++) {
      cache = wasm.forward(inputs(B, 1, dK, dV, window, t), { cache, outputCache: true }).cache!;
      const n = window > 0 ? Math.min(t, window) : t;
      assert.equal(cache.length, n);
      assert.equal(kvCacheBytes(cache), n * (dK + dV) * 4 * B);
      if (window > 0) assert.ok(cache.capacity <= window, `capacity ${cache.capacity} > window`);
      else assert.ok(cache.capacity <= Math.max(4, 2 * t), `capacity ${cache.capacity} not amortised`);
    }
  }
});

test("kv cache: forward never changes entries visible through an older cache (branching)", () => {
  const [B, dK, dV] = [2, 4, 3];
  const base = appendKvCache(emptyKvCache(B, dK, dV, 64), inputs(B, 10, dK, dV, 0, 1));
  const snapshot = cloneKvCache(base);
  const a = inputs(B, 3, dK, dV, 0, 2);
  const b = inputs(B, 3, dK, dV, 0, 3);
  const ca = wasm.forward(a, { cache: base, outputCache: true }).cache!; // extends base's arrays in place
  const cb = wasm.forward(b, { cache: base, outputCache: true }).cache!; // branch: must copy
  assertClose("base untouched", snapshot.keys, cloneKvCache(base).keys, 0, 0);
  assert.equal(ca.length, 13);
  assert.equal(cb.length, 13);
  assertClose("branch a keeps its own entries", rows(a.k, B, 3, dK, 0, 3), rows(cloneKvCache(ca).keys, B, 13, dK, 10, 13), 0, 0);
  assertClose("branch b has its entries", rows(b.k, B, 3, dK, 0, 3), rows(cloneKvCache(cb).keys, B, 13, dK, 10, 13), 0, 0);
  // stepping on from base again gives the same as from a copy of it
  const q = inputs(B, 1, dK, dV, 0, 4);
  assertClose("from base", attentionNaive.forward(q, { cache: snapshot }).o, wasm.forward(q, { cache: base }).o, 1e-5);
});

test("attention: bad input throws ShapeError / ConfigError; backward through a cache is rejected", () => {
  const inp = inputs(2, 4, 3, 5, 0, 1);
  assert.throws(() => wasm.forward({ ...inp, q: new Float32Array(5) }), ShapeError);
  assert.throws(() => attentionNaive.forward({ ...inp, v: new Float32Array(2 * 4 * 4) }), ShapeError);
  assert.throws(() => wasm.forward({ ...inp, k: Array.from(inp.k) as unknown as Float32Array }), ShapeError);
  assert.throws(() => wasm.forward({ ...inp, B: 0 }), ShapeError);
  assert.throws(() => wasm.forward({ ...inp, T: 1.5 }), ShapeError);
  assert.throws(() => wasm.forward(inp, { cache: emptyKvCache(3, 3, 5) }), ShapeError);
  assert.throws(() => wasm.forward(inp, { cache: emptyKvCache(2, 4, 5) }), ShapeError);
  const c = emptyKvCache(2, 3, 5, 4);
  assert.throws(() => wasm.forward(inp, { cache: { ...c, length: 5 } }), ShapeError);
  assert.throws(() => wasm.forward(inp, { cache: { ...c, keys: new Float32Array(3) } }), ShapeError);
  assert.throws(() => wasm.forward({ ...inp, window: -1 }), ConfigError);
  assert.throws(() => wasm.forward({ ...inp, scale: Number.NaN }), ConfigError);
  const out = wasm.forward(inp, { saveForBackward: true });
  assert.throws(() => wasm.backward(inp, out, { do: new Float32Array(3) }), ShapeError);
  assert.throws(() => wasm.backward(inp, { ...out, saved: { kind: "other" } }, { do: new Float32Array(40) }), ShapeError);
  const cache = appendKvCache(undefined, inputs(2, 2, 3, 5, 0, 2));
  for (const op of [wasm, attentionNaive]) {
    const withCache = op.forward(inp, { cache, saveForBackward: true });
    assert.throws(() => op.backward(inp, withCache, { do: new Float32Array(40) }), ConfigError);
  }
  // still works afterwards; T = 0 is a no-op
  assertClose("after errors", attentionNaive.forward(inp).o, wasm.forward(inp).o, 1e-5);
  const empty = wasm.forward(inputs(2, 0, 3, 5, 0, 1), { cache, outputCache: true });
  assert.equal(empty.o.length, 0);
  assert.equal(empty.cache!.length, 2);
});
