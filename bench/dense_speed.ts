/**
 * Speed of the dense op, naive TS vs WASM SIMD: `npx tsx bench/dense_speed.ts [--quick]`.
 * Prints median wall time per call for the training shape (forward + backward at M=8192, K=64,
 * N=130) and the batch-1 control-loop matvec (M=1, K=4096, N=130).
 */
import { loadKernels } from "aura-mem/wasm/runtime";
import { timeFor } from "../src/bench/timing.js";
import { denseNaive, denseWasm, residentDense } from "aura-mem/ops/dense/index";
import type { DenseOp } from "aura-mem/ops/dense/index";
import { Rng } from "aura-mem/util/rng";

const time = (fn: () => void, minMs: number, minReps = 3): number => timeFor(fn, minMs, minReps, 1);
function fmt(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} us`;
}

const quick = process.argv.includes("--quick");
const rng = new Rng(1);
const ops: [string, DenseOp][] = [
  ["naive", denseNaive],
  ["wasm", denseWasm(loadKernels())],
];

{
  const M = 8192, K = 64, N = 130;
  const x = rng.normals(M * K), W = rng.normals(K * N, 0.1), b = rng.normals(N), dy = rng.normals(M * N);
  for (const [name, op] of ops) {
    const f = time(() => op.forward(x, W, b, M, K, N), quick ? 200 : 1000);
    const g = time(() => op.backward(x, W, dy, M, K, N), quick ? 200 : 1000);
    console.log(`dense M=${M} K=${K} N=${N} ${name}: forward ${fmt(f)}, backward ${fmt(g)}, total ${fmt(f + g)}`);
  }
}
{
  const M = 1, K = 4096, N = 130;
  const x = rng.normals(M * K), W = rng.normals(K * N, 0.02), b = rng.normals(N);
  for (const [name, op] of ops) {
    const f = time(() => op.forward(x, W, b, M, K, N), quick ? 200 : 1000, 20);
    console.log(`matvec M=1 K=${K} N=${N} ${name}: forward ${fmt(f)}`);
  }
  const r = residentDense(loadKernels(), W, b, K, N);
  const f = time(() => r.forward(x, 1), quick ? 200 : 1000, 20);
  console.log(`matvec M=1 K=${K} N=${N} wasm residentDense (W kept in wasm memory): forward ${fmt(f)}`);
}
{
  const M = 8192, D = 64;
  const x = rng.normals(M * D), dy = rng.normals(M * D);
  for (const [name, op] of ops) {
    const f = time(() => op.l2normForward(x, M, D), quick ? 200 : 500);
    const g = time(() => op.l2normBackward(x, dy, M, D), quick ? 200 : 500);
    console.log(`l2norm M=${M} D=${D} ${name}: forward ${fmt(f)}, backward ${fmt(g)}`);
  }
}
