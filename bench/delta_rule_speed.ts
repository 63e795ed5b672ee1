/**
 * Micro-benchmark of the gated delta-rule cell: naive TypeScript vs WASM SIMD, forward and
 * forward+backward at B=64, T=128, dK=dV=dGate=32, plus the per-call cost of batch-1 streaming
 * (T=1 with an initial state, as a control loop calls it). Not a test; run with
 * `npx tsx bench/delta_rule_speed.ts [--quick]`.
 */
import { loadKernels } from "aura-mem/wasm/runtime";
import { timeMs } from "../src/bench/timing.js";
import { Rng } from "aura-mem/util/rng";
import { deltaRuleNaive, deltaRuleWasm, type DeltaRuleInputs, type DeltaRuleOp, type DeltaRuleState, type GateSpec } from "aura-mem/ops/delta_rule/index";

const quick = process.argv.includes("--quick");

function unitRows(rng: Rng, rows: number, d: number): Float32Array {
  const a = rng.normals(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += a[r * d + i]! ** 2;
    for (let i = 0; i < d; i++) a[r * d + i]! /= Math.sqrt(s);
  }
  return a;
}

function inputs(B: number, T: number, d: number, mode: "learned" | "fixed", seed = 1): DeltaRuleInputs {
  const rng = new Rng(seed);
  const gate: GateSpec =
    mode === "learned"
      ? { mode: "learned", gatePre: rng.normals(B * T * d, 0.5), W1e: rng.normals(d * d, 0.2), W1a: rng.normals(d * d, 0.2), w2: rng.normals(d, 0.5), b2: 0, hard: true }
      : { mode: "fixed", g: new Float32Array(B * T).fill(1) };
  return {
    B, T, dK: d, dV: d, dGate: mode === "learned" ? d : 0,
    k: unitRows(rng, B * T, d), q: unitRows(rng, B * T, d), v: rng.normals(B * T * d),
    beta: new Float32Array(B * T).fill(0.5), gate,
  };
}

/**
 * Milliseconds per call of `f`: the minimum over `reps` runs after `warm` warm-up runs (the minimum
 * is the robust estimate on a shared machine, where other processes only ever add time).
 */
/** Best of `reps` runs after `warm` warm-up runs. */
const time = (f: () => void, warm: number, reps: number): number => timeMs(f, reps, warm).min;

const wasm = deltaRuleWasm(loadKernels());
const ops: [string, DeltaRuleOp][] = [["naive", deltaRuleNaive], ["wasm", wasm]];
const [B, T, d] = [64, 128, 32];
for (const mode of ["learned", "fixed"] as const) {
  const inp = inputs(B, T, d, mode);
  const dr = new Rng(2).normals(B * T * d);
  for (const [name, op] of ops) {
    const reps = name === "naive" ? (quick ? 2 : 5) : quick ? 10 : 40;
    const fwd = time(() => op.forward(inp), 2, reps);
    const fb = time(() => {
      const out = op.forward(inp, { saveForBackward: true });
      op.backward(inp, out, { dr });
    }, 2, reps);
    console.log(`${mode.padEnd(7)} B=${B} T=${T} d=${d}  ${name.padEnd(5)}  forward ${fwd.toFixed(2).padStart(8)} ms   forward+backward ${fb.toFixed(2).padStart(8)} ms`);
  }
}

// Batch-1 streaming: T = 1 per call with the carried state.
for (const [name, op] of ops) {
  const inp = inputs(1, 1, d, "learned", 3);
  let state: DeltaRuleState = { M: new Float32Array(d * d), m: new Float32Array(d) };
  const n = quick ? 2000 : 20000;
  const f = () => {
    for (let i = 0; i < n; i++) state = op.forward(inp, { initialState: state }).finalState;
  };
  const ms = time(f, 1, 3);
  console.log(`batch-1 T=1 d=${d} learned  ${name.padEnd(5)}  ${((ms / n) * 1000).toFixed(2)} us/call`);
}
