/**
 * `aura bench-speed`: timings, reported with medians over repetitions after a warm-up (a benchmark,
 * never a unit test).
 *  1. one training step (forward + BPTT backward + Adam) per arm, B=64, T=128, dModel=64, d=32:
 *     WASM SIMD kernels vs the TypeScript reference, and AURA in @tensorflow/tfjs-backend-wasm;
 *  2. the edge sections (speed_edge.ts): batch-1 `layer.step()` at dModel 4096, aura vs kv-cache
 *     over 1e2 .. 1e6 past steps (timed there only), and data-parallel training throughput;
 *  3. the ONNX sections (speed_onnx.ts);
 *  4. the roofline (roofline.ts): this machine's SIMD peak and memory bandwidth, and per op of the
 *     AURA step FLOPs counted from the shapes (flops.ts), GFLOP/s, % of peak and share of the step.
 * With `json`, every figure is also written machine-readably ({@link SpeedFigures}).
 */
import { execFileSync } from "node:child_process";
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
import { adamCost } from "./flops.js";
import { measureLimits, profiledOps, rooflineRows, rooflineTable, type ProfiledOps, type RooflineRow } from "./roofline.js";
import type { SpeedFigures } from "./speed_figures.js";

export type { SpeedFigures } from "./speed_figures.js";


function gitCommit(): string | null {
  if (process.env.GIT_COMMIT) return process.env.GIT_COMMIT;
  try {
    return execFileSync("git", ["describe", "--always", "--dirty"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || null;
  } catch {
    return null;
  }
}

/** Weight array -> parameter name, for naming dense calls in the roofline. */
function weightNames(model: SequenceModel): Map<Float32Array, string> {
  return new Map(Object.entries(model.params).map(([k, p]) => [p.data, k]));
}

/** Time the model's forward, IB term and backward as phases of `prof` (instance methods wrapped). */
function phaseModel(model: SequenceModel, prof: ProfiledOps): void {
  const m = model as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const [method, phase] of [
    ["forward", "forward"],
    ["actionDivergence", "IB term"],
    ["actionUtility", "utility term"],
    ["backward", "backward"],
  ] as const) {
    const f = m[method]!.bind(model);
    m[method] = (...a: unknown[]) => prof.phase(phase, () => f(...a));
  }
}

/** One training step on profiled ops, Adam timed beside them. */
function profiledStep(model: SequenceModel, adam: Adam, batch: EpisodeBatch, prof: ProfiledOps): void {
  const { grads } = batchObjective(model, batch, { kind: "discrete", dAction: 8 }, DEFAULT_TRAIN, { gateMode: "hard", scheduleSeeds: Array.from({ length: batch.B }, (_, i) => i) });
  prof.time("adam", adamCost(model.paramCount()), () => adam.step(grads));
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
export async function runSpeedBench(o: { quick?: boolean; out?: string; json?: string; log?: (s: string) => void } = {}): Promise<string> {
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
  const fig: SpeedFigures = {
    commit: gitCommit(),
    quick: o.quick ?? false,
    peakGflops: null,
    bandwidthGBs: null,
    limits: null,
    trainStep: {},
    roofline: null,
    tfjsStepMs: null,
    dataParallel: null,
    stepEngineUs: null,
    onnxruntimeUs: null,
  };
  const tsMs: Record<string, number> = {};
  for (const arm of ARMS) {
    const mk = (ops: Ops) => new SequenceModel(armSpec(arm as ArmName, config, { writeRate: 0.1 }), ops);
    const mw = mk(wasm);
    const aw = new Adam(mw.params);
    const tw = timeMs(() => trainStep(mw, aw, batch), reps, 2);
    const mt = mk(ts);
    const at = new Adam(mt.params);
    const tt = timeMs(() => trainStep(mt, at, batch), Math.max(2, Math.floor(reps / 3)), 1);
    timings[arm] = tw.median;
    tsMs[arm] = tt.median;
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
    fig.tfjsStepMs = tt.median;
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
  for (const l of [...(await speedEdgeSections(o, fig)), ...(await speedOnnxSections(o, fig))]) emit(l);

  // the roofline: machine limits, FLOPs of every arm's step, the AURA step op by op
  try {
    const lim = measureLimits(o.quick ?? false);
    fig.limits = lim;
    fig.peakGflops = lim.peakGflops;
    fig.bandwidthGBs = lim.bandwidthGBs;
    let auraRows: RooflineRow[] = [];
    for (const arm of ARMS) {
      const names = new Map<Float32Array, string>();
      const prof2 = profiledOps(wasm, names);
      const model = new SequenceModel(armSpec(arm as ArmName, config, { writeRate: 0.1 }), prof2.ops);
      for (const [w, n] of weightNames(model)) names.set(w, n);
      phaseModel(model, prof2);
      const adam = new Adam(model.params);
      const steps = arm === "aura" ? reps : 1;
      profiledStep(model, adam, batch, prof2); // warm-up
      prof2.reset();
      const xs: number[] = [];
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        profiledStep(model, adam, batch, prof2);
        xs.push(performance.now() - t0);
      }
      const meanMs = xs.reduce((a, b) => a + b, 0) / xs.length;
      const rows = rooflineRows(prof2.records, steps, meanMs, lim, prof2.phases);
      const flops = rows[rows.length - 1]!.flops;
      const ms = timings[arm]!;
      const gflops = flops / (ms * 1e6);
      fig.trainStep[arm] = { ms, tsMs: tsMs[arm]!, flops, gflops, pctPeak: (100 * gflops) / lim.peakGflops };
      if (arm === "aura") auraRows = rows;
    }
    fig.roofline = auraRows;
    emit(`## Roofline: this machine's WASM SIMD limits, and the AURA training step op by op`);
    emit("");
    emit(
      `Peak: f32x4 multiply-add probe (12 independent accumulators, mul + add = 2 FLOPs per lane, no FMA in WASM SIMD), one thread: ` +
        `**${lim.peakGflops.toFixed(1)} GFLOP/s** (best; median ${lim.peakGflopsMedian.toFixed(1)}). ` +
        `Bandwidth: streaming read of ${(lim.bufferBytes / 2 ** 20).toFixed(0)} MiB: **${lim.bandwidthGBs.toFixed(1)} GB/s** (best; median ${lim.bandwidthGBsMedian.toFixed(1)}). ` +
        `Ridge point ${(lim.peakGflops / lim.bandwidthGBs).toFixed(1)} FLOP/byte.`,
    );
    emit("");
    emit(
      `AURA step (B=${B}, T=${T}, dModel=${dModel}), mean of ${reps} profiled steps; FLOPs and bytes (minimum traffic) counted from the shapes (src/bench/flops.ts); ` +
        `dense calls named by their weight; "glue in <phase>" = time in model.forward / the IB term / model.backward outside the ops, "other" = the rest of the step.`,
    );
    emit("");
    for (const l of rooflineTable(auraRows)) emit(l);
    emit("");
    emit("| arm | GFLOP / step | ms (median, first table) | GFLOP/s | % of peak |");
    emit("|---|---|---|---|---|");
    for (const [arm, t] of Object.entries(fig.trainStep)) {
      emit(`| ${arm} | ${(t.flops / 1e9).toFixed(3)} | ${t.ms.toFixed(1)} | ${t.gflops.toFixed(2)} | ${t.pctPeak!.toFixed(1)} |`);
    }
    emit("");
  } catch (err) {
    emit(`(roofline section failed: ${(err as Error).message})`);
    emit("");
  }
  const text = lines.join("\n");
  if (o.out) await writeFile(o.out, text + "\n");
  if (o.json) await writeFile(o.json, JSON.stringify(fig, null, 2) + "\n");
  return text;
}
