/**
 * Speed of the attention op, naive TS vs WASM SIMD: `npx tsx bench/attention_speed.ts [--quick]`.
 * Prints the median wall time of forward + backward at B=64, T=128, d=32 (training), and of one
 * batch-1 streaming step (T=1, outputCache, the cache carried from step to step) after L = 1e3, 1e4,
 * 1e5 past steps (dK = dV = 32), for window 0 (kv-cache) and a window of 64 (kv-window).
 */
import { loadKernels } from "aura-mem/wasm/runtime";
import { median, timeFor } from "../src/bench/timing.js";
import { attentionNaive, attentionWasm, appendKvCache, emptyKvCache } from "aura-mem/ops/attention/index";
import type { AttentionInputs, AttentionOp, KvCache } from "aura-mem/ops/attention/index";
import { Rng } from "aura-mem/util/rng";

function fmt(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} us`;
}
const time = (fn: () => void, minMs: number, minReps = 3): number => timeFor(fn, minMs, minReps, 1);

const quick = process.argv.includes("--quick");
const rng = new Rng(1);
const ops: [string, AttentionOp][] = [
  ["naive", attentionNaive],
  ["wasm", attentionWasm(loadKernels())],
];
const inputs = (B: number, T: number, d: number, window: number): AttentionInputs => ({
  B, T, dK: d, dV: d, q: rng.normals(B * T * d), k: rng.normals(B * T * d), v: rng.normals(B * T * d), scale: 1 / Math.sqrt(d), window,
});

{
  const inp = inputs(64, 128, 32, 0);
  const dO = rng.normals(64 * 128 * 32);
  for (const [name, op] of ops) {
    const f = time(() => op.forward(inp, { saveForBackward: true }), quick ? 300 : 1500);
    const out = op.forward(inp, { saveForBackward: true });
    const g = time(() => op.backward(inp, out, { do: dO }), quick ? 300 : 1500);
    console.log(`attention B=64 T=128 d=32 ${name}: forward ${fmt(f)}, backward ${fmt(g)}, total ${fmt(f + g)}`);
  }
}

/** Median per-step time of 32-step rollouts, each from a fresh copy of a cache of L past steps. */
function stepTime(op: AttentionOp, past: AttentionInputs, window: number, L: number, d: number, minMs: number): number {
  const steps = Array.from({ length: 32 }, () => inputs(1, 1, d, window));
  const per: number[] = [];
  const t0 = performance.now();
  while (per.length < 3 || performance.now() - t0 < minMs) {
    let cache: KvCache = appendKvCache(emptyKvCache(1, d, d, L + steps.length), past); // untimed
    const a = performance.now();
    for (const st of steps) cache = op.forward(st, { cache, outputCache: true }).cache!;
    per.push((performance.now() - a) / steps.length);
  }
  return median(per);
}

export { stepTime };

for (const window of [0, 64]) {
  for (const L of quick ? [1e3, 1e4] : [1e3, 1e4, 1e5]) {
    const d = 32;
    const past = inputs(1, L, d, window);
    for (const [name, op] of ops) {
      const ms = stepTime(op, past, window, L, d, quick ? 200 : 1000);
      console.log(`step B=1 L=${L} d=${d} window=${window} ${name}: ${fmt(ms)}`);
    }
  }
}
