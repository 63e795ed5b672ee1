/**
 * Plain TypeScript reference of ONE batch-1 control step of the `aura` arm (docs/method.md), written
 * as readable loops with float64 accumulation; every intermediate is rounded to float32 where the
 * layer stores it. The fused WASM step kernel (assembly/step.ts, driven by `createStepEngine`) and the
 * ONNX graph (`exportOnnx`) compute exactly this; tests compare all three with `AuraMemLayer.step`.
 *
 * ```
 * E = W_enc^T z + b_enc = [kRaw (dKey) | qRaw (dKey) | v (dVal) | hPre (dProj) | betaPre (1)]
 * k = kRaw / max(||kRaw||, 1e-6);  q likewise;  h = tanh(hPre);  beta = sigmoid(betaPre)
 * e = v - (M^T k + m);  surprise = ||e||
 * p = sigmoid(w2 . tanh(W1h^T h + b1 + W1e^T e + W1a^T |e|) + b2);  g = 1[p > threshold]
 * M' = M + g beta k e^T;  m' = m + g beta e;  r = M'^T q + m'
 * action = W2^T tanh(W1^T [h, r] + b1) + b2
 * ```
 *
 * The helpers here also pin down where every weight lives ({@link auraWeights}): the encoder column
 * layout of `src/model/model.ts` (k, q, v, proj, beta) checked against the parameter shapes.
 */
import { ConfigError, ShapeError } from "../errors.js";
import type { AuraMemLayer } from "../layer.js";
import type { MemoryState } from "../model/model.js";

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
}

/** Column offsets of the fused encoder output (the layout of `layoutFor("delta")` in src/model/model.ts). */
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
  readonly gW1h: Float32Array;
  /** [dGate] */
  readonly gB1: Float32Array;
  /** [dVal, dGate] */
  readonly gW1e: Float32Array;
  /** [dVal, dGate] */
  readonly gW1a: Float32Array;
  /** [dGate] */
  readonly gW2: Float32Array;
  /** [1] */
  readonly gB2: Float32Array;
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
export function auraWeights(layer: AuraMemLayer): AuraWeights {
  if (layer.arm !== "aura") throw new ConfigError(`the batch-1 step engine and the ONNX export support the aura arm only, got "${layer.arm}"`);
  const c = layer.config;
  const P = layer.model.params;
  const get = (name: string, n: number): Float32Array => {
    const p = P[name];
    if (!p) throw new ShapeError(`aura parameter ${name} is missing`);
    if (p.data.length !== n) throw new ShapeError(`aura parameter ${name} has ${p.data.length} values, expected ${n}`);
    return p.data;
  };
  const dHidden = P["head.b1"]?.data.length ?? c.dHidden;
  const width = 2 * c.dKey + c.dVal + c.dProj + 1;
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
  };
  const enc: AuraEncLayout = { k: 0, q: c.dKey, v: 2 * c.dKey, h: 2 * c.dKey + c.dVal, beta: 2 * c.dKey + c.dVal + c.dProj };
  return {
    dims,
    enc,
    encW: get("enc.W", c.dModel * width),
    encB: get("enc.b", width),
    gW1h: get("gate.W1h", c.dProj * c.dGate),
    gB1: get("gate.b1", c.dGate),
    gW1e: get("gate.W1e", c.dVal * c.dGate),
    gW1a: get("gate.W1a", c.dVal * c.dGate),
    gW2: get("gate.w2", c.dGate),
    gB2: get("gate.b2", 1),
    hW1: get("head.W1", (c.dProj + c.dVal) * dHidden),
    hB1: get("head.b1", dHidden),
    hW2: get("head.W2", dHidden * c.dAction),
    hB2: get("head.b2", c.dAction),
  };
}

/** Output of one batch-1 step (the same fields as `AuraMemLayer.step`). */
export interface AuraStepResult {
  /** [dAction] */
  action: Float32Array;
  /** [1] 0/1 */
  g: Float32Array;
  /** [1] */
  p: Float32Array;
  /** [1] */
  surprise: Float32Array;
  /** The next state (new arrays; the input is not mutated). */
  state: Extract<MemoryState, { kind: "fast-weights" }>;
}

/** Throw a ShapeError unless `state` is a batch-1 fast-weight state of these dimensions. */
export function checkAuraState(state: unknown, d: AuraDims): asserts state is Extract<MemoryState, { kind: "fast-weights" }> {
  const s = state as Extract<MemoryState, { kind: "fast-weights" }> | null;
  if (!s || typeof s !== "object" || !Number.isInteger(s.B)) throw new ShapeError("state must be a MemoryState from initState() or step()");
  if (s.B !== 1) throw new ShapeError(`the batch-1 step engine takes a state of batch 1, got batch ${s.B}`);
  if (s.kind !== "fast-weights") throw new ShapeError(`state kind ${String(s.kind)} does not match arm aura (fast-weights)`);
  if (!(s.M instanceof Float32Array) || s.M.length !== d.dKey * d.dVal) {
    throw new ShapeError(`state.M must be a Float32Array of dKey*dVal = ${d.dKey * d.dVal} values`);
  }
  if (!(s.m instanceof Float32Array) || s.m.length !== d.dVal) throw new ShapeError(`state.m must be a Float32Array of dVal = ${d.dVal} values`);
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
const f = Math.fround;

/**
 * One step of the aura arm at batch 1, in plain TypeScript (float64 sums, float32 storage).
 * Does not validate `zt` beyond its length (callers check finiteness).
 */
export function auraStepReference(w: AuraWeights, zt: Float32Array, state: Extract<MemoryState, { kind: "fast-weights" }>): AuraStepResult {
  const d = w.dims;
  const L = w.enc;
  if (!(zt instanceof Float32Array) || zt.length !== d.dModel) throw new ShapeError(`zt must be a Float32Array of dModel = ${d.dModel} values`);
  checkAuraState(state, d);
  const { dModel, dKey, dVal, dProj, dGate, dHidden, width } = d;
  const nA = d.dAction;

  // encoder
  const E = new Float32Array(width);
  for (let n = 0; n < width; n++) {
    let s = w.encB[n]!;
    for (let i = 0; i < dModel; i++) s += zt[i]! * w.encW[i * width + n]!;
    E[n] = s;
  }
  const l2 = (off: number): Float32Array => {
    let ss = 0;
    for (let i = 0; i < dKey; i++) ss += E[off + i]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-6);
    const y = new Float32Array(dKey);
    for (let i = 0; i < dKey; i++) y[i] = E[off + i]! * inv;
    return y;
  };
  const k = l2(L.k);
  const q = l2(L.q);
  const h = new Float32Array(dProj);
  for (let i = 0; i < dProj; i++) h[i] = Math.tanh(E[L.h + i]!);
  const beta = f(sigmoid(E[L.beta]!));

  // surprise against the pre-write state
  const M = new Float64Array(state.M);
  const m = new Float64Array(state.m);
  const e = new Float64Array(dVal);
  let ss = 0;
  for (let j = 0; j < dVal; j++) {
    let vhat = m[j]!;
    for (let i = 0; i < dKey; i++) vhat += M[i * dVal + j]! * k[i]!;
    e[j] = E[L.v + j]! - vhat;
    ss += e[j]! * e[j]!;
  }
  const surprise = Math.sqrt(ss);

  // gate MLP on [h, e, |e|]
  let logit = w.gB2[0]!;
  for (let u = 0; u < dGate; u++) {
    let pre = w.gB1[u]!;
    for (let i = 0; i < dProj; i++) pre += h[i]! * w.gW1h[i * dGate + u]!;
    pre = f(pre); // the layer stores W1h h + b1 as float32 before the delta-rule op adds the rest
    for (let j = 0; j < dVal; j++) pre += e[j]! * w.gW1e[j * dGate + u]! + Math.abs(e[j]!) * w.gW1a[j * dGate + u]!;
    logit += Math.tanh(pre) * w.gW2[u]!;
  }
  const p = sigmoid(logit);
  const g = f(p) > d.threshold ? 1 : 0;

  // gated delta-rule write, then the read-out
  const wgt = g * beta;
  if (wgt !== 0) {
    for (let i = 0; i < dKey; i++) for (let j = 0; j < dVal; j++) M[i * dVal + j] += wgt * k[i]! * e[j]!;
    for (let j = 0; j < dVal; j++) m[j] += wgt * e[j]!;
  }
  const Mn = Float32Array.from(M);
  const mn = Float32Array.from(m);
  const r = new Float32Array(dVal);
  for (let j = 0; j < dVal; j++) {
    let s = m[j]!;
    for (let i = 0; i < dKey; i++) s += M[i * dVal + j]! * q[i]!;
    r[j] = s;
  }

  // head MLP on [h, r]
  const a1 = new Float32Array(dHidden);
  for (let u = 0; u < dHidden; u++) {
    let s = w.hB1[u]!;
    for (let i = 0; i < dProj; i++) s += h[i]! * w.hW1[i * dHidden + u]!;
    for (let j = 0; j < dVal; j++) s += r[j]! * w.hW1[(dProj + j) * dHidden + u]!;
    a1[u] = Math.tanh(s);
  }
  const action = new Float32Array(nA);
  for (let o = 0; o < nA; o++) {
    let s = w.hB2[o]!;
    for (let u = 0; u < dHidden; u++) s += a1[u]! * w.hW2[u * nA + o]!;
    action[o] = s;
  }
  return {
    action,
    g: new Float32Array([g]),
    p: new Float32Array([p]),
    surprise: new Float32Array([surprise]),
    state: { kind: "fast-weights", B: 1, t: state.t + 1, M: Mn, m: mn },
  };
}
