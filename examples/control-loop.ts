/**
 * A 50 Hz robot control loop around the AURA layer: every 20 ms one batch-1 `layer.step()` on a
 * 4096-d backbone feature, timed; reports p50 / p99 / max step latency (µs), wake-up lateness and
 * deadline misses.
 *
 *   npx tsx examples/control-loop.ts                       # 500 ticks, fresh layer, dModel 4096
 *   npx tsx examples/control-loop.ts --ticks 3000 --hz 100 --mode busy
 *   npx tsx examples/control-loop.ts --checkpoint checkpoints/mine   # a trained layer (its dModel)
 *
 * Scheduling (--mode):
 *   hybrid (default)  setTimeout until ~2 ms before the tick's deadline, then spin on performance.now()
 *                     to the deadline: timer wake-ups are late by 1 ms or more under load, the spin
 *                     absorbs that at the cost of <= 2 ms of busy CPU per tick;
 *   timer             setTimeout to the deadline only (what a naive loop does; lateness = timer jitter);
 *   busy              spin the whole period (lowest jitter, one core at 100%).
 * Deadlines are absolute (start + k * period), so lateness does not accumulate. A tick misses its
 * deadline when its step() result is ready after the next tick's start (start + (k+1) * period).
 * The backbone is not part of this loop: observations are drawn in advance (a ring of 64), so only
 * the memory layer is timed. Garbage collection runs whenever V8 decides; its pauses show in max.
 */
import { AuraMemLayer, MemoryConfig, Rng, type MemoryState } from "aura-mem";

interface Args {
  ticks: number;
  hz: number;
  dModel: number;
  mode: "hybrid" | "timer" | "busy";
  checkpoint?: string;
  backend: "auto" | "wasm" | "ts";
  seed: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { ticks: 500, hz: 50, dModel: 4096, mode: "hybrid", backend: "auto", seed: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} needs a positive number, got ${v}`);
      i++;
      return n;
    };
    if (k === "--ticks") a.ticks = Math.round(num());
    else if (k === "--hz") a.hz = num();
    else if (k === "--dmodel") a.dModel = Math.round(num());
    else if (k === "--seed") a.seed = Math.round(num());
    else if (k === "--checkpoint") (a.checkpoint = v), i++;
    else if (k === "--mode" && (v === "hybrid" || v === "timer" || v === "busy")) (a.mode = v), i++;
    else if (k === "--backend" && (v === "auto" || v === "wasm" || v === "ts")) (a.backend = v), i++;
    else if (k === "--help" || k === "-h") {
      console.log("usage: npx tsx examples/control-loop.ts [--ticks 500] [--hz 50] [--dmodel 4096] [--mode hybrid|timer|busy] [--checkpoint path] [--backend auto|wasm|ts] [--seed 0]");
      process.exit(0);
    } else throw new Error(`unknown argument ${k} (try --help)`);
  }
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Wait until performance.now() >= deadline with the chosen strategy. */
async function waitUntil(deadline: number, mode: Args["mode"]): Promise<void> {
  if (mode === "timer") {
    const dt = deadline - performance.now();
    if (dt > 0) await sleep(dt);
    return;
  }
  if (mode === "hybrid") {
    const dt = deadline - performance.now() - 2;
    if (dt > 0) await sleep(dt);
  }
  while (performance.now() < deadline) {
    // spin
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const layer = a.checkpoint
    ? await AuraMemLayer.load(a.checkpoint, { backend: a.backend })
    : new AuraMemLayer(new MemoryConfig({ dModel: a.dModel, dKey: 32, dVal: 32, dAction: 7, seed: a.seed }), { backend: a.backend });
  const d = layer.config.dModel;
  const rng = new Rng(a.seed + 1);
  const ring = Array.from({ length: 64 }, () => rng.normals(d));
  const period = 1000 / a.hz;
  let state: MemoryState = layer.initState(1);
  // warm-up outside the loop: JIT and WASM tiers, first allocations
  for (let i = 0; i < 20; i++) state = layer.step(ring[i % ring.length]!, state).state;
  state = layer.initState(1);

  const lat: number[] = [];
  const late: number[] = [];
  let misses = 0;
  let writes = 0;
  const t0 = performance.now() + period;
  for (let k = 0; k < a.ticks; k++) {
    const start = t0 + k * period;
    await waitUntil(start, a.mode);
    const woke = performance.now();
    const s = layer.step(ring[k % ring.length]!, state);
    const done = performance.now();
    state = s.state;
    writes += s.g[0]!;
    lat.push((done - woke) * 1000);
    late.push((woke - start) * 1000);
    if (done > start + period) misses++;
  }
  const ls = [...lat].sort((x, y) => x - y);
  const ws = [...late].sort((x, y) => x - y);
  const bytes = layer.model.stateBytes(state);
  console.log(`## Control loop: ${a.ticks} ticks at ${a.hz} Hz (${period.toFixed(1)} ms), ${layer.arm} dModel ${d}, batch 1, ${layer.model.backend} backend, mode ${a.mode}`);
  console.log("");
  console.log("| step() latency p50 | p99 | max | wake-up lateness p50 | p99 | max | deadline misses | writes | state bytes |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(
    `| ${pct(ls, 0.5).toFixed(0)} µs | ${pct(ls, 0.99).toFixed(0)} µs | ${ls[ls.length - 1]!.toFixed(0)} µs | ` +
      `${pct(ws, 0.5).toFixed(0)} µs | ${pct(ws, 0.99).toFixed(0)} µs | ${ws[ws.length - 1]!.toFixed(0)} µs | ${misses} / ${a.ticks} | ${writes} | ${bytes.toLocaleString("en-US")} |`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
