/**
 * Speed of the GRU / LSTM sequence op: naive TypeScript reference vs WASM SIMD, forward and
 * forward+backward (training path, saveForBackward). Usage:
 *   npx tsx bench/rnn_speed.ts [B=64] [T=128] [H=48] [path/to/aura.wasm]
 */
import { loadKernels } from "aura-mem/wasm/runtime";
import { timeMs } from "../src/bench/timing.js";
import { rnnNaive, rnnWasm, gateCount, type RnnKind, type RnnOp } from "aura-mem/ops/rnn/index";
import { Rng } from "aura-mem/util/rng";

const [B, T, H] = [64, 128, 48].map((d, i) => (process.argv[2 + i] ? Number(process.argv[2 + i]) : d)) as [number, number, number];
const k = process.argv[5] ? loadKernels(process.argv[5]) : loadKernels();
const impls: [string, RnnOp, number][] = [
  ["naive", rnnNaive, 2],
  ["wasm", rnnWasm(k), 10],
];

/** Best of reps after one warm-up run: robust to other load on the machine. */
const best = (f: () => void, reps: number): number => timeMs(f, reps, 1).min;

console.log(`rnn speed B=${B} T=${T} H=${H} (best of reps, ms)`);
for (const kind of ["gru", "lstm"] as RnnKind[]) {
  const G = gateCount(kind);
  const rng = new Rng(1);
  const inp = { kind, B, T, H, xg: rng.normals(B * T * G * H), Wh: rng.normals(H * G * H, 1 / Math.sqrt(H)), bh: rng.normals(G * H, 0.1) };
  const dh = rng.normals(B * T * H);
  const row: string[] = [];
  const fb: number[] = [];
  for (const [name, op, reps] of impls) {
    const f = best(() => op.forward(inp), reps);
    const t = best(() => op.backward(inp, op.forward(inp, { saveForBackward: true }), { dh }), reps);
    fb.push(t);
    row.push(`${name}: fwd ${f.toFixed(1)}  fwd+bwd ${t.toFixed(1)}`);
  }
  console.log(`${kind.padEnd(4)}  ${row.join(" | ")}  | speedup fwd+bwd x${(fb[0]! / fb[1]!).toFixed(1)}`);
}
