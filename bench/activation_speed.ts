/**
 * Speed of the activation op, a plain Math.tanh loop vs the WASM SIMD kernel:
 * `npx tsx bench/activation_speed.ts [--quick]`. Prints the median wall time over 262144 elements
 * ([B*T, 64] with B*T = 4096) of tanh, tanhInPlace, tanhBackward, sigmoid, sigmoidBackward for the TS
 * reference and the WASM op (copies in/out of wasm memory included), and of tanh at small sizes
 * (per-call overhead).
 */
import { loadKernels } from "aura-mem/wasm/runtime";
import { timeFor } from "../src/bench/timing.js";
import { activationNaive, activationWasm } from "aura-mem/ops/activation/index";
import type { ActivationOp } from "aura-mem/ops/activation/index";
import { Rng } from "aura-mem/util/rng";

function fmt(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} us`;
}

/** Median over >= minReps runs and minMs (3 warm-up runs). */
const time = (fn: () => void, minMs: number, minReps = 5): number => timeFor(fn, minMs, minReps, 3);

const quick = process.argv.includes("--quick");
const minMs = quick ? 200 : 1000;
const rng = new Rng(1);
const N = 262144;
const x = rng.normals(N, 2);
const dy = rng.normals(N);
const wasm = activationWasm(loadKernels());
const ops: [string, ActivationOp][] = [
  ["naive", activationNaive],
  ["wasm", wasm],
];

// The loop the training step used to run.
const buf = new Float32Array(N);
const loop = time(() => {
  for (let i = 0; i < N; i++) buf[i] = Math.tanh(x[i]!);
}, minMs);
console.log(`Math.tanh loop, n=${N}: ${fmt(loop)}`);

const results: Record<string, number> = {};
for (const [name, op] of ops) {
  const y = op.tanh(x);
  const s = op.sigmoid(x);
  const work = x.slice();
  const rows: [string, () => void][] = [
    ["tanh", () => op.tanh(x)],
    ["tanhInPlace", () => { work.set(x); op.tanhInPlace(work); }],
    ["tanhBackward", () => op.tanhBackward(y, dy)],
    ["sigmoid", () => op.sigmoid(x)],
    ["sigmoidBackward", () => op.sigmoidBackward(s, dy)],
  ];
  for (const [fn, f] of rows) {
    const t = time(f, minMs);
    results[`${name}.${fn}`] = t;
    console.log(`${name.padEnd(5)} ${fn.padEnd(16)} n=${N}: ${fmt(t)}`);
  }
}
for (const fn of ["tanh", "tanhInPlace", "tanhBackward", "sigmoid", "sigmoidBackward"]) {
  console.log(`speed-up ${fn}: ${(results[`naive.${fn}`]! / results[`wasm.${fn}`]!).toFixed(1)}x`);
}
console.log(`speed-up tanh vs Math.tanh loop: ${(loop / results["wasm.tanh"]!).toFixed(1)}x`);

// Per-call overhead at small sizes (below 64 the default op runs the TS reference).
const kernelOnly = activationWasm(loadKernels(), { smallCutoff: 0 });
for (const n of [16, 64, 256, 4096]) {
  const xs = rng.normals(n, 2);
  const reps = Math.max(1, Math.floor(65536 / n));
  const run = (op: ActivationOp) => time(() => { for (let r = 0; r < reps; r++) op.tanh(xs); }, quick ? 100 : 400) / reps;
  console.log(
    `tanh n=${n}: naive ${fmt(run(activationNaive))}, wasm(default) ${fmt(run(wasm))}, wasm(kernel always) ${fmt(run(kernelOnly))} per call`,
  );
}
