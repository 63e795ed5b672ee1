/**
 * `aura bench-speed`: timings, reported with medians over repetitions after a warm-up (a benchmark,
 * never a unit test).
 *  1. one training step (forward + BPTT backward + Adam) per arm, B=64, T=128, dModel=64, d=32:
 *     WASM SIMD kernels vs the TypeScript reference, and AURA in @tensorflow/tfjs-backend-wasm;
 *  2. the edge sections (speed_edge.ts): batch-1 `layer.step()` at dModel 4096, aura vs kv-cache
 *     over 1e2 .. 1e6 past steps (timed there only), and data-parallel training throughput;
 *  3. the ONNX sections (speed_onnx.ts).
 */
import { writeFile } from "node:fs/promises";
import { MemoryConfig } from "aura-mem/config";
import { naiveOps, wasmOps, type Ops } from "aura-mem/ops/index";
import { armSpec } from "aura-mem/model/arms";
import { ARMS, SequenceModel, type ArmName } from "aura-mem/model/model";
import { Adam } from "aura-mem/train/adam";
import { batchObjective, DEFAULT_TRAIN } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import type { EpisodeBatch } from "aura-mem/train/batch";
import { timeMs } from "./timing.js";

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

  const { speedEdgeSections } = await import("./speed_edge.js");
  const { speedOnnxSections } = await import("./speed_onnx.js");
  for (const l of [...(await speedEdgeSections(o)), ...(await speedOnnxSections(o))]) emit(l);
  const text = lines.join("\n");
  if (o.out) await writeFile(o.out, text + "\n");
  return text;
}
