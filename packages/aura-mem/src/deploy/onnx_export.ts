/**
 * Export one batch-1 control step of the `aura` arm as a self-contained ONNX graph (docs/onnx.md):
 *
 *   inputs   z [1, dModel], M [1, dKey, dVal], m [1, dVal]
 *   outputs  action [1, dAction], g [1], p [1], surprise [1], M_next [1, dKey, dVal], m_next [1, dVal]
 *
 * with every weight as an initializer and only standard ONNX operators of the default domain at
 * opset 17 (IR version 8). The maths is the model's op composition (src/model/model.ts; weights via src/deploy/weights.ts); the
 * caller feeds M_next / m_next back as the next step's M / m.
 *
 * The protobuf is written with the generated protobufjs module of the official onnx.proto that the
 * `onnx-proto` package ships (loaded on first use; see {@link loadOnnxProto}).
 */
import { writeFileAtomic } from "../io/safetensors.js";
import { ConfigError, FormatError } from "../errors.js";
import type { AuraMemLayer } from "../layer.js";
import { auraWeights, type AuraWeights } from "./weights.js";

/** Opset of the default ONNX domain the graph uses. */
export const ONNX_OPSET = 17;
/** ONNX IR version matching opset 17 (ONNX 1.12+; readers from 1.10 accept it). */
export const ONNX_IR_VERSION = 8;

/** Every operator type the exported graph uses (all in the default domain, opset 17). */
export const ONNX_OPS_USED = [
  "MatMul",
  "Add",
  "Sub",
  "Mul",
  "Split",
  "ReduceSumSquare",
  "Sqrt",
  "Max",
  "Div",
  "Tanh",
  "Sigmoid",
  "Abs",
  "Concat",
  "Reshape",
  "Greater",
  "Cast",
] as const;

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** ModelProto.producer_name (default "aura-mem"). */
  producerName?: string;
  /** ModelProto.doc_string. */
  docString?: string;
}

// ONNX TensorProto.DataType
const FLOAT = 1;
const INT64 = 7;

// AttributeProto.AttributeType
const ATTR_INT = 2;
const ATTR_INTS = 7;

type OnnxNs = typeof import("onnx-proto").onnx;

let cached: OnnxNs | null = null;

/**
 * The `onnx` namespace of the onnx-proto package (protobufjs static code generated from the official
 * onnx.proto), an optional peer dependency of the library. Module-private so that the published type
 * declarations do not name the optional package. @throws ConfigError when the package is not installed.
 */
async function loadOnnxProto(): Promise<OnnxNs> {
  if (cached) return cached;
  let mod: unknown;
  try {
    mod = await import("onnx-proto");
  } catch (err) {
    throw new ConfigError(`ONNX export needs the package "onnx-proto" (npm install onnx-proto): ${(err as Error).message}`);
  }
  const m = mod as { onnx?: OnnxNs; default?: { onnx?: OnnxNs } };
  const ns = m.onnx ?? m.default?.onnx;
  if (!ns || typeof ns.ModelProto?.encode !== "function") throw new ConfigError('the "onnx-proto" package does not export onnx.ModelProto');
  cached = ns;
  return ns;
}

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: { name: string; i?: number; ints?: number[] }[];
}

interface TensorSpec {
  name: string;
  dims: number[];
  dataType: number;
  raw: Uint8Array;
}

function f32Tensor(name: string, dims: number[], data: Float32Array): TensorSpec {
  const copy = new Float32Array(data); // own buffer, little-endian on every platform Node runs on
  return { name, dims, dataType: FLOAT, raw: new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength) };
}
function i64Tensor(name: string, values: number[]): TensorSpec {
  const a = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], dataType: INT64, raw: new Uint8Array(a.buffer) };
}

/** The graph as plain node / initializer lists (shared by the encoder and the tests). */
export function auraStepGraph(w: AuraWeights): {
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: { name: string; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
} {
  const d = w.dims;
  const { dModel, dKey, dVal, dProj, dGate, dHidden, dAction, width } = d;
  const nodes: NodeSpec[] = [];
  const n = (op: string, inputs: string[], outputs: string[], attrs?: NodeSpec["attrs"]): void => {
    nodes.push({ op, inputs, outputs, attrs });
  };
  // Gate first layer on [h, e, |e|] (and ||z||, MemoryConfig.gateNorm) as one matrix [dIn, dGate].
  const dIn = dProj + 2 * dVal + (w.gateW1n ? 1 : 0);
  const gateW1 = new Float32Array(dIn * dGate);
  gateW1.set(w.gateW1h, 0);
  gateW1.set(w.gateW1e, dProj * dGate);
  gateW1.set(w.gateW1a, (dProj + dVal) * dGate);
  if (w.gateW1n) gateW1.set(w.gateW1n, (dProj + 2 * dVal) * dGate);
  const initializers: TensorSpec[] = [
    f32Tensor("enc.W", [dModel, width], w.encW),
    f32Tensor("enc.b", [width], w.encB),
    f32Tensor("gate.W1", [dIn, dGate], gateW1),
    f32Tensor("gate.b1", [dGate], w.gateB1),
    f32Tensor("gate.w2", [dGate, 1], w.gateW2),
    f32Tensor("gate.b2", [1], w.gateB2),
    f32Tensor("head.W1", [dProj + dVal, dHidden], w.hW1),
    f32Tensor("head.b1", [dHidden], w.hB1),
    f32Tensor("head.W2", [dHidden, dAction], w.hW2),
    f32Tensor("head.b2", [dAction], w.hB2),
    f32Tensor("c.eps", [], new Float32Array([1e-6])),
    f32Tensor("c.threshold", [], new Float32Array([d.threshold])),
    f32Tensor("c.one", [], new Float32Array([1])),
    f32Tensor("c.forget", [], new Float32Array([1 - d.decay])),
    i64Tensor("c.split", [dKey, dKey, dVal, dProj, 1]),
    i64Tensor("c.shape_row_k", [1, 1, dKey]),
    i64Tensor("c.shape_col_k", [1, dKey, 1]),
    i64Tensor("c.shape_row_v", [1, dVal]),
    i64Tensor("c.shape_3d_v", [1, 1, dVal]),
    i64Tensor("c.shape_1", [1]),
  ];

  // encoder: one fused dense, then the columns
  n("MatMul", ["z", "enc.W"], ["enc_mm"]);
  n("Add", ["enc_mm", "enc.b"], ["enc_out"]);
  n("Split", ["enc_out", "c.split"], ["k_raw", "q_raw", "v", "h_pre", "beta_pre"], [{ name: "axis", i: 1 }]);
  for (const x of ["k", "q"]) {
    n("ReduceSumSquare", [`${x}_raw`], [`${x}_ss`], [{ name: "axes", ints: [1] }, { name: "keepdims", i: 1 }]);
    n("Sqrt", [`${x}_ss`], [`${x}_norm`]);
    n("Max", [`${x}_norm`, "c.eps"], [`${x}_den`]);
    n("Div", [`${x}_raw`, `${x}_den`], [x]);
  }
  n("Tanh", ["h_pre"], ["h"]);
  n("Sigmoid", ["beta_pre"], ["beta2"]);
  n("Reshape", ["beta2", "c.shape_1"], ["beta"]);

  // surprise against the pre-write state: e = v - (k M + m)
  n("Reshape", ["k", "c.shape_row_k"], ["k_row"]);
  n("MatMul", ["k_row", "M"], ["vhat_mm"]);
  n("Reshape", ["vhat_mm", "c.shape_row_v"], ["vhat_mv"]);
  n("Add", ["vhat_mv", "m"], ["vhat"]);
  n("Sub", ["v", "vhat"], ["e"]);
  n("ReduceSumSquare", ["e"], ["e_ss"], [{ name: "axes", ints: [1] }, { name: "keepdims", i: 0 }]);
  n("Sqrt", ["e_ss"], ["surprise"]);

  // write gate
  n("Abs", ["e"], ["e_abs"]);
  if (w.gateW1n) {
    n("ReduceSumSquare", ["z"], ["z_ss"], [{ name: "axes", ints: [1] }, { name: "keepdims", i: 1 }]);
    n("Sqrt", ["z_ss"], ["z_norm"]);
    n("Concat", ["h", "e", "e_abs", "z_norm"], ["gate_in"], [{ name: "axis", i: 1 }]);
  } else {
    n("Concat", ["h", "e", "e_abs"], ["gate_in"], [{ name: "axis", i: 1 }]);
  }
  n("MatMul", ["gate_in", "gate.W1"], ["gate_mm"]);
  n("Add", ["gate_mm", "gate.b1"], ["gate_pre"]);
  n("Tanh", ["gate_pre"], ["gate_a"]);
  n("MatMul", ["gate_a", "gate.w2"], ["logit_mm"]);
  n("Add", ["logit_mm", "gate.b2"], ["logit"]);
  n("Sigmoid", ["logit"], ["p2"]);
  n("Reshape", ["p2", "c.shape_1"], ["p"]);
  n("Greater", ["p", "c.threshold"], ["g_bool"]);
  n("Cast", ["g_bool"], ["g"], [{ name: "to", i: FLOAT }]);

  // write decay where the gate writes, a = 1 - g (1 - alpha), then the gated delta-rule write:
  // M' = a M + (g beta) k e^T, m' = a m + (g beta) e
  n("Mul", ["g", "c.forget"], ["g_forget"]);
  n("Sub", ["c.one", "g_forget"], ["keep"]);
  n("Mul", ["M", "keep"], ["M_kept"]);
  n("Mul", ["m", "keep"], ["m_kept"]);
  n("Mul", ["g", "beta"], ["w"]);
  n("Mul", ["e", "w"], ["we"]);
  n("Reshape", ["k", "c.shape_col_k"], ["k_col"]);
  n("Reshape", ["we", "c.shape_3d_v"], ["we_row"]);
  n("Mul", ["k_col", "we_row"], ["outer"]);
  n("Add", ["M_kept", "outer"], ["M_next"]);
  n("Add", ["m_kept", "we"], ["m_next"]);

  // read-out from the post-write state
  n("Reshape", ["q", "c.shape_row_k"], ["q_row"]);
  n("MatMul", ["q_row", "M_next"], ["r_mm"]);
  n("Reshape", ["r_mm", "c.shape_row_v"], ["r_mv"]);
  n("Add", ["r_mv", "m_next"], ["r"]);

  // action head
  n("Concat", ["h", "r"], ["head_in"], [{ name: "axis", i: 1 }]);
  n("MatMul", ["head_in", "head.W1"], ["head_mm1"]);
  n("Add", ["head_mm1", "head.b1"], ["head_pre"]);
  n("Tanh", ["head_pre"], ["head_a"]);
  n("MatMul", ["head_a", "head.W2"], ["head_mm2"]);
  n("Add", ["head_mm2", "head.b2"], ["action"]);

  return {
    nodes,
    initializers,
    inputs: [
      { name: "z", dims: [1, dModel] },
      { name: "M", dims: [1, dKey, dVal] },
      { name: "m", dims: [1, dVal] },
    ],
    outputs: [
      { name: "action", dims: [1, dAction] },
      { name: "g", dims: [1] },
      { name: "p", dims: [1] },
      { name: "surprise", dims: [1] },
      { name: "M_next", dims: [1, dKey, dVal] },
      { name: "m_next", dims: [1, dVal] },
    ],
  };
}

/**
 * Serialise the aura step of `layer` as an ONNX model (bytes of a ModelProto).
 * @throws ConfigError for an arm other than aura, or when onnx-proto is unavailable.
 */
export async function exportOnnx(layer: AuraMemLayer, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  const w = auraWeights(layer);
  const onnx = await loadOnnxProto();
  const gr = auraStepGraph(w);
  const vi = (x: { name: string; dims: number[] }) => ({
    name: x.name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: x.dims.map((v) => ({ dimValue: v })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: opts.producerName ?? "aura-mem",
    docString:
      opts.docString ??
      `AURA batch-1 control step (aura-mem): z [1,${w.dims.dModel}], state M [1,${w.dims.dKey},${w.dims.dVal}], m [1,${w.dims.dVal}] -> action, g, p, surprise, M_next, m_next`,
    metadataProps: [
      { key: "aura.config", value: JSON.stringify(layer.config.toJSON()) },
      { key: "aura.dHidden", value: String(w.dims.dHidden) },
    ],
    graph: {
      name: "aura_step",
      node: gr.nodes.map((nd, i) => ({
        name: `${nd.op}_${i}`,
        opType: nd.op,
        domain: "",
        input: nd.inputs,
        output: nd.outputs,
        attribute: (nd.attrs ?? []).map((a) =>
          a.ints !== undefined ? { name: a.name, type: ATTR_INTS, ints: a.ints } : { name: a.name, type: ATTR_INT, i: a.i! },
        ),
      })),
      initializer: gr.initializers.map((t) => ({ name: t.name, dims: t.dims, dataType: t.dataType, rawData: t.raw })),
      input: gr.inputs.map(vi),
      output: gr.outputs.map(vi),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Export and write `path` atomically (temporary file + rename). Returns the bytes written. */
export async function writeOnnx(layer: AuraMemLayer, path: string, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  const bytes = await exportOnnx(layer, opts);
  await writeFileAtomic(path, bytes);
  return bytes;
}

/** Decode exported bytes back into a plain object (for inspection and tests). */
export async function decodeOnnx(bytes: Uint8Array): Promise<{ opset: number; irVersion: number; ops: string[]; inputs: string[]; outputs: string[]; initializers: string[] }> {
  const onnx = await loadOnnxProto();
  let m: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new FormatError(`not an ONNX model: ${(err as Error).message}`);
  }
  const g = m.graph;
  if (!g) throw new FormatError("the ONNX model has no graph");
  return {
    opset: Number(m.opsetImport[0]?.version ?? 0),
    irVersion: Number(m.irVersion),
    ops: [...new Set((g.node ?? []).map((x) => x.opType ?? ""))],
    inputs: (g.input ?? []).map((x) => x.name ?? ""),
    outputs: (g.output ?? []).map((x) => x.name ?? ""),
    initializers: (g.initializer ?? []).map((x) => x.name ?? ""),
  };
}
