/**
 * The weights of the `aura` arm as the deployment paths read them (the fused WASM step engine,
 * `createStepEngine`, and the ONNX export, `exportOnnx`): named live views of the layer's parameters
 * with their dimensions and the encoder column layout, which comes from the model
 * (`SequenceModel.enc`, defined once in src/model/model.ts). The maths of a step has one reference,
 * the model's op composition (src/model/model.ts, what `AuraMemLayer.step` runs on the TS backend or
 * with `fusedStep: false`); tests compare the fused kernel and the ONNX graph against it.
 *
 * ```
 * E = W_enc^T z + b_enc = [kRaw (dKey) | qRaw (dKey) | v (dVal) | hPre (dProj) | betaPre (1)]
 * k = kRaw / max(||kRaw||, 1e-6);  q likewise;  h = tanh(hPre);  beta = sigmoid(betaPre)
 * e = v - (M^T k + m);  surprise = ||e||
 * p = sigmoid(w2 . tanh(W1h^T h + b1 + W1e^T e + W1a^T |e| [+ w1n ||z||]) + b2);  g = 1[p > threshold]
 * M' = M + g beta k e^T;  m' = m + g beta e;  r = M'^T q + m'
 * action = W2^T tanh(W1^T [h, r] + b1) + b2
 * ```
 */
import { ConfigError, ShapeError, checkFinite } from "../errors.js";
import type { MemoryConfig } from "../config.js";
import type { ArmName, MemoryState, SequenceModel } from "../model/model.js";

/**
 * What the deployment paths read of a layer: an `AuraMemLayer` is one (a structural type, so that the
 * layer can run the step engine without an import circle).
 */
export interface AuraLayerView {
  readonly arm: ArmName;
  readonly config: MemoryConfig;
  readonly model: SequenceModel;
}

/** Dimensions of the aura step. */
export interface AuraDims {
  readonly dModel: number;
  readonly dKey: number;
  readonly dVal: number;
  readonly dProj: number;
  readonly dGate: number;
  readonly dHidden: number;
  readonly dAction: number;
  /** Encoder width 2 dKey + dVal + dProj + 1. */
  readonly width: number;
  /** Hard-gate threshold on p. */
  readonly threshold: number;
  /** Write decay alpha in (0, 1] (MemoryConfig.writeDecay). */
  readonly decay: number;
}

/** Column offsets of the fused encoder output (the model's `enc`, from `layoutFor` in src/model/model.ts). */
export interface AuraEncLayout {
  readonly k: number;
  readonly q: number;
  readonly v: number;
  readonly h: number;
  readonly beta: number;
}

/** Live views of an aura layer's parameters (no copies), with their dimensions. */
export interface AuraWeights {
  readonly dims: AuraDims;
  readonly enc: AuraEncLayout;
  /** [dModel, width] */
  readonly encW: Float32Array;
  /** [width] */
  readonly encB: Float32Array;
  /** [dProj, dGate] */
  readonly gateW1h: Float32Array;
  /** [dGate] */
  readonly gateB1: Float32Array;
  /** [dVal, dGate] */
  readonly gateW1e: Float32Array;
  /** [dVal, dGate] */
  readonly gateW1a: Float32Array;
  /** [dGate] weights of the observation norm ||z||_2 in the gate's first layer (MemoryConfig.gateNorm); null without. */
  readonly gateW1n: Float32Array | null;
  /** [dGate] */
  readonly gateW2: Float32Array;
  /** [1] */
  readonly gateB2: Float32Array;
  /** [dProj + dVal, dHidden] */
  readonly hW1: Float32Array;
  /** [dHidden] */
  readonly hB1: Float32Array;
  /** [dHidden, dAction] */
  readonly hW2: Float32Array;
  /** [dAction] */
  readonly hB2: Float32Array;
}

/**
 * The parameters of an `aura` layer as named views, with their layout.
 * @throws ConfigError for another arm; ShapeError if a parameter does not have the expected size.
 */
export function auraWeights(layer: AuraLayerView): AuraWeights {
  if (layer.arm !== "aura") throw new ConfigError(`the fused step engine and the ONNX export support the aura arm only, got "${layer.arm}"`);
  const c = layer.config;
  const P = layer.model.params;
  const get = (name: string, n: number): Float32Array => {
    const p = P[name];
    if (!p) throw new ShapeError(`aura parameter ${name} is missing`);
    if (p.data.length !== n) throw new ShapeError(`aura parameter ${name} has ${p.data.length} values, expected ${n}`);
    return p.data;
  };
  const dHidden = P["head.b1"]?.data.length ?? c.dHidden;
  const L = layer.model.enc;
  const width = L.width;
  const dims: AuraDims = {
    dModel: c.dModel,
    dKey: c.dKey,
    dVal: c.dVal,
    dProj: c.dProj,
    dGate: c.dGate,
    dHidden,
    dAction: c.dAction,
    width,
    threshold: c.gateThreshold,
    decay: c.writeDecay,
  };
  const enc: AuraEncLayout = { k: L.k, q: L.q, v: L.v, h: L.h, beta: L.beta };
  // the fused kernel (assembly/step.ts) and the ONNX graph read E as [k | q | v | h | beta], contiguous
  if (!(enc.k === 0 && enc.q === c.dKey && enc.v === 2 * c.dKey && enc.h === 2 * c.dKey + c.dVal && enc.beta === width - 1 && width === enc.beta + 1)) {
    throw new ConfigError(`internal: encoder column layout ${JSON.stringify(L)} is not the [k | q | v | h | beta] the step kernel and ONNX graph read`);
  }
  return {
    dims,
    enc,
    encW: get("enc.W", c.dModel * width),
    encB: get("enc.b", width),
    gateW1h: get("gate.W1h", c.dProj * c.dGate),
    gateB1: get("gate.b1", c.dGate),
    gateW1e: get("gate.W1e", c.dVal * c.dGate),
    gateW1a: get("gate.W1a", c.dVal * c.dGate),
    gateW1n: c.gateNorm ? get("gate.w1n", c.dGate) : null,
    gateW2: get("gate.w2", c.dGate),
    gateB2: get("gate.b2", 1),
    hW1: get("head.W1", (c.dProj + c.dVal) * dHidden),
    hB1: get("head.b1", dHidden),
    hW2: get("head.W2", dHidden * c.dAction),
    hB2: get("head.b2", c.dAction),
  };
}

/** Output of one fused step for B streams (the same fields as `AuraMemLayer.step`). */
export interface AuraStepResult {
  /** [B*dAction] */
  action: Float32Array;
  /** [B] 0/1 */
  g: Float32Array;
  /** [B] */
  p: Float32Array;
  /** [B] */
  surprise: Float32Array;
  /** The next state (new arrays; the input is not mutated). */
  state: Extract<MemoryState, { kind: "fast-weights" }>;
}

/**
 * Throw a ShapeError unless `state` is a state of the layer's aura arm (any batch), by the model's one
 * validator (`SequenceModel.checkState`, without the finiteness scan: the fused kernel does that).
 */
export function checkAuraState(state: unknown, layer: AuraLayerView): asserts state is Extract<MemoryState, { kind: "fast-weights" }> {
  const s = state as Extract<MemoryState, { kind: "fast-weights" }> | null;
  if (!s || typeof s !== "object" || !Number.isInteger(s.B)) throw new ShapeError("state must be a MemoryState from initState() or step()");
  layer.model.checkState(s, s.B, false);
}

/**
 * Finite input can still overflow float32 inside a step (e.g. |z| ~ 1e19 squared in a dot product):
 * throw a NonFiniteError naming the first non-finite output (action, p, surprise, then the next state
 * M and m). The one check of a step's outputs for the op path (`AuraMemLayer.step`) and the fused
 * engine, so both refuse the same result with the same message.
 */
export function checkFiniteStep(r: { action: Float32Array; p: Float32Array; surprise: Float32Array; state?: MemoryState }): void {
  checkFinite("action (overflow inside the layer: input magnitude too large)", r.action);
  checkFinite("p (overflow inside the layer)", r.p);
  checkFinite("surprise (overflow inside the layer)", r.surprise);
  if (r.state?.kind === "fast-weights") {
    checkFinite("next state M (overflow inside the layer)", r.state.M);
    checkFinite("next state m (overflow inside the layer)", r.state.m);
  }
}
