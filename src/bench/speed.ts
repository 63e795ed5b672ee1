/**
 * `aura bench-speed`: timings, reported with medians over repetitions after a warm-up (a benchmark,
 * never a unit test).
 *  1. one training step (forward + BPTT backward + Adam) per arm, B=64, T=128, dModel=64, d=32:
 *     WASM SIMD kernels vs the TypeScript reference, and AURA in @tensorflow/tfjs-backend-wasm;
 *  2. batch-1 control step at dModel=4096: aura vs kv-cache with 1e3, 1e4, 1e5 past steps.
 */
import { writeFile } from "node:fs/promises";
import { MemoryConfig } from "../config.js";
import { naiveOps, wasmOps, type Ops } from "../ops/index.js";
import { armSpec } from "../model/arms.js";
import { ARMS, SequenceModel, type ArmName, type MemoryState } from "../model/model.js";
import { Adam } from "../train/adam.js";
import { batchObjective, DEFAULT_TRAIN } from "../train/train.js";
import { Rng } from "../util/rng.js";
import type { EpisodeBatch } from "../tasks/types.js";
import type { KvCache } from "../ops/attention/index.js";

/** Median wall time (ms) of `fn` over `reps` runs after `warmup` runs. */
export function timeMs(fn: () => void, reps: number, warmup = 1): { median: number; min: number; reps: number } {
  for (let i = 0; i < warmup; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, min: xs[0]!, reps };
}

function syntheticBatch(B: number, T: number, dModel: number, C: number, seed: number): EpisodeBatch {
  const rng = new Rng(seed);
  const label = new Int32Array(B * T);
  for (let i = 0; i < label.length; i++) label[i] = rng.int(C);
  const lossMask = new Float32Array(B * T).fill(1);
  return { B, T, dModel, z: rng.normals(B * T * dModel), label, target: null, lossMask, evalMask: lossMask, stepType: new Uint8Array(B * T) };
}

function trainStep(model: SequenceModel, adam: Adam, batch: EpisodeBatch): void {
  const { grads } = batchObjective(model, batch, { kind: "discrete", dAction: 8 }, DEFAULT_TRAIN, { gateMode: "hard", scheduleSeeds: Array.from({ length: batch.B }, (_, i) => i) });
  adam.step(grads);
}

/** Run the speed benchmark and print markdown tables. */
export async function runSpeedBench(o: { quick?: boolean; out?: string; log?: (s: string) => void } = {}): Promise<string> {
  const log = o.log ?? ((s: string) => console.log(s));
  const lines: string[] = [];
  const emit = (s: string): void => {
    lines.push(s);
    log(s);
  };
  const B = 64;
  const T = 128;
  const dModel = 64;
  const config = new MemoryConfig({ dModel, dAction: 8, actionKind: "discrete" });
  const batch = syntheticBatch(B, T, dModel, 8, 1);
  const wasm = wasmOps();
  const ts = naiveOps();
  const reps = o.quick ? 3 : 10;
  emit(`## Training step (forward + BPTT + Adam), B=${B}, T=${T}, dModel=${dModel}, d_k=d_v=32, median of ${reps} (TS: ${Math.max(2, Math.floor(reps / 3))})`);
  emit("");
  emit("| arm | params | WASM SIMD ms | TS reference ms | speed-up |");
  emit("|---|---|---|---|---|");
  const timings: Record<string, number> = {};
  for (const arm of ARMS) {
    const mk = (ops: Ops) => new SequenceModel(armSpec(arm as ArmName, config, { writeRate: 0.1 }), ops);
    const mw = mk(wasm);
    const aw = new Adam(mw.params);
    const tw = timeMs(() => trainStep(mw, aw, batch), reps, 2);
    const mt = mk(ts);
    const at = new Adam(mt.params);
    const tt = timeMs(() => trainStep(mt, at, batch), Math.max(2, Math.floor(reps / 3)), 1);
    timings[arm] = tw.median;
    emit(`| ${arm} | ${mw.paramCount().toLocaleString("en-US")} | ${tw.median.toFixed(1)} | ${tt.median.toFixed(1)} | ${(tt.median / tw.median).toFixed(1)}x |`);
  }
  emit("");
  try {
    const tf = await import("@tensorflow/tfjs");
    await import("@tensorflow/tfjs-backend-wasm");
    const ok = await tf.setBackend("wasm");
    if (!ok) throw new Error("tfjs wasm backend did not initialise");
    await tf.ready();
    const { tfjsAuraTrainer } = await import("./tfjs_aura.js");
    const trainer = tfjsAuraTrainer(tf, { B, T, dModel, dK: 32, dV: 32, dProj: 32, dGate: 32, dHidden: 64, dAction: 8 });
    const tt = timeMs(() => void trainer.step(batch.z, batch.label!), o.quick ? 2 : 5, 1);
    trainer.dispose();
    emit(`## AURA training step vs the same model in tfjs (backend ${tf.getBackend()}, autodiff)`);
    emit("");
    emit("| implementation | ms / step | relative |");
    emit("|---|---|---|");
    emit(`| aura-mem WASM SIMD | ${timings["aura"]!.toFixed(1)} | 1.0x |`);
    emit(`| @tensorflow/tfjs-backend-wasm | ${tt.median.toFixed(1)} | ${(tt.median / timings["aura"]!).toFixed(1)}x slower |`);
  } catch (err) {
    emit(`(tfjs comparison skipped: ${(err as Error).message}; it needs the dev dependencies @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm)`);
  }
  emit("");

  const big = new MemoryConfig({ dModel: 4096, dAction: 7 });
  const aura = new SequenceModel(armSpec("aura", big, { matchParams: null }), wasm);
  const kv = new SequenceModel(armSpec("kv-cache", big, { matchParams: null }), wasm);
  const rng = new Rng(5);
  const zt = rng.normals(4096);
  emit(`## Batch-1 control step at dModel=4096 (validate + encoder + memory + head), median µs`);
  emit("");
  emit("| past steps | aura µs | aura state bytes | kv-cache µs | kv-cache state bytes | kv / aura time |");
  emit("|---|---|---|---|---|---|");
  for (const L of [1e3, 1e4, 1e5]) {
    let sa: MemoryState = { ...aura.initState(1), t: L } as MemoryState;
    const ta = timeMs(() => {
      sa = aura.forward(zt, 1, 1, { initialState: sa }).finalState;
    }, o.quick ? 300 : 2000, 50);
    // a KV-cache holding L past (k, v) entries (random contents: timing only)
    const cap = 2 * L + 4096;
    const cache: KvCache = { B: 1, dK: 32, dV: 32, length: L, capacity: cap, keys: rng.normals(cap * 32, 0.2), values: rng.normals(cap * 32) };
    let sk: MemoryState = { kind: "kv", B: 1, t: L, cache };
    const n = L >= 1e5 ? (o.quick ? 20 : 100) : o.quick ? 100 : 500;
    const tk = timeMs(() => {
      sk = kv.forward(zt, 1, 1, { initialState: sk }).finalState;
    }, n, 5);
    emit(
      `| ${L.toLocaleString("en-US")} | ${(ta.median * 1000).toFixed(1)} | ${aura.stateBytes(sa).toLocaleString("en-US")} | ${(tk.median * 1000).toFixed(1)} | ${kv.stateBytes(sk).toLocaleString("en-US")} | ${(tk.median / ta.median).toFixed(1)}x |`,
    );
  }
  emit("");
  const { speedEdgeSections } = await import("./speed_edge.js");
  const { speedOnnxSections } = await import("./speed_onnx.js");
  for (const l of [...(await speedEdgeSections(o)), ...(await speedOnnxSections(o))]) emit(l);
  const text = lines.join("\n");
  if (o.out) await writeFile(o.out, text + "\n");
  return text;
}
