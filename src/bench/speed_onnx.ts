/**
 * `aura bench-speed` section for the edge step: batch-1 control step of the aura arm at dModel 4096,
 *   (a) `AuraMemLayer.step` on the op path (`fusedStep: false`: one kernel call per op, weights
 *       copied in per call; what `layer.step` ran before it used the fused engine),
 *   (b) `AuraMemLayer.step` as it ships (the fused engine behind the layer's checks),
 *   (c) the step engine driven directly (`createStepEngine`: one fused kernel, weights resident),
 *   (d) onnxruntime-node (CPU EP) on the exported ONNX graph, session.run with the state fed back,
 *       intra-op threads 1 and the ORT default.
 * The implementations are timed in interleaved rounds (each round: a few untimed steps, then a timed
 * chunk, for every implementation in turn), so load from other processes hits them alike; the table
 * gives the median and minimum over all timed steps. Every implementation runs the same z sequence
 * and feeds its own state back. A benchmark, never a test.
 */
import { AuraMemLayer } from "aura-mem/layer";
import { wasmOps } from "aura-mem/ops/index";
import { Rng } from "aura-mem/util/rng";
import type { MemoryState } from "aura-mem/model/model";
import { createStepEngine } from "aura-mem/deploy/step_engine";
import { exportOnnx, ONNX_OPSET } from "aura-mem/deploy/onnx_export";
import { loadOrt, ortStepper, maxDiff, type OrtStepper } from "./onnx_parity.js";
import type { SpeedFigures } from "./speed_figures.js";

interface Impl {
  name: string;
  /** One step on the i-th z; resolves when done. */
  step: (i: number) => void | Promise<void>;
  samples: number[];
}

function stats(xs: number[]): { median: number; min: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]! * 1000, min: s[0]! * 1000 };
}

/** Extra sections of `aura bench-speed` for the onnx work: markdown lines to print. */
export async function speedOnnxSections(o: { quick?: boolean; dModel?: number }, fig?: SpeedFigures): Promise<string[]> {
  const dModel = o.dModel ?? 4096;
  const rounds = o.quick ? 6 : 20;
  const chunk = o.quick ? 100 : 200;
  const warm = 20;
  const layer = new AuraMemLayer({ dModel, dAction: 7 }, { ops: wasmOps() });
  const c = layer.config;
  const rng = new Rng(11);
  const nZ = 64;
  const zs = Array.from({ length: nZ }, () => rng.normals(dModel));
  const lines: string[] = [];

  let s0: MemoryState = layer.initState(1);
  const opPath = AuraMemLayer.fromModel(layer.model, { fusedStep: false });
  let s1: MemoryState = layer.initState(1);
  const engine = createStepEngine(layer);
  let s2: MemoryState = layer.initState(1);
  const impls: Impl[] = [
    {
      name: "`AuraMemLayer.step`, op path (`fusedStep: false`; the default before the fused path)",
      step: (i) => {
        s0 = opPath.step(zs[i % nZ]!, s0).state;
      },
      samples: [],
    },
    {
      name: `\`AuraMemLayer.step\`, default (${layer.stepPath()} path)`,
      step: (i) => {
        s1 = layer.step(zs[i % nZ]!, s1).state;
      },
      samples: [],
    },
    {
      name: "step engine (`createStepEngine`: fused WASM SIMD kernel, resident weights)",
      step: (i) => {
        s2 = engine.step(zs[i % nZ]!, s2).state;
      },
      samples: [],
    },
  ];
  const steppers: OrtStepper[] = [];
  let ortNote = "";
  let parity = "";
  let ortVersion = "";
  try {
    const ort = await loadOrt();
    ortVersion = ort.env.versions?.common ?? "";
    const bytes = await exportOnnx(layer);
    for (const threads of [1, 0]) {
      const st = await ortStepper(ort, bytes, c, threads);
      steppers.push(st);
      let M: Float32Array = new Float32Array(c.dKey * c.dVal);
      let m: Float32Array = new Float32Array(c.dVal);
      impls.push({
        name: `onnxruntime-node ${ortVersion} (CPU EP, intra-op threads ${threads === 1 ? "1" : "default"})`,
        step: async (i) => {
          const out = await st.step(zs[i % nZ]!, M, m);
          M = out.M;
          m = out.m;
        },
        samples: [],
      });
    }
    // parity of the timed implementations over 200 steps (each feeding its own state back)
    let se: MemoryState = layer.initState(1);
    let Mo: Float32Array = new Float32Array(c.dKey * c.dVal);
    let mo: Float32Array = new Float32Array(c.dVal);
    let dAbs = 0;
    let dRel = 0;
    let gDiff = 0;
    for (let i = 0; i < 200; i++) {
      const a = engine.step(zs[i % nZ]!, se);
      const b = await steppers[0]!.step(zs[i % nZ]!, Mo, mo);
      const d = maxDiff([[a.action, b.action], [a.p, b.p], [a.surprise, b.surprise], [a.state.M, b.M], [a.state.m, b.m]]);
      dAbs = Math.max(dAbs, d.abs);
      dRel = Math.max(dRel, d.rel);
      if (a.g[0] !== b.g[0]) gDiff++;
      se = a.state;
      Mo = b.M;
      mo = b.m;
    }
    parity =
      `Parity, engine vs onnxruntime over 200 steps (each feeding its own state back): max |diff| ${dAbs.toExponential(2)}, ` +
      `max |diff| / (1 + |x|) ${dRel.toExponential(2)} over action, p, surprise, M, m; g mismatches ${gDiff}.`;
    ortNote = `ONNX graph: ${bytes.length.toLocaleString("en-US")} bytes, opset ${ONNX_OPSET}; z, M, m fed per step, M_next and m_next fed back.`;
  } catch (err) {
    ortNote = `(onnxruntime-node rows skipped: ${(err as Error).message})`;
  }

  for (let r = 0; r < rounds; r++) {
    for (const im of impls) {
      for (let i = 0; i < warm; i++) await im.step(i);
      for (let i = 0; i < chunk; i++) {
        const t0 = performance.now();
        await im.step(i);
        im.samples.push(performance.now() - t0);
      }
    }
  }
  for (const st of steppers) await st.release();

  const res = impls.map((im) => ({ name: im.name, ...stats(im.samples) }));
  const eng = res[2]!.median;
  if (fig) {
    fig.stepEngineUs = eng;
    if (res.length > 3) fig.onnxruntimeUs = Math.min(...res.slice(3).map((x) => x.median));
  }
  lines.push(`## Batch-1 aura step at dModel=${dModel} (d_k = d_v = 32, 7 actions): layer.step (op path, fused path) vs fused step engine vs onnxruntime-node`);
  lines.push("");
  lines.push(`Median and min µs per step over ${rounds} interleaved rounds x ${chunk} timed steps (after ${warm} untimed steps per round).`);
  lines.push("");
  lines.push("| implementation | median µs | min µs | engine / this |");
  lines.push("|---|---|---|---|");
  for (const x of res) lines.push(`| ${x.name} | ${x.median.toFixed(1)} | ${x.min.toFixed(1)} | ${(eng / x.median).toFixed(2)} |`);
  lines.push("");
  lines.push(`\`layer.step\`: op path ${res[0]!.median.toFixed(1)} µs -> default ${res[1]!.median.toFixed(1)} µs (${(res[0]!.median / res[1]!.median).toFixed(1)}x faster).`);
  lines.push("");
  if (res.length > 3) {
    const ort1 = res[3]!.median;
    const best = Math.min(...res.slice(3).map((x) => x.median));
    lines.push(
      `Engine / onnxruntime (1 thread) = **${(eng / ort1).toFixed(2)}**; engine / fastest onnxruntime = **${(eng / best).toFixed(2)}** (target <= 0.5). ` +
        `Engine vs op path: ${(res[0]!.median / eng).toFixed(1)}x faster.`,
    );
    lines.push("");
    lines.push(parity);
    lines.push("");
  }
  lines.push(ortNote);
  lines.push("");
  return lines;
}
