/**
 * Extra sections of `aura bench-speed` for the edge work (markdown lines; speed.ts prints them):
 *  (a) batch-1 `layer.step()` at dModel 4096: AURA (flat) vs kv-cache (growing) with 1e2 .. 1e6 past
 *      steps, the KV-cache built directly with L entries and capacity 2L (256 MB of live entries at
 *      1e6, 512 MB allocated), few repetitions at the large sizes;
 *  (b) training throughput of AURA on ess-hard (B=64, T=128, dModel 64) in this thread and with 1 and
 *      2 worker threads of the data-parallel trainer (src/train/data_parallel.ts): episodes/s and the
 *      speed-up of 2 workers over 1.
 */
import { availableParallelism } from "node:os";
import { AuraMemLayer } from "aura-mem/layer";
import { MemoryConfig } from "aura-mem/config";
import type { MemoryState } from "aura-mem/model/model";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel } from "aura-mem/model/model";
import { createOps, wasmOps } from "aura-mem/ops/index";
import type { KvCache } from "aura-mem/ops/attention/index";
import { createTask } from "../tasks/index.js";
import { Adam, clipGlobalNorm } from "aura-mem/train/adam";
import { batchObjective, DEFAULT_TRAIN } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import { timeMs } from "./timing.js";
import type { SpeedFigures } from "./speed_figures.js";

/** A KV-cache of L entries (random contents, timing only) with capacity `cap` >= L: fills a block, then tiles it. */
export function syntheticKvCache(L: number, cap: number, dK: number, dV: number, rng: Rng): KvCache {
  const keys = new Float32Array(cap * dK);
  const values = new Float32Array(cap * dV);
  const block = Math.min(L, 4096);
  keys.set(rng.normals(block * dK, 0.2));
  values.set(rng.normals(block * dV));
  for (let n = block; n < L; n *= 2) {
    const m = Math.min(n, L - n);
    keys.copyWithin(n * dK, 0, m * dK);
    values.copyWithin(n * dV, 0, m * dV);
  }
  return { B: 1, dK, dV, length: L, capacity: cap, keys, values };
}

function fmtBytes(b: number): string {
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

/** (a) AURA vs kv-cache batch-1 step() at dModel 4096 over past lengths. */
async function stepVsHorizon(quick: boolean, _fig?: SpeedFigures): Promise<string[]> {
  const L0: string[] = [];
  const ops = wasmOps();
  const cfg = new MemoryConfig({ dModel: 4096, dKey: 32, dVal: 32, dAction: 7 });
  const aura = new AuraMemLayer(cfg, { ops });
  const kv = new AuraMemLayer(cfg, { ops, arm: "kv-cache" });
  const rng = new Rng(11);
  const zs = Array.from({ length: 8 }, () => rng.normals(4096));
  L0.push(`## Batch-1 step() at dModel 4096 vs past steps: AURA (constant state) vs kv-cache (growing), median µs`);
  L0.push("");
  L0.push("KV-cache built directly with L entries, capacity 2L (appends in place); `layer.step()` (input check + encoder + memory + head). RSS after building the cache shown.");
  L0.push("");
  L0.push("| past steps | aura µs | aura state | kv-cache µs (reps) | kv-cache state at L | kv allocated | kv / aura | RSS |");
  L0.push("|---|---|---|---|---|---|---|---|");
  for (const L of [1e2, 1e3, 1e4, 1e5, 1e6]) {
    let sa: MemoryState = { ...aura.initState(1), t: L } as MemoryState;
    let i = 0;
    const ta = timeMs(() => {
      sa = aura.step(zs[i++ % zs.length]!, sa).state;
    }, quick ? 100 : 500, 20);
    let cache: KvCache | null = syntheticKvCache(L, 2 * L, 32, 32, rng);
    let sk: MemoryState = { kind: "kv", B: 1, t: L, cache };
    // few repetitions: every timed step appends one entry (at most L/2 of them)
    const reps = Math.min(L >= 1e6 ? (quick ? 3 : 7) : L >= 1e5 ? (quick ? 5 : 21) : quick ? 50 : 200, L / 2);
    const tk = timeMs(() => {
      sk = kv.step(zs[i++ % zs.length]!, sk).state;
    }, reps, L >= 1e5 ? 1 : 5);
    const rss = process.memoryUsage().rss;
    const live = kv.model.memoryBytes(1, L);
    L0.push(
      `| ${L.toLocaleString("en-US")} | ${(ta.median * 1000).toFixed(0)} | ${fmtBytes(aura.model.stateBytes(sa))} | ${(tk.median * 1000).toFixed(0)} (${reps}) | ` +
        `${fmtBytes(live)} | ${fmtBytes(cache.keys.byteLength + cache.values.byteLength)} | ${(tk.median / ta.median).toFixed(1)}x | ${fmtBytes(rss)} |`,
    );
    // drop the cache before the next size
    cache = null;
    sk = kv.initState(1);
    (globalThis as { gc?: () => void }).gc?.();
  }
  L0.push("");
  return L0;
}

/** (b) Training throughput: in-thread vs 1 and 2 data-parallel workers, AURA on ess-hard. */
async function trainThroughput(quick: boolean, fig?: SpeedFigures): Promise<string[]> {
  const { DataParallelTrainer } = await import("aura-mem/train/data_parallel");
  const out: string[] = [];
  const B = 64;
  const T = 128;
  const dModel = 64;
  const task = await createTask("ess-hard", { seed: 0, dModel, horizon: T, valEpisodes: 8, testEpisodes: 8 });
  const config = new MemoryConfig({ dModel, dAction: task.dAction, actionKind: "discrete" });
  const source = { kind: task.kind, dAction: task.dAction };
  const o = { lambdaIB: DEFAULT_TRAIN.lambdaIB, lambdaW: DEFAULT_TRAIN.lambdaW, targetWriteRate: DEFAULT_TRAIN.targetWriteRate };
  const steps = quick ? 3 : 8;
  const rng = new Rng(3);
  const batches = Array.from({ length: 4 }, () => task.sample(rng, B));
  const seeds = Array.from({ length: B }, (_, i) => i);
  const rows: { label: string; ms: number }[] = [];

  // in this thread: batchObjective + clip + Adam (what train() does per step)
  {
    const model = new SequenceModel(armSpec("aura", config, { matchParams: null }), createOps("wasm"));
    const adam = new Adam(model.params);
    let k = 0;
    const t = timeMs(() => {
      const obj = batchObjective(model, batches[k++ % batches.length]!, source, o, { gateMode: "hard", scheduleSeeds: seeds });
      clipGlobalNorm(obj.grads, 1);
      adam.step(obj.grads);
    }, steps, 1);
    rows.push({ label: "in-process (no workers)", ms: t.median });
  }
  for (const workers of [1, 2]) {
    const model = new SequenceModel(armSpec("aura", config, { matchParams: null }), createOps("wasm"));
    const adam = new Adam(model.params);
    const pool = await DataParallelTrainer.start(model, source, { workers, backend: "wasm" });
    try {
      const xs: number[] = [];
      for (let s = 0; s < steps + 1; s++) {
        const t0 = performance.now();
        const obj = await pool.objective(batches[s % batches.length]!, o, { gateMode: "hard", scheduleSeeds: seeds });
        clipGlobalNorm(obj.grads, 1);
        adam.step(obj.grads);
        if (s > 0) xs.push(performance.now() - t0);
      }
      xs.sort((a, b) => a - b);
      rows.push({ label: `${workers} worker${workers > 1 ? "s" : ""} (data-parallel)`, ms: xs[Math.floor(xs.length / 2)]! });
    } finally {
      await pool.close();
    }
  }
  const one = rows[1]!.ms;
  if (fig) {
    const bestMs = Math.min(rows[1]!.ms, rows[2]!.ms);
    fig.dataParallel = { inProcessMs: rows[0]!.ms, oneWorkerMs: rows[1]!.ms, twoWorkersMs: rows[2]!.ms, bestMs, speedup: rows[0]!.ms / bestMs };
  }
  out.push(`## Training throughput, data-parallel worker threads: AURA on ess-hard, B=${B}, T=${T}, dModel=${dModel}, median of ${steps} steps`);
  out.push("");
  out.push(
    `Each worker computes batchObjective on its shard with a copy of the parameters (SharedArrayBuffer), the main thread combines the gradients (exactly the full-batch gradient, test/data_parallel.test.ts), clips and applies Adam. ${availableParallelism()} cores available to this process.`,
  );
  out.push("");
  out.push("| trainer | ms / step | episodes / s | speed-up vs 1 worker |");
  out.push("|---|---|---|---|");
  for (const r of rows) out.push(`| ${r.label} | ${r.ms.toFixed(0)} | ${((B * 1000) / r.ms).toFixed(0)} | ${(one / r.ms).toFixed(2)}x |`);
  out.push("");
  return out;
}

/** Extra sections of `aura bench-speed` for the edge work: markdown lines to print. */
export async function speedEdgeSections(o: { quick?: boolean }, fig?: SpeedFigures): Promise<string[]> {
  const quick = o.quick ?? false;
  const lines: string[] = [];
  for (const section of [stepVsHorizon, trainThroughput]) {
    try {
      lines.push(...(await section(quick, fig)));
    } catch (err) {
      lines.push(`(edge section ${section.name} failed: ${(err as Error).message})`, "");
    }
  }
  return lines;
}
