/** The figures of `aura bench-speed` (src/bench/speed.ts fills them; speed_edge.ts and speed_onnx.ts add theirs). */
import type { MachineLimits, RooflineRow } from "./roofline.js";

/**
 * What `aura bench-speed --json <file>` writes. Times are medians. A field is null when its section
 * did not run or failed (tfjs or onnxruntime-node not installed, a worker pool that did not start);
 * a `--quick` run measures every field, with fewer repetitions.
 */
export interface SpeedFigures {
  /** Commit of the working tree when known (GIT_COMMIT env or `git describe --always --dirty`), else null. */
  commit: string | null;
  quick: boolean;
  /** f32x4 multiply-add peak of one thread, GFLOP/s (best of the probe's calls). */
  peakGflops: number | null;
  /** Streaming-read bandwidth, GB/s (best of the probe's passes). */
  bandwidthGBs: number | null;
  /** The probes in full (best and median). */
  limits: MachineLimits | null;
  /** Training step per arm (WASM SIMD, B=64, T=128, dModel 64): median ms, FLOPs counted from the shapes, GFLOP/s, % of peak. */
  trainStep: Record<string, { ms: number; tsMs: number; flops: number; gflops: number; pctPeak: number | null }>;
  /** Roofline table of the AURA step (ms, FLOPs and bytes per step; the last rows are "other" and the whole step). */
  roofline: RooflineRow[] | null;
  /** The same AURA step in @tensorflow/tfjs-backend-wasm, median ms. */
  tfjsStepMs: number | null;
  /** AURA on ess-hard: in-process step vs the best data-parallel worker count, median ms; speedup = inProcessMs / bestMs. */
  dataParallel: { inProcessMs: number; oneWorkerMs: number; twoWorkersMs: number; bestMs: number; speedup: number } | null;
  /** Batch-1 fused step engine at dModel 4096, median µs. */
  stepEngineUs: number | null;
  /** onnxruntime-node on the same step, fastest thread setting, median µs. */
  onnxruntimeUs: number | null;
}
