/**
 * Run an exported aura step graph in onnxruntime-node (CPU) beside `AuraMemLayer.step`, each
 * framework feeding its own next state back, and report the largest differences. Used by
 * `aura export-onnx --verify` and the speed bench; onnxruntime-node is an optional (dev) dependency,
 * loaded on demand.
 */
import { ConfigError } from "aura-mem/errors";
import type { AuraMemLayer } from "aura-mem/layer";
import type { MemoryState } from "aura-mem/model/model";
import { Rng } from "aura-mem/util/rng";

/** The parts of onnxruntime-node (or onnxruntime-web / -react-native: same API) used here. */
export type OrtModule = typeof import("onnxruntime-node");

/** Load onnxruntime-node. @throws ConfigError with the reason when it cannot be loaded. */
export async function loadOrt(): Promise<OrtModule> {
  try {
    const mod = (await import("onnxruntime-node")) as OrtModule & { default?: OrtModule };
    const ort = typeof mod.InferenceSession?.create === "function" ? mod : mod.default;
    if (!ort || typeof ort.InferenceSession?.create !== "function") throw new Error("no InferenceSession export");
    return ort;
  } catch (err) {
    throw new ConfigError(`onnxruntime-node is not available (npm install onnxruntime-node): ${(err as Error).message}`);
  }
}

/** One step of the exported graph: feeds z, M, m; returns every output as a Float32Array. */
export interface OrtStepOutputs {
  action: Float32Array;
  g: Float32Array;
  p: Float32Array;
  surprise: Float32Array;
  M: Float32Array;
  m: Float32Array;
}

/** A session on the exported graph with the step's feeds and fetches wired up. */
export interface OrtStepper {
  step(zt: Float32Array, M: Float32Array, m: Float32Array): Promise<OrtStepOutputs>;
  release(): Promise<void>;
}

/** Create an onnxruntime session (CPU EP) on exported bytes; `intraOpNumThreads` 0/undefined = ORT default. */
export async function ortStepper(
  ort: OrtModule,
  bytes: Uint8Array,
  dims: { dModel: number; dKey: number; dVal: number },
  intraOpNumThreads?: number,
): Promise<OrtStepper> {
  const opts: Parameters<OrtModule["InferenceSession"]["create"]>[1] = { executionProviders: ["cpu"] };
  if (intraOpNumThreads) opts.intraOpNumThreads = intraOpNumThreads;
  const session = await ort.InferenceSession.create(bytes, opts);
  const { dModel, dKey, dVal } = dims;
  return {
    async step(zt, M, m) {
      const out = await session.run({
        z: new ort.Tensor("float32", zt, [1, dModel]),
        M: new ort.Tensor("float32", M, [1, dKey, dVal]),
        m: new ort.Tensor("float32", m, [1, dVal]),
      });
      const f = (name: string): Float32Array => out[name]!.data as Float32Array;
      return { action: f("action"), g: f("g"), p: f("p"), surprise: f("surprise"), M: f("M_next"), m: f("m_next") };
    },
    release: () => session.release(),
  };
}

/** Largest |a - b| and largest |a - b| / (1 + |a|) over paired arrays. */
export function maxDiff(pairs: readonly (readonly [ArrayLike<number>, ArrayLike<number>])[]): { abs: number; rel: number } {
  let abs = 0;
  let rel = 0;
  for (const [a, b] of pairs) {
    if (a.length !== b.length) return { abs: Infinity, rel: Infinity };
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      if (!(d <= abs)) abs = Number.isNaN(d) ? Infinity : d;
      const r = d / (1 + Math.abs(a[i]!));
      if (!(r <= rel)) rel = Number.isNaN(r) ? Infinity : r;
    }
  }
  return { abs, rel };
}

/** Result of {@link onnxParity}. */
export interface OnnxParityResult {
  steps: number;
  writes: number;
  gMismatches: number;
  /** max |ours - ort| over action, p, surprise */
  maxAbsOutputs: number;
  /** max |ours - ort| over M_next, m_next */
  maxAbsState: number;
  /** max |ours - ort| / (1 + |ours|) over everything */
  maxRel: number;
}

/**
 * Run `steps` random ticks (z ~ N(0, 1) from `seed`) through `layer.step` and the ONNX graph.
 */
export async function onnxParity(
  layer: AuraMemLayer,
  bytes: Uint8Array,
  o: { steps: number; seed?: number; ort?: OrtModule },
): Promise<OnnxParityResult> {
  const ort = o.ort ?? (await loadOrt());
  const c = layer.config;
  const st = await ortStepper(ort, bytes, c, 1);
  try {
    const rng = new Rng(o.seed ?? 1);
    let ours: MemoryState = layer.initState(1);
    let M: Float32Array = new Float32Array(c.dKey * c.dVal);
    let m: Float32Array = new Float32Array(c.dVal);
    const res: OnnxParityResult = { steps: o.steps, writes: 0, gMismatches: 0, maxAbsOutputs: 0, maxAbsState: 0, maxRel: 0 };
    for (let t = 0; t < o.steps; t++) {
      const zt = rng.normals(c.dModel);
      const a = layer.step(zt, ours);
      const b = await st.step(zt, M, m);
      const s = a.state as Extract<MemoryState, { kind: "fast-weights" }>;
      if (a.g[0] !== b.g[0]) res.gMismatches++;
      res.writes += a.g[0]!;
      const dOut = maxDiff([[a.action, b.action], [a.p, b.p], [a.surprise, b.surprise]]);
      const dSt = maxDiff([[s.M, b.M], [s.m, b.m]]);
      res.maxAbsOutputs = Math.max(res.maxAbsOutputs, dOut.abs);
      res.maxAbsState = Math.max(res.maxAbsState, dSt.abs);
      res.maxRel = Math.max(res.maxRel, dOut.rel, dSt.rel);
      ours = a.state;
      M = b.M;
      m = b.m;
    }
    return res;
  } finally {
    await st.release();
  }
}
