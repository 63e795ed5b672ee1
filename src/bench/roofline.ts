/**
 * The roofline of `aura bench-speed`: this machine's WebAssembly SIMD limits, and where an AURA
 * training step stands against them (a benchmark, never a test).
 *
 * - Peak: the `roof_madd` probe (assembly/roofline.ts: 12 independent f32x4 accumulators,
 *   `acc = acc * m + a`), timed in JS; the best of several calls, in GFLOP/s on one core.
 * - Bandwidth: the `roof_read` probe streaming a buffer far larger than any cache (128 MB; 64 MB
 *   with --quick); the best of several passes, in GB/s (1e9 bytes).
 * - Per op: the step runs on {@link profiledOps}, which times every op call and counts its FLOPs and
 *   bytes from the call's shapes (src/bench/flops.ts); Adam is timed beside it. Each op gets its
 *   GFLOP/s, % of the peak, its arithmetic intensity, the roofline bound min(peak, intensity x
 *   bandwidth), and its share of the step's time; "other" is the step minus the ops (column copies,
 *   concatenation, the loss, the IB term's glue, allocation).
 */
import type { Ops } from "aura-mem/ops/index";
import type { DenseOp } from "aura-mem/ops/dense/index";
import type { DeltaRuleOp } from "aura-mem/ops/delta_rule/index";
import type { RnnOp } from "aura-mem/ops/rnn/index";
import type { AttentionOp } from "aura-mem/ops/attention/index";
import type { ActivationOp } from "aura-mem/ops/activation/index";
import { gateCount } from "aura-mem/ops/rnn/index";
import { loadKernels } from "aura-mem/wasm/runtime";
import { ROOF_MADD_LANES, roofMaddFlops, rooflineWasm } from "aura-mem/wasm/roofline";
import * as C from "./flops.js";

/** The machine's measured limits. */
export interface MachineLimits {
  /** Best f32x4 multiply-add throughput, GFLOP/s (one thread). */
  peakGflops: number;
  /** Median over the calls, GFLOP/s. */
  peakGflopsMedian: number;
  /** Best streaming-read bandwidth, GB/s (1e9 bytes). */
  bandwidthGBs: number;
  /** Median over the passes, GB/s. */
  bandwidthGBsMedian: number;
  /** Size of the streamed buffer, bytes. */
  bufferBytes: number;
}

function bestAndMedian(xs: number[]): { best: number; median: number } {
  const s = [...xs].sort((a, b) => b - a);
  return { best: s[0]!, median: s[Math.floor(s.length / 2)]! };
}

/** Measure the peak and the bandwidth on a fresh kernel instance (dropped afterwards). */
export function measureLimits(quick: boolean): MachineLimits {
  const probes = rooflineWasm(loadKernels());
  const init = new Float32Array(ROOF_MADD_LANES).map((_, i) => 1 + i / 64);
  const m = 0.99999;
  const a = 1e-5;
  // calibrate to ~40 ms a call
  let iters = 1 << 16;
  for (;;) {
    const t0 = performance.now();
    probes.madd(init, m, a, iters);
    const dt = performance.now() - t0;
    if (dt > 10 || iters >= 1 << 30) {
      iters = Math.max(1, Math.min(2 ** 31 - 1, Math.round((iters * 40) / Math.max(dt, 1e-3))));
      break;
    }
    iters *= 4;
  }
  const gf: number[] = [];
  for (let r = 0; r < (quick ? 5 : 11); r++) {
    const t0 = performance.now();
    probes.madd(init, m, a, iters);
    gf.push(roofMaddFlops(iters) / ((performance.now() - t0) * 1e6));
  }
  const bytes = (quick ? 64 : 128) * 2 ** 20;
  const buf = probes.resident(bytes / 4);
  const bw: number[] = [];
  try {
    buf.run(); // warm
    for (let r = 0; r < (quick ? 5 : 11); r++) {
      const t0 = performance.now();
      buf.run();
      bw.push(buf.bytes / ((performance.now() - t0) * 1e6));
    }
  } finally {
    buf.release();
  }
  const p = bestAndMedian(gf);
  const b = bestAndMedian(bw);
  return { peakGflops: p.best, peakGflopsMedian: p.median, bandwidthGBs: b.best, bandwidthGBsMedian: b.median, bufferBytes: bytes };
}

/** Accumulated time and counted work of one row of the roofline table. */
export interface OpRecord {
  calls: number;
  ms: number;
  flops: number;
  bytes: number;
}

/** Ops that time and count every call into {@link ProfiledOps.records}, keyed by row name. */
export interface ProfiledOps {
  ops: Ops;
  records: Map<string, OpRecord>;
  /** Time and count an arbitrary piece of work (Adam) under `name`. */
  time<R>(name: string, cost: C.Cost, f: () => R): R;
  /**
   * Run `f` as phase `name` (model.forward, the IB term, model.backward): its wall time goes to
   * `phases[name].ms` and the time of the ops it calls to `phases[name].opsMs`, so the glue of a phase
   * (its time outside the ops) is the difference. Phases do not nest.
   */
  phase<R>(name: string, f: () => R): R;
  phases: Map<string, { ms: number; opsMs: number }>;
  reset(): void;
}

/**
 * Wrap `inner` so every op call is timed and counted. Dense calls are named by the parameter their
 * weight is (`names`: weight array -> parameter name): `enc.` -> encoder, `gate.` -> gate, `head.`
 * -> head (read at call time, so it may be filled after the model is built); a slice of a head weight (the IB term's head pass on W1's read-out rows) -> "IB head pass".
 */
export function profiledOps(inner: Ops, names: ReadonlyMap<Float32Array, string>): ProfiledOps {
  const records = new Map<string, OpRecord>();
  const phases = new Map<string, { ms: number; opsMs: number }>();
  let current: { ms: number; opsMs: number } | null = null;
  const phase = <R>(name: string, f: () => R): R => {
    const ph = phases.get(name) ?? { ms: 0, opsMs: 0 };
    phases.set(name, ph);
    const prev = current;
    current = ph;
    const t0 = performance.now();
    try {
      return f();
    } finally {
      ph.ms += performance.now() - t0;
      current = prev;
    }
  };
  const add = (name: string, ms: number, c: C.Cost): void => {
    if (current) current.opsMs += ms;
    const r = records.get(name) ?? { calls: 0, ms: 0, flops: 0, bytes: 0 };
    r.calls++;
    r.ms += ms;
    r.flops += c.flops;
    r.bytes += c.bytes;
    records.set(name, r);
  };
  const time = <R>(name: string, cost: C.Cost, f: () => R): R => {
    const t0 = performance.now();
    const out = f();
    add(name, performance.now() - t0, cost);
    return out;
  };
  const group = (W: Float32Array): string => {
    const n = names.get(W);
    if (n !== undefined) {
      const prefix = n.split(".")[0]!;
      return prefix === "enc" ? "encoder" : prefix;
    }
    for (const [w, name] of names) if (w.buffer === W.buffer && name.startsWith("head.")) return "IB head pass";
    return "other";
  };
  const d = inner.dense;
  const dense: DenseOp = {
    forward: (x, W, b, M, K, N) => time(`${group(W)} dense fwd`, C.denseForwardCost(M, K, N, b !== null), () => d.forward(x, W, b, M, K, N)),
    backward: (x, W, dy, M, K, N, needDx = true) =>
      time(`${group(W)} dense bwd`, C.denseBackwardCost(M, K, N, needDx), () => d.backward(x, W, dy, M, K, N, needDx)),
    l2normForward: (x, M, D) => time("l2norm fwd", C.l2normForwardCost(M, D), () => d.l2normForward(x, M, D)),
    l2normBackward: (x, dy, M, D) => time("l2norm bwd", C.l2normBackwardCost(M, D), () => d.l2normBackward(x, dy, M, D)),
  };
  const dr = inner.deltaRule;
  const deltaRule: DeltaRuleOp = {
    forward: (inp, o) => time("delta rule fwd", C.deltaRuleForwardCost(inp), () => dr.forward(inp, o)),
    backward: (inp, out, g) => time("delta rule bwd", C.deltaRuleBackwardCost(inp), () => dr.backward(inp, out, g)),
  };
  const rn = inner.rnn;
  const rnn: RnnOp = {
    forward: (inp, o) => time("rnn fwd", C.rnnForwardCost(inp.B, inp.T, inp.H, gateCount(inp.kind)), () => rn.forward(inp, o)),
    backward: (inp, out, g) => time("rnn bwd", C.rnnBackwardCost(inp.B, inp.T, inp.H, gateCount(inp.kind)), () => rn.backward(inp, out, g)),
  };
  const at = inner.attention;
  const attention: AttentionOp = {
    ...at,
    forward: (inp, o) => time("attention fwd", C.attentionForwardCost(inp.B, inp.T, inp.dK, inp.dV, inp.window), () => at.forward(inp, o)),
    backward: (inp, out, g) => time("attention bwd", C.attentionBackwardCost(inp.B, inp.T, inp.dK, inp.dV, inp.window), () => at.backward(inp, out, g)),
  };
  const a = inner.act;
  const act: ActivationOp = {
    tanh: (x) => time("activation fwd", C.activationForwardCost(x.length), () => a.tanh(x)),
    sigmoid: (x) => time("activation fwd", C.activationForwardCost(x.length), () => a.sigmoid(x)),
    tanhInPlace: (x) => time("activation fwd", C.activationForwardCost(x.length), () => a.tanhInPlace(x)),
    tanhBackward: (y, dy) => time("activation bwd", C.activationBackwardCost(y.length), () => a.tanhBackward(y, dy)),
    sigmoidBackward: (y, dy) => time("activation bwd", C.activationBackwardCost(y.length), () => a.sigmoidBackward(y, dy)),
  };
  const ops: Ops = { ...inner, dense, deltaRule, rnn, attention, act };
  return {
    ops,
    records,
    time,
    phase,
    phases,
    reset: () => {
      records.clear();
      phases.clear();
    },
  };
}

/** One row of the roofline table. */
export interface RooflineRow {
  op: string;
  calls: number;
  /** ms per step. */
  ms: number;
  /** FLOPs per step. */
  flops: number;
  /** Bytes per step (minimum traffic). */
  bytes: number;
  gflops: number;
  pctPeak: number;
  /** FLOP / byte. */
  intensity: number;
  /** min(peak, intensity x bandwidth), GFLOP/s. */
  boundGflops: number;
  /** Share of the step's time, %. */
  pctStep: number;
}

/**
 * Rows per step from records accumulated over `steps` steps of mean `stepMs`, then the glue: one
 * "glue in <phase>" row per phase (phase time minus its ops), "other" (the rest of the step outside
 * ops and phases), and a "whole step" row last.
 */
export function rooflineRows(
  records: ReadonlyMap<string, OpRecord>,
  steps: number,
  stepMs: number,
  lim: MachineLimits,
  phases: ReadonlyMap<string, { ms: number; opsMs: number }> = new Map(),
): RooflineRow[] {
  const row = (op: string, calls: number, ms: number, flops: number, bytes: number): RooflineRow => {
    const gflops = ms > 0 ? flops / (ms * 1e6) : 0;
    const intensity = bytes > 0 ? flops / bytes : 0;
    return {
      op,
      calls,
      ms,
      flops,
      bytes,
      gflops,
      pctPeak: (100 * gflops) / lim.peakGflops,
      intensity,
      boundGflops: Math.min(lim.peakGflops, intensity * lim.bandwidthGBs),
      pctStep: (100 * ms) / stepMs,
    };
  };
  const rows = [...records].map(([op, r]) => row(op, r.calls / steps, r.ms / steps, r.flops / steps, r.bytes / steps));
  rows.sort((x, y) => y.ms - x.ms);
  const opsMs = rows.reduce((s, r) => s + r.ms, 0);
  const flops = rows.reduce((s, r) => s + r.flops, 0);
  const bytes = rows.reduce((s, r) => s + r.bytes, 0);
  let glueMs = 0;
  for (const [name, ph] of phases) {
    const ms = Math.max(0, (ph.ms - ph.opsMs) / steps);
    glueMs += ms;
    rows.push(row(`glue in ${name} (TS loops, copies)`, 0, ms, 0, 0));
  }
  rows.push(row("other (loss, objective, allocation)", 0, Math.max(0, stepMs - opsMs - glueMs), 0, 0));
  rows.push(row("**whole step**", rows.reduce((s, r) => s + r.calls, 0), stepMs, flops, bytes));
  return rows;
}

/** The table as markdown lines. */
export function rooflineTable(rows: readonly RooflineRow[]): string[] {
  const out = [
    "| op | calls | MFLOP | MB | ms | GFLOP/s | % of peak | FLOP/byte | roofline bound GFLOP/s | % of step |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.op} | ${r.calls} | ${(r.flops / 1e6).toFixed(1)} | ${(r.bytes / 1e6).toFixed(1)} | ${r.ms.toFixed(2)} | ${r.flops ? r.gflops.toFixed(2) : "-"} | ` +
        `${r.flops ? r.pctPeak.toFixed(1) : "-"} | ${r.bytes ? r.intensity.toFixed(2) : "-"} | ${r.bytes ? r.boundGflops.toFixed(1) : "-"} | ${r.pctStep.toFixed(1)} |`,
    );
  }
  return out;
}
