/**
 * `SequenceModel`: one arm of the benchmark = encoder -> memory core -> action head, with a
 * hand-written backward pass (BPTT through the core) on top of the op kernels.
 *
 *   z_t [dModel]  --enc (one fused dense)-->  k, q, v, beta, proj(z) = h  (columns depend on the core)
 *   core:  delta  (aura, always-write, random, periodic, recon-gate): gated delta rule, readout r_t [dVal]
 *          rnn    (gru, lstm): r_t = h^rnn_t [H]
 *          attention (kv-cache, kv-window): r_t = softmax attention over past (k, v) [dVal]
 *          none   (no-memory): r_t empty
 *   head:  action_t = W2 tanh(W1 [h_t, r_t] + b1) + b2   (logits for discrete actions)
 *
 * Maths of the AURA arm (our reconstruction of arXiv 2606.02775, see docs/method.md):
 *   k = l2norm(Wk z), q = l2norm(Wq z), v = Wv z, beta = sigmoid(w_beta . z + b), h = tanh(Wp z + bp)
 *   e = v - (M^T k + m); p = sigmoid(gateMLP([h, e, |e|])); g = 1[p > 0.5] (straight-through in training)
 *   M += g beta k e^T; m += g beta e; r = M^T q + m; action = head([h, r]).
 * State goes in and comes out explicitly ({@link MemoryState}); the model holds parameters only.
 */
import type { MemoryConfig } from "../config.js";
import { ConfigError, ShapeError, checkF32, checkFinite } from "../errors.js";
import type { Ops } from "../ops/index.js";
import type { DeltaRuleOutput, DeltaRuleInputs, GateSpec } from "../ops/delta_rule/index.js";
import type { RnnInputs, RnnOutput } from "../ops/rnn/index.js";
import { gateCount } from "../ops/rnn/index.js";
import type { AttentionInputs, AttentionOutput, KvCache } from "../ops/attention/index.js";
import { checkKvCache, emptyKvCache, kvCacheBytes } from "../ops/attention/index.js";
import { Rng } from "../util/rng.js";
import { constant, countParams, glorot, markWritten, type GradSet, type ParamSet } from "./params.js";
import { siblingKernels, type WasmKernels } from "../wasm/runtime.js";
import { scheduleBatch } from "./schedule.js";

/** Every arm of the benchmark (docs/benchmarks.md). */
export const ARMS = [
  "aura",
  "always-write",
  "random",
  "periodic",
  "recon-gate",
  "gru",
  "lstm",
  "kv-cache",
  "kv-window",
  "no-memory",
] as const;
export type ArmName = (typeof ARMS)[number];

/** The memory core an arm uses. */
export type CoreKind = "delta" | "rnn" | "attention" | "none";

/** Core of an arm. */
export function coreOf(arm: ArmName): CoreKind {
  switch (arm) {
    case "aura":
    case "always-write":
    case "random":
    case "periodic":
    case "recon-gate":
      return "delta";
    case "gru":
    case "lstm":
      return "rnn";
    case "kv-cache":
    case "kv-window":
      return "attention";
    case "no-memory":
      return "none";
  }
}

/** Whether `s` names an arm. */
export function isArm(s: string): s is ArmName {
  return (ARMS as readonly string[]).includes(s);
}

/** Arm-specific knobs on top of the shared {@link MemoryConfig}. */
export interface ArmSpec {
  readonly arm: ArmName;
  readonly config: MemoryConfig;
  /** Hidden width H of gru / lstm. */
  readonly rnnHidden: number;
  /** Window W of kv-window (entries kept). */
  readonly window: number;
  /** Writes per step of the random / periodic schedules (budget-matched to AURA). */
  readonly writeRate: number;
  /** Threshold on the surprise norm ||e|| for recon-gate (write iff ||e|| > tau). */
  readonly tau: number;
}

/** Memory state of one arm for a batch of B streams. Immutable: step() returns a new one. */
export type MemoryState =
  | { readonly kind: "fast-weights"; readonly B: number; readonly t: number; readonly M: Float32Array; readonly m: Float32Array }
  | { readonly kind: "rnn"; readonly B: number; readonly t: number; readonly h: Float32Array; readonly c?: Float32Array }
  | { readonly kind: "kv"; readonly B: number; readonly t: number; readonly cache: KvCache }
  | { readonly kind: "none"; readonly B: number; readonly t: number };

/** Options of {@link SequenceModel.forward}. */
export interface ForwardOptions {
  /** "hard": g = 1[p > threshold] (inference, straight-through in training); "soft": g = p (warm-up). Default "hard". */
  gateMode?: "hard" | "soft";
  /**
   * Learned gate only: per-step thresholds u [B*T] in [0, 1] of the hard gate, g = [p > u_t] (training
   * draws u ~ U(0, 1): the stochastic straight-through gate, g ~ Bernoulli(p)). Default: the config's
   * gateThreshold at every step.
   */
  gateThresholds?: Float32Array;
  /** Replace the write decisions of a delta-rule arm by a fixed g [B*T] (budget-matched swap evaluation). */
  gateOverride?: Float32Array;
  /** Per-row phase seeds [B] of the random / periodic schedules (default config.seed + row). */
  scheduleSeeds?: ArrayLike<number>;
  /** Start from this state (default: zeros / empty). Its `t` offsets the schedules. */
  initialState?: MemoryState;
  /** Keep what backward() needs. Default false. */
  training?: boolean;
  /** Validate z (shape, finiteness). Default true; the trainer turns it off for its own batches. */
  validate?: boolean;
}

/** What the forward pass returns. Arrays are row-major [B, T, ...]. */
export interface ForwardResult {
  readonly B: number;
  readonly T: number;
  /** Actions (continuous) or logits (discrete) [B*T*dAction]. */
  readonly out: Float32Array;
  /** Write decisions [B*T] (0/1 at inference; 1 every step for dense arms; 0 for no-memory). */
  readonly g: Float32Array;
  /** Write probabilities [B*T] (= g for arms without a learned gate). */
  readonly p: Float32Array;
  /** Surprise ||e_t||_2 (inner prediction error) [B*T] for delta-rule arms, zeros otherwise. */
  readonly surprise: Float32Array;
  readonly finalState: MemoryState;
  /** Saved tensors for backward (training only). */
  readonly tape?: Tape;
}

interface Tape {
  z: Float32Array;
  E: Float32Array; // encoder output [BT, nEnc]
  h: Float32Array; // tanh(proj) [BT, dProj]
  headIn: Float32Array; // [BT, dProj + dR]
  a1: Float32Array; // tanh(head hidden) [BT, dHidden]
  a1pre: Float32Array; // head hidden pre-activation [BT, dHidden]
  // delta core
  kRaw?: Float32Array;
  qRaw?: Float32Array;
  k?: Float32Array;
  q?: Float32Array;
  beta?: Float32Array;
  deltaIn?: DeltaRuleInputs;
  deltaOut?: DeltaRuleOutput;
  /** ||z_t||_2 [BT], the gate's observation-norm input (MemoryConfig.gateNorm); absent without it. */
  zNorm?: Float32Array;
  // rnn core
  rnnIn?: RnnInputs;
  rnnOut?: RnnOutput;
  // attention core
  attIn?: AttentionInputs;
  attOut?: AttentionOutput;
}

/** Column layout of the fused encoder for a core. */
/** Column offsets of the fused encoder output E = z W_enc + b_enc (-1 where the arm has no such part). */
export interface EncLayout {
  k: number; // offset or -1
  q: number;
  v: number;
  h: number;
  beta: number;
  xg: number;
  width: number;
}

/**
 * One arm: parameters plus the forward / backward / streaming-step maths. Stateless apart from its
 * parameters (which the optimiser updates in place).
 */
export class SequenceModel {
  readonly spec: ArmSpec;
  readonly core: CoreKind;
  /**
   * The parameters, updated in place by the optimiser. Whoever writes values here marks them written
   * ({@link paramsChanged}; the library's writers do: Adam, assignParams, checkpoint loading), so that
   * copies such as the fused step engine's resident weights are re-made.
   */
  readonly params: ParamSet;
  /** Width of the core's readout r_t (0 for no-memory). */
  readonly dR: number;
  /** The encoder column layout (the one place it is defined: `layoutFor`); deploy code reads it. */
  readonly enc: EncLayout;
  private tauValue: number;

  constructor(spec: ArmSpec, private ops: Ops) {
    validateSpec(spec);
    this.spec = spec;
    this.core = coreOf(spec.arm);
    const c = spec.config;
    this.dR = this.core === "delta" || this.core === "attention" ? c.dVal : this.core === "rnn" ? spec.rnnHidden : 0;
    this.enc = layoutFor(this.core, spec);
    this.params = initParams(spec, this.core, this.enc, this.dR);
    this.tauValue = spec.tau;
  }

  /**
   * The write decay this arm's fast-weight memory runs with: the config's writeDecay for the gated
   * arms (aura, random, periodic, recon-gate), 1 for always-write (the ungated delta rule: a decay at
   * every step would be another baseline) and for the arms without a fast-weight memory.
   */
  get writeDecay(): number {
    return this.core === "delta" && this.spec.arm !== "always-write" ? this.spec.config.writeDecay : 1;
  }

  /** Current recon-gate threshold on ||e|| (calibrated to the write budget during training). */
  get tau(): number {
    return this.tauValue;
  }

  /** Set the recon-gate threshold. @throws ConfigError unless finite and >= 0. */
  setTau(tau: number): void {
    if (!(Number.isFinite(tau) && tau >= 0)) throw new ConfigError(`tau must be finite and >= 0, got ${tau}`);
    this.tauValue = tau;
  }

  /** The ops backend in use. */
  get backend(): Ops["backend"] {
    return this.ops.backend;
  }

  /**
   * Record that parameter values were written in place outside the library's writers (e.g.
   * `model.params["gate.b2"].data[0] = 3`): copies of the parameters (the fused step engine behind
   * `AuraMemLayer.step`) see the new write version and re-make themselves before their next use.
   */
  paramsChanged(): void {
    markWritten(this.params);
  }

  /**
   * A new kernel instance (its own linear memory) of the module the WASM ops run on, for a user that
   * owns its heap (the layer's fused step engine); null on the TypeScript backend.
   */
  siblingKernels(): WasmKernels | null {
    return this.ops.kernels ? siblingKernels(this.ops.kernels) : null;
  }

  /** Swap the op backend (e.g. TS reference vs WASM) without touching parameters. */
  withOps(ops: Ops): SequenceModel {
    const m = new SequenceModel({ ...this.spec, tau: this.tauValue }, ops);
    for (const k of Object.keys(this.params)) m.params[k]!.data.set(this.params[k]!.data);
    return m;
  }

  /**
   * The same model with another write decay alpha (MemoryConfig.writeDecay), sharing this model's
   * parameter arrays: training the view trains this model (train()'s `trainWriteDecay`). The view's
   * recon-gate threshold starts at this model's.
   * @throws ConfigError unless alpha is in (0, 1].
   */
  withWriteDecay(alpha: number): SequenceModel {
    return this.view({ writeDecay: alpha });
  }

  /**
   * The same model with another write threshold on p (MemoryConfig.gateThreshold), sharing this model's
   * parameter arrays (train()'s `trainGateThreshold`: trained at one threshold, deployed at another).
   * @throws ConfigError unless the threshold is in [0, 1].
   */
  withGateThreshold(threshold: number): SequenceModel {
    return this.view({ gateThreshold: threshold });
  }

  private view(patch: { writeDecay?: number; gateThreshold?: number }): SequenceModel {
    const m = new SequenceModel({ ...this.spec, config: this.spec.config.with(patch), tau: this.tauValue }, this.ops);
    for (const k of Object.keys(this.params)) m.params[k] = this.params[k]!;
    return m;
  }

  /** Number of scalar parameters. */
  paramCount(): number {
    return countParams(this.params);
  }

  /** Zero state for B streams. */
  initState(B: number): MemoryState {
    if (!Number.isInteger(B) || B < 1) throw new ShapeError(`batch must be a positive integer, got ${B}`);
    const c = this.spec.config;
    switch (this.core) {
      case "delta":
        return { kind: "fast-weights", B, t: 0, M: new Float32Array(B * c.dKey * c.dVal), m: new Float32Array(B * c.dVal) };
      case "rnn": {
        const H = this.spec.rnnHidden;
        return this.spec.arm === "lstm"
          ? { kind: "rnn", B, t: 0, h: new Float32Array(B * H), c: new Float32Array(B * H) }
          : { kind: "rnn", B, t: 0, h: new Float32Array(B * H) };
      }
      case "attention":
        return { kind: "kv", B, t: 0, cache: emptyKvCache(B, c.dKey, c.dVal) };
      case "none":
        return { kind: "none", B, t: 0 };
    }
  }

  /**
   * Bytes of memory state this arm carries for `batch` streams after `horizon` steps (fp32):
   * delta: (dKey*dVal + dVal)*4*B (4,224 at 32x32, B=1, any horizon); gru: H*4*B; lstm: 2H*4*B;
   * kv-cache: horizon*(dKey+dVal)*4*B; kv-window: min(horizon, W)*(dKey+dVal)*4*B; no-memory: 0.
   */
  memoryBytes(batch: number, horizon = 0): number {
    const c = this.spec.config;
    switch (this.core) {
      case "delta":
        return (c.dKey * c.dVal + c.dVal) * batch * 4;
      case "rnn":
        return (this.spec.arm === "lstm" ? 2 : 1) * this.spec.rnnHidden * batch * 4;
      case "attention": {
        const n = this.spec.arm === "kv-window" ? Math.min(horizon, this.spec.window) : horizon;
        return n * (c.dKey + c.dVal) * 4 * batch;
      }
      case "none":
        return 0;
    }
  }

  /** Bytes actually held by a state's tensors (live KV entries for the attention arms). */
  stateBytes(state: MemoryState): number {
    switch (state.kind) {
      case "fast-weights":
        return state.M.byteLength + state.m.byteLength;
      case "rnn":
        return state.h.byteLength + (state.c ? state.c.byteLength : 0);
      case "kv":
        return kvCacheBytes(state.cache);
      case "none":
        return 0;
    }
  }

  /**
   * Run the arm over a batch of sequences.
   * @param z Float32Array [B*T*dModel] row-major backbone features.
   * @throws ShapeError if z.length != B*T*dModel or the state does not match; NonFiniteError on NaN/Inf.
   */
  forward(z: Float32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardResult {
    const c = this.spec.config;
    const { dModel } = c;
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1) {
      throw new ShapeError(`B and T must be positive integers, got B=${B}, T=${T}`);
    }
    if (!(z instanceof Float32Array)) throw new ShapeError(`z must be a Float32Array [B*T*dModel]`);
    if (z.length !== B * T * dModel) {
      throw new ShapeError(`z must have B*T*dModel = ${B}*${T}*${dModel} = ${B * T * dModel} values, got ${z.length}`);
    }
    if (opts.validate !== false) checkFinite("z", z);
    const state = opts.initialState ?? this.initState(B);
    this.checkState(state, B);
    if (opts.gateOverride && opts.gateOverride.length !== B * T) {
      throw new ShapeError(`gateOverride must have B*T = ${B * T} values, got ${opts.gateOverride.length}`);
    }
    const training = opts.training ?? false;
    const { dense } = this.ops;
    const P = this.params;
    const BT = B * T;
    const L = this.enc;
    const E = dense.forward(z, P["enc.W"]!.data, P["enc.b"]!.data, BT, dModel, L.width);
    const h = this.ops.act.tanhInPlace(cols(E, BT, L.width, L.h, c.dProj));
    const tape: Tape = { z, E, h, headIn: new Float32Array(0), a1: new Float32Array(0), a1pre: new Float32Array(0) };

    let r: Float32Array = new Float32Array(0);
    let g: Float32Array;
    let p: Float32Array;
    let surprise: Float32Array = new Float32Array(BT);
    let finalState: MemoryState;

    if (this.core === "delta") {
      const kRaw = cols(E, BT, L.width, L.k, c.dKey);
      const qRaw = cols(E, BT, L.width, L.q, c.dKey);
      const k = dense.l2normForward(kRaw, BT, c.dKey);
      const q = dense.l2normForward(qRaw, BT, c.dKey);
      const v = cols(E, BT, L.width, L.v, c.dVal);
      const beta = this.ops.act.sigmoid(cols(E, BT, L.width, L.beta, 1));
      const zNorm = c.gateNorm && this.spec.arm === "aura" ? observationNorms(z, BT, c.dModel) : undefined;
      tape.zNorm = zNorm;
      const gate = this.gateSpec(h, zNorm, B, T, state.t, opts);
      const inp: DeltaRuleInputs = {
        B,
        T,
        dK: c.dKey,
        dV: c.dVal,
        dGate: gate.mode === "learned" ? c.dGate : 0,
        k,
        q,
        v,
        beta,
        gate,
        decay: this.writeDecay,
      };
      const st = state as Extract<MemoryState, { kind: "fast-weights" }>;
      const out = this.ops.deltaRule.forward(inp, { initialState: { M: st.M, m: st.m }, saveForBackward: training });
      r = out.r;
      g = out.g;
      p = out.p;
      surprise = out.surprise;
      finalState = { kind: "fast-weights", B, t: state.t + T, M: out.finalState.M, m: out.finalState.m };
      Object.assign(tape, { kRaw, qRaw, k, q, beta, deltaIn: inp, deltaOut: out });
    } else if (this.core === "rnn") {
      const H = this.spec.rnnHidden;
      const G = gateCount(this.spec.arm as "gru" | "lstm");
      const inp: RnnInputs = {
        kind: this.spec.arm as "gru" | "lstm",
        B,
        T,
        H,
        xg: cols(E, BT, L.width, L.xg, G * H),
        Wh: P["rnn.Wh"]!.data,
        bh: P["rnn.bh"]!.data,
      };
      const st = state as Extract<MemoryState, { kind: "rnn" }>;
      const init = st.c ? { h: st.h, c: st.c } : { h: st.h };
      const out = this.ops.rnn.forward(inp, { initialState: init, saveForBackward: training });
      r = out.h;
      g = new Float32Array(BT).fill(1);
      p = g;
      finalState = out.finalState.c
        ? { kind: "rnn", B, t: state.t + T, h: out.finalState.h, c: out.finalState.c }
        : { kind: "rnn", B, t: state.t + T, h: out.finalState.h };
      Object.assign(tape, { rnnIn: inp, rnnOut: out });
    } else if (this.core === "attention") {
      const inp: AttentionInputs = {
        B,
        T,
        dK: c.dKey,
        dV: c.dVal,
        q: cols(E, BT, L.width, L.q, c.dKey),
        k: cols(E, BT, L.width, L.k, c.dKey),
        v: cols(E, BT, L.width, L.v, c.dVal),
        scale: 1 / Math.sqrt(c.dKey),
        window: this.spec.arm === "kv-window" ? this.spec.window : 0,
      };
      const st = state as Extract<MemoryState, { kind: "kv" }>;
      const hasPast = st.cache.length > 0;
      if (training && hasPast) throw new ConfigError("training forward of an attention arm must start from an empty cache");
      const out = this.ops.attention.forward(inp, { cache: st.cache, outputCache: !training, saveForBackward: training });
      r = out.o;
      g = new Float32Array(BT).fill(1);
      p = g;
      finalState = { kind: "kv", B, t: state.t + T, cache: out.cache ?? st.cache };
      Object.assign(tape, { attIn: inp, attOut: out });
    } else {
      g = new Float32Array(BT);
      p = g;
      finalState = { kind: "none", B, t: state.t + T };
    }

    const dIn = c.dProj + this.dR;
    const headIn = concatRows(h, c.dProj, r, this.dR, BT);
    const a1pre = dense.forward(headIn, P["head.W1"]!.data, P["head.b1"]!.data, BT, dIn, this.hidden());
    const a1 = this.ops.act.tanh(a1pre);
    const out = dense.forward(a1, P["head.W2"]!.data, P["head.b2"]!.data, BT, this.hidden(), c.dAction);
    tape.headIn = headIn;
    tape.a1 = a1;
    tape.a1pre = a1pre;
    return { B, T, out, g, p, surprise, finalState, tape: training ? tape : undefined };
  }

  /**
   * Backward pass: gradients of a scalar loss w.r.t. every parameter, given dL/d(out) [B*T*dAction]
   * and optionally dL/dp [B*T] (loss terms on the write probability: sparsity, action-IB).
   */
  backward(fr: ForwardResult, dOut: Float32Array, dp?: Float32Array): GradSet {
    const tape = fr.tape;
    if (!tape) throw new ConfigError("backward needs forward(..., { training: true })");
    const c = this.spec.config;
    const { dense } = this.ops;
    const P = this.params;
    const BT = fr.B * fr.T;
    const L = this.enc;
    const dH = this.hidden();
    const dIn = c.dProj + this.dR;
    const grads: GradSet = {};

    // head
    const b2 = dense.backward(tape.a1, P["head.W2"]!.data, dOut, BT, dH, c.dAction, true);
    grads["head.W2"] = b2.dW;
    grads["head.b2"] = b2.db;
    const dA1 = this.ops.act.tanhBackward(tape.a1, b2.dx!);
    const b1 = dense.backward(tape.headIn, P["head.W1"]!.data, dA1, BT, dIn, dH, true);
    grads["head.W1"] = b1.dW;
    grads["head.b1"] = b1.db;
    const dHeadIn = b1.dx!;
    const dh = cols(dHeadIn, BT, dIn, 0, c.dProj);
    const dr = cols(dHeadIn, BT, dIn, c.dProj, this.dR);
    const dE = new Float32Array(BT * L.width);

    if (this.core === "delta") {
      const inp = tape.deltaIn!;
      const gd = this.ops.deltaRule.backward(inp, tape.deltaOut!, { dr, dp: inp.gate.mode === "learned" ? dp : undefined });
      const dkRaw = dense.l2normBackward(tape.kRaw!, gd.dk, BT, c.dKey);
      const dqRaw = dense.l2normBackward(tape.qRaw!, gd.dq, BT, c.dKey);
      putCols(dE, BT, L.width, L.k, c.dKey, dkRaw);
      putCols(dE, BT, L.width, L.q, c.dKey, dqRaw);
      putCols(dE, BT, L.width, L.v, c.dVal, gd.dv);
      for (let i = 0; i < BT; i++) {
        const b = tape.beta![i]!;
        dE[i * L.width + L.beta] = gd.dbeta[i]! * b * (1 - b);
      }
      if (inp.gate.mode === "learned") {
        const gb = dense.backward(tape.h, P["gate.W1h"]!.data, gd.dGatePre!, BT, c.dProj, c.dGate, true);
        grads["gate.W1h"] = gb.dW;
        grads["gate.b1"] = gb.db;
        // observation-only gate: the surprise weights are held at zero
        grads["gate.W1e"] = c.gateSurprise ? gd.dW1e! : new Float32Array(gd.dW1e!.length);
        grads["gate.W1a"] = c.gateSurprise ? gd.dW1a! : new Float32Array(gd.dW1a!.length);
        grads["gate.w2"] = gd.dw2!;
        grads["gate.b2"] = new Float32Array([gd.db2!]);
        if (c.gateNorm) {
          const s = tape.zNorm!; // the forward's norms
          const dn = new Float32Array(c.dGate);
          for (let i = 0; i < BT; i++) for (let j = 0; j < c.dGate; j++) dn[j] = dn[j]! + gd.dGatePre![i * c.dGate + j]! * s[i]!;
          grads["gate.w1n"] = dn;
        }
        for (let i = 0; i < dh.length; i++) dh[i] = dh[i]! + gb.dx![i]!;
      } else if (this.spec.arm === "aura") {
        // gate overridden (swap evaluation): no gradient reaches the gate parameters
        for (const n of ["gate.W1h", "gate.b1", "gate.W1e", "gate.W1a", "gate.w2", "gate.b2", ...(c.gateNorm ? ["gate.w1n"] : [])]) {
          grads[n] = new Float32Array(P[n]!.data.length);
        }
      }
    } else if (this.core === "rnn") {
      const gr = this.ops.rnn.backward(tape.rnnIn!, tape.rnnOut!, { dh: dr });
      const G = gateCount(this.spec.arm as "gru" | "lstm");
      putCols(dE, BT, L.width, L.xg, G * this.spec.rnnHidden, gr.dxg);
      grads["rnn.Wh"] = gr.dWh;
      grads["rnn.bh"] = gr.dbh;
    } else if (this.core === "attention") {
      const ga = this.ops.attention.backward(tape.attIn!, tape.attOut!, { do: dr });
      putCols(dE, BT, L.width, L.q, c.dKey, ga.dq);
      putCols(dE, BT, L.width, L.k, c.dKey, ga.dk);
      putCols(dE, BT, L.width, L.v, c.dVal, ga.dv);
    }
    // proj(z) = tanh(.)
    putCols(dE, BT, L.width, L.h, c.dProj, this.ops.act.tanhBackward(tape.h, dh));
    const be = dense.backward(tape.z, P["enc.W"]!.data, dE, BT, c.dModel, L.width, false);
    grads["enc.W"] = be.dW;
    grads["enc.b"] = be.db;
    // order like params, every parameter present
    const ordered: GradSet = {};
    for (const k of Object.keys(P)) {
      const gk = grads[k];
      if (!gk) throw new Error(`internal: no gradient for ${k}`);
      ordered[k] = gk;
    }
    return ordered;
  }

  /**
   * Action-information-bottleneck divergence per step (docs/method.md, "action-IB"):
   * D_t = div(head(h_t, r0_t + u_t), head(h_t, r0_t)) with u_t = beta_t (k_t . q_t + 1) e_t the change of
   * the readout a write would cause and r0_t the readout without it; div = KL(softmax || softmax) for
   * discrete heads; for continuous heads the KL between N(a1, s2 I) and N(a0, s2 I), i.e.
   * ||a1 - a0||^2 / (2 s2), with s2 = `variance` (the head's current MSE; default 1 = half the squared error).
   * Only for the learned-gate arm (else zeros).
   * @returns Float32Array [B*T] in nats (no gradient flows through it: it is a target for the gate).
   */
  actionDivergence(fr: ForwardResult, variance = 1): Float32Array {
    const BT = fr.B * fr.T;
    const D = new Float32Array(BT);
    const w = this.writeEffect(fr);
    if (!w) return D;
    const A = this.spec.config.dAction;
    const discrete = this.spec.config.actionKind === "discrete";
    for (let i = 0; i < BT; i++) {
      const a1 = w.withWrite(i);
      const a0 = w.withoutWrite(i);
      const o = i * A;
      if (discrete) {
        D[i] = klLogits(a1, a0, o, A);
      } else {
        let s = 0;
        for (let j = 0; j < A; j++) s += (a1[o + j]! - a0[o + j]!) ** 2;
        D[i] = s / (2 * variance);
      }
    }
    return D;
  }

  /**
   * Action utility of a write per step (docs/method.md, "action utility"): how much writing at t lowers
   * the action loss at t, U_t = loss(a0_t) - loss(a1_t), with a1 / a0 the head's output with / without
   * the write (as in {@link actionDivergence}) and loss the task loss at t: cross-entropy against
   * `label` (discrete) or the Gaussian NLL ||a - y||^2 / (2 s2) against `target` (continuous, s2 =
   * `variance`). Positive where the write moves the action toward the target (a true event), negative
   * where it moves it away (a lure, a distractor), 0 where `mask` is 0 or the label is undefined.
   * Only for the learned-gate arm (else zeros).
   * @param label Int32Array [B*T] (discrete) or null; @param target Float32Array [B*T*dAction] (continuous) or null.
   * @param mask Float32Array [B*T], steps where the task loss applies.
   * @returns Float32Array [B*T] in nats (a target for the gate: no gradient flows through it).
   */
  actionUtility(fr: ForwardResult, label: Int32Array | null, target: Float32Array | null, mask: Float32Array, variance = 1): Float32Array {
    const BT = fr.B * fr.T;
    const U = new Float32Array(BT);
    const w = this.writeEffect(fr);
    if (!w) return U;
    const A = this.spec.config.dAction;
    for (let i = 0; i < BT; i++) {
      if (!(mask[i]! > 0)) continue;
      const a1 = w.withWrite(i);
      const a0 = w.withoutWrite(i);
      const o = i * A;
      if (this.spec.config.actionKind === "discrete") {
        const y = label ? label[i]! : -1;
        if (y < 0) continue;
        U[i] = logSoftmaxAt(a1, o, A, y) - logSoftmaxAt(a0, o, A, y);
      } else {
        if (!target) continue;
        let s = 0;
        for (let j = 0; j < A; j++) s += (a0[o + j]! - target[o + j]!) ** 2 - (a1[o + j]! - target[o + j]!) ** 2;
        U[i] = s / (2 * variance);
      }
    }
    return U;
  }

  /**
   * The head's output at every step without (a0) and with (a1) the write of that step, from a training
   * forward of the learned-gate arm; null for other arms. Row i of either lives at offset i * dAction of
   * the array `withoutWrite(i)` / `withWrite(i)` returns.
   *
   * With a hard gate (every g in {0, 1}) one of the two is the forward's own output (`fr.out`: a1 where
   * the step wrote, a0 where it did not) and only the other, the counterfactual, is computed: one head
   * pass over the batch. With a soft gate (warm-up, g = p) both are computed. The head's first layer is
   * linear in [h, r]: the counterfactual pre-activation is pre + (r_cf - r) W1r, with u_t =
   * beta_t (k_t . q_t + 1) e_t the change of the readout a write causes, r0 = (r - g u) / keep the readout
   * without the write (keep = 1 - g (1 - alpha): with a write decay alpha < 1 a write also scales the
   * pre-write readout by alpha) and r1 = alpha r0 + u the readout with it.
   */
  private writeEffect(fr: ForwardResult): { withoutWrite(i: number): Float32Array; withWrite(i: number): Float32Array } | null {
    const tape = fr.tape;
    const BT = fr.B * fr.T;
    if (!tape || this.core !== "delta" || !tape.deltaOut) return null;
    const c = this.spec.config;
    const dV = c.dVal;
    const dK = c.dKey;
    const out = tape.deltaOut;
    const tk = tape.k!;
    const tq = tape.q!;
    const tb = tape.beta!;
    const te = out.e;
    const tr = out.r;
    const gOut = out.g;
    const dH = this.hidden();
    const W1r = this.params["head.W1"]!.data.subarray(c.dProj * dH);
    const W2 = this.params["head.W2"]!.data;
    const b2 = this.params["head.b2"]!.data;
    const alpha = this.writeDecay;
    let hard = true;
    for (let i = 0; i < BT; i++) {
      const g = gOut[i]!;
      if (g !== 0 && g !== 1) {
        hard = false;
        break;
      }
    }
    // the head from pre-activations a1pre + d W1r, d [BT, dV] a change of the readout
    const headFrom = (d: Float32Array): Float32Array => {
      const pre = this.ops.dense.forward(d, W1r, null, BT, dV, dH);
      const a1pre = tape.a1pre;
      for (let x = 0; x < pre.length; x++) pre[x] = a1pre[x]! + pre[x]!;
      return this.ops.dense.forward(this.ops.act.tanhInPlace(pre), W2, b2, BT, dH, c.dAction);
    };
    // d0 = r0 - r (the write undone) and d1 = alpha r0 + u - r (the write done), per step; with a hard
    // gate only the counterfactual one (d0 where g = 1, d1 where g = 0) goes into `dcf`
    const d0 = new Float32Array(BT * dV);
    const d1 = hard ? d0 : new Float32Array(BT * dV);
    for (let i = 0, o = 0; i < BT; i++) {
      let kq = 0;
      for (let j = 0, ok = i * dK; j < dK; j++) kq += tk[ok + j]! * tq[ok + j]!;
      const s = tb[i]! * (kq + 1);
      const gi = gOut[i]!;
      const keep = 1 - gi * (1 - alpha);
      for (const end = o + dV; o < end; o++) {
        const r = tr[o]!;
        const u = Math.fround(s * te[o]!);
        const r0 = (r - gi * u) / keep;
        if (!hard) {
          d0[o] = r0 - r;
          d1[o] = alpha * r0 + u - r;
        } else d0[o] = gi === 1 ? r0 - r : alpha * r0 + u - r;
      }
    }
    if (hard) {
      const cf = headFrom(d0);
      const fact = fr.out;
      return { withoutWrite: (i) => (gOut[i] === 1 ? cf : fact), withWrite: (i) => (gOut[i] === 1 ? fact : cf) };
    }
    const a0 = headFrom(d0);
    const a1 = headFrom(d1);
    return { withoutWrite: () => a0, withWrite: () => a1 };
  }

  private hidden(): number {
    return this.params["head.b1"]!.data.length;
  }

  private gateSpec(h: Float32Array, zNorm: Float32Array | undefined, B: number, T: number, t0: number, opts: ForwardOptions): GateSpec {
    const arm = this.spec.arm;
    const c = this.spec.config;
    if (opts.gateOverride) return { mode: "fixed", g: opts.gateOverride };
    if (arm === "always-write") return { mode: "fixed", g: new Float32Array(B * T).fill(1) };
    if (arm === "random" || arm === "periodic") {
      const seeds = opts.scheduleSeeds ?? Array.from({ length: B }, (_, b) => c.seed + b);
      if (seeds.length !== B) throw new ShapeError(`scheduleSeeds must have B = ${B} values, got ${seeds.length}`);
      return { mode: "fixed", g: scheduleBatch(arm, this.spec.writeRate, seeds, T, t0) };
    }
    if (arm === "recon-gate") return { mode: "recon", tau: this.tauValue };
    const P = this.params;
    const gatePre = this.ops.dense.forward(h, P["gate.W1h"]!.data, P["gate.b1"]!.data, B * T, c.dProj, c.dGate);
    if (zNorm) addNormTerm(gatePre, zNorm, P["gate.w1n"]!.data, B * T, c.dGate);
    return {
      mode: "learned",
      gatePre,
      W1e: P["gate.W1e"]!.data,
      W1a: P["gate.W1a"]!.data,
      w2: P["gate.w2"]!.data,
      b2: P["gate.b2"]!.data[0]!,
      hard: (opts.gateMode ?? "hard") === "hard",
      threshold: c.gateThreshold,
      ...(opts.gateThresholds ? { thresholds: opts.gateThresholds } : {}),
    };
  }

  /**
   * The one MemoryState validator (the layer, the step engine and the persistent store call it):
   * ShapeError unless `s` is this arm's state kind for batch `B` with the right shapes and a
   * non-negative integer t; with `finite`, NonFiniteError on NaN/Inf in it.
   */
  checkState(s: MemoryState, B: number, finite = true): void {
    const c = this.spec.config;
    if (!s || typeof s !== "object") throw new ShapeError("state must be a MemoryState from initState()");
    if (s.B !== B) throw new ShapeError(`state is for batch ${s.B}, input has batch ${B}`);
    if (typeof s.t !== "number" || !Number.isSafeInteger(s.t) || s.t < 0) {
      throw new ShapeError(`state.t must be a non-negative integer, got ${String(s.t)}`);
    }
    const want = this.core === "delta" ? "fast-weights" : this.core === "rnn" ? "rnn" : this.core === "attention" ? "kv" : "none";
    if (s.kind !== want) throw new ShapeError(`state kind ${s.kind} does not match arm ${this.spec.arm} (${want})`);
    if (s.kind === "fast-weights") {
      checkF32("state.M", s.M, B * c.dKey * c.dVal, "[B, dKey, dVal]");
      checkF32("state.m", s.m, B * c.dVal, "[B, dVal]");
      if (finite) checkFinite("state.M", s.M);
      if (finite) checkFinite("state.m", s.m);
    } else if (s.kind === "rnn") {
      const H = this.spec.rnnHidden;
      checkF32("state.h", s.h, B * H, "[B, H]");
      if (finite) checkFinite("state.h", s.h);
      if (this.spec.arm === "lstm") {
        checkF32("state.c", s.c, B * H, "[B, H]");
        if (finite) checkFinite("state.c", s.c!);
      } else if (s.c !== undefined) throw new ShapeError("a gru state has no c");
    } else if (s.kind === "kv") {
      checkKvCache(s.cache, B, c.dKey, c.dVal);
    }
  }

}

function validateSpec(s: ArmSpec): void {
  if (!isArm(s.arm)) throw new ConfigError(`unknown arm "${String(s.arm)}" (valid: ${ARMS.join(", ")})`);
  if (coreOf(s.arm) === "rnn" && !(Number.isInteger(s.rnnHidden) && s.rnnHidden >= 1)) {
    throw new ConfigError(`rnnHidden must be a positive integer for ${s.arm}, got ${s.rnnHidden}`);
  }
  if (s.arm === "kv-window" && !(Number.isInteger(s.window) && s.window >= 1)) {
    throw new ConfigError(`window must be a positive integer for kv-window, got ${s.window}`);
  }
  if ((s.arm === "random" || s.arm === "periodic") && !(s.writeRate >= 0 && s.writeRate <= 1)) {
    throw new ConfigError(`writeRate must be in [0, 1] for ${s.arm}, got ${s.writeRate}`);
  }
  if (s.arm === "recon-gate" && !(Number.isFinite(s.tau) && s.tau >= 0)) {
    throw new ConfigError(`tau must be a finite non-negative number for recon-gate, got ${s.tau}`);
  }
}

/** The encoder column layout of an arm: [k | q | v] (delta, attention), h, [beta] (delta), [xg] (rnn). */
export function layoutFor(core: CoreKind, spec: ArmSpec): EncLayout {
  const c = spec.config;
  const L: EncLayout = { k: -1, q: -1, v: -1, h: -1, beta: -1, xg: -1, width: 0 };
  const take = (n: number): number => {
    const o = L.width;
    L.width += n;
    return o;
  };
  if (core === "delta" || core === "attention") {
    L.k = take(c.dKey);
    L.q = take(c.dKey);
    L.v = take(c.dVal);
  }
  L.h = take(c.dProj);
  if (core === "delta") L.beta = take(1);
  if (core === "rnn") L.xg = take(gateCount(spec.arm as "gru" | "lstm") * spec.rnnHidden);
  return L;
}

/** ||z_t||_2 of every row of z [BT, dModel] (the gate's observation-norm input, MemoryConfig.gateNorm). */
export function observationNorms(z: Float32Array, BT: number, dModel: number): Float32Array {
  const s = new Float32Array(BT);
  for (let i = 0; i < BT; i++) {
    let q = 0;
    for (let j = 0; j < dModel; j++) q += z[i * dModel + j]! * z[i * dModel + j]!;
    s[i] = Math.sqrt(q);
  }
  return s;
}

/** gatePre[i, :] += s_i w1n (the observation-norm input of the gate's first layer). */
function addNormTerm(gatePre: Float32Array, s: Float32Array, w1n: Float32Array, BT: number, dG: number): void {
  for (let i = 0; i < BT; i++) for (let j = 0; j < dG; j++) gatePre[i * dG + j] = gatePre[i * dG + j]! + s[i]! * w1n[j]!;
}

function initParams(spec: ArmSpec, core: CoreKind, L: EncLayout, dR: number): ParamSet {
  const c = spec.config;
  const rng = new Rng(c.seed ^ 0x41555241);
  const P: ParamSet = {};
  P["enc.W"] = glorot(rng, c.dModel, L.width);
  P["enc.b"] = constant(L.width, 0);
  if (core === "delta") {
    // beta = sigmoid(b) starts at ~0.5: half a step of the delta rule
    P["enc.b"].data[L.beta] = 0;
  }
  if (spec.arm === "aura") {
    P["gate.W1h"] = glorot(rng, c.dProj, c.dGate);
    P["gate.b1"] = constant(c.dGate, 0);
    P["gate.W1e"] = glorot(rng, c.dVal, c.dGate);
    P["gate.W1a"] = glorot(rng, c.dVal, c.dGate);
    // an observation-only gate: the surprise weights stay zero (the same draws are consumed either way)
    if (!c.gateSurprise) {
      P["gate.W1e"].data.fill(0);
      P["gate.W1a"].data.fill(0);
    }
    P["gate.w2"] = glorot(rng, c.dGate, 1);
    P["gate.w2"] = { shape: [c.dGate], data: P["gate.w2"].data };
    P["gate.b2"] = constant(1, c.gateBiasInit);
    // the observation-norm input, zero-initialised: training starts from the gate without it (a random
    // row made a seed's gate miss events, docs/method.md "Horizon"); no draw, so the rest is unchanged
    if (c.gateNorm) P["gate.w1n"] = constant(c.dGate, 0);
  }
  if (core === "rnn") {
    const H = spec.rnnHidden;
    const G = gateCount(spec.arm as "gru" | "lstm");
    P["rnn.Wh"] = glorot(rng, H, G * H);
    P["rnn.bh"] = constant(G * H, 0);
    if (spec.arm === "lstm") for (let j = H; j < 2 * H; j++) P["rnn.bh"].data[j] = 1; // forget-gate bias 1
  }
  P["head.W1"] = glorot(rng, c.dProj + dR, c.dHidden);
  P["head.b1"] = constant(c.dHidden, 0);
  P["head.W2"] = glorot(rng, c.dHidden, c.dAction);
  P["head.b2"] = constant(c.dAction, 0);
  return P;
}

/** Columns [off, off+n) of a [rows, width] matrix (index loops: a subarray per row costs more than the copy). */
function cols(A: Float32Array, rows: number, width: number, off: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let i = 0, o = 0, a = off; i < rows; i++, a += width) for (let j = 0; j < n; j++) out[o++] = A[a + j]!;
  return out;
}

function putCols(A: Float32Array, rows: number, width: number, off: number, n: number, src: Float32Array): void {
  for (let i = 0, o = 0, a = off; i < rows; i++, a += width) for (let j = 0; j < n; j++) A[a + j] = src[o++]!;
}

function concatRows(a: Float32Array, na: number, b: Float32Array, nb: number, rows: number): Float32Array {
  const w = na + nb;
  const out = new Float32Array(rows * w);
  for (let i = 0, ia = 0, ib = 0, o = 0; i < rows; i++) {
    for (let j = 0; j < na; j++) out[o++] = a[ia++]!;
    for (let j = 0; j < nb; j++) out[o++] = b[ib++]!;
  }
  return out;
}

/** log softmax(x)[y] of the logits row at offset o, width n. */
function logSoftmaxAt(x: Float32Array, o: number, n: number, y: number): number {
  let mx = -Infinity;
  for (let j = 0; j < n; j++) mx = Math.max(mx, x[o + j]!);
  let z = 0;
  for (let j = 0; j < n; j++) z += Math.exp(x[o + j]! - mx);
  return x[o + y]! - mx - Math.log(z);
}

/** KL(softmax(p) || softmax(q)) for logits rows at offset o, width n. */
function klLogits(p: Float32Array, q: Float32Array, o: number, n: number): number {
  let mp = -Infinity;
  let mq = -Infinity;
  for (let j = 0; j < n; j++) {
    mp = Math.max(mp, p[o + j]!);
    mq = Math.max(mq, q[o + j]!);
  }
  let zp = 0;
  let zq = 0;
  for (let j = 0; j < n; j++) {
    zp += Math.exp(p[o + j]! - mp);
    zq += Math.exp(q[o + j]! - mq);
  }
  const lzp = Math.log(zp) + mp;
  const lzq = Math.log(zq) + mq;
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const lp = p[o + j]! - lzp;
    const lq = q[o + j]! - lzq;
    kl += Math.exp(lp) * (lp - lq);
  }
  return Math.max(kl, 0);
}
