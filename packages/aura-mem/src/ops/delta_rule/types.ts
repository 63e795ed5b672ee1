/**
 * The gated delta-rule memory cell: the fast-weight memory at the heart of AURA
 * ("action-gated, constant-size fast-weight memory for robot policies", arXiv 2606.02775; this is
 * our reconstruction of its update rule).
 *
 * Per batch row `b` and step `t = 0..T-1`, with state `M [dK, dV]` (row-major, `M[i*dV + j]`) and
 * bias `m [dV]`, starting from the initial state (zeros if none):
 *
 * ```
 * vhat_j = sum_i M[i,j] k_i + m_j          inner prediction from the pre-write state
 * e_j    = v_j - vhat_j                    surprise vector;  surprise = ||e||_2
 * gate   'learned': a_h = tanh(gatePre[b,t,h] + sum_j e_j W1e[j,h] + sum_j |e_j| W1a[j,h])
 *                   p = sigmoid(sum_h a_h w2[h] + b2);  g = hard ? [p > threshold] : p
 *        'fixed'  : g = p = gIn[b,t]
 *        'recon'  : g = p = [surprise > tau]
 * write  M[i,j] += g beta k_i e_j ;  m_j += g beta e_j    (one SGD step on ||M^T k + m - v||^2 / 2)
 * read   r_j = sum_i M[i,j] q_i + m_j      from the post-write state
 * ```
 *
 * Closed form of the read-out: `r_t = r0_t + g beta (k.q + 1) e_t`, where `r0_t = M_pre^T q + m_pre`
 * is the read-out of the pre-write state.
 *
 * Layouts (row-major Float32Array): sequences `[B, T, D]` (index `(b*T + t)*D + d`), per-step
 * scalars `[B, T]`, state `M [B, dK, dV]` and `m [B, dV]`, gate weights `W1e, W1a [dV, dGate]`.
 *
 * Errors: every entry point validates shapes first ({@link ShapeError} naming the field and the
 * expected shape, {@link ConfigError} for bad dimensions, gate mode or gate constants) and never
 * mutates its inputs. Non-finite values are NOT checked (the op is on the hot path); the caller
 * must run `checkFinite` on untrusted data. A NaN value gives a NaN surprise vector (and p); a
 * NaN surprise or p never opens a 'recon' or hard gate (the comparison is false), so such a step
 * leaves the state untouched, while an open gate writes the NaN into the state.
 *
 * See `README.md` in this folder for the backward derivation and the checkpointing scheme.
 */
import { ConfigError, ShapeError, checkF32, checkInt } from "../../errors.js";

/** Default chunk length C of the WASM backend: the forward saves the state every C steps. */
export const DELTA_RULE_DEFAULT_CHUNK = 16;

/** Default threshold of the hard learned gate: `g = p > 0.5 ? 1 : 0`. */
export const DELTA_RULE_DEFAULT_THRESHOLD = 0.5;

/**
 * How the write gate `g in [0, 1]` of each step is produced.
 *
 * - `learned`: a small MLP of the surprise vector plus a per-step pre-activation from the policy,
 *   `p = sigmoid(tanh(gatePre + e W1e + |e| W1a) w2 + b2)`; `hard` makes `g = [p > threshold]`
 *   (trained with the straight-through estimator), otherwise `g = p`. Gradients flow into every
 *   gate input and parameter, and through `e` into `k`, `v` and the state.
 * - `fixed`: `g` is given per step (e.g. all ones = always write, or a 0/1 schedule). No gradient
 *   into `g`; `p = g`.
 * - `recon`: reconstruction-surprise gate (Titans-style), `g = [||e||_2 > tau]`. No gradient into
 *   `tau`; `p = g`.
 */
export type GateSpec =
  | {
      /**
       * The write gate's MLP. Field names are the model's parameter names without the `gate.` prefix
       * (`gate.W1e`, `gate.W1a`, `gate.w2`, `gate.b2`; `gatePre` = h `gate.W1h` + `gate.b1`), as in
       * checkpoints, the fused step engine (`gateW1` = [W1h; W1e; W1a]) and the ONNX graph.
       */
      mode: "learned";
      /** [B*T*dGate] per-step pre-activation (e.g. a projection of the action/observation). */
      gatePre: Float32Array;
      /** [dV*dGate] weights applied to the surprise vector e. */
      W1e: Float32Array;
      /** [dV*dGate] weights applied to |e| (elementwise absolute value). */
      W1a: Float32Array;
      /** [dGate] output weights. */
      w2: Float32Array;
      /** Output bias (finite). */
      b2: number;
      /** true: g = [p > threshold] with a straight-through backward; false: g = p. */
      hard: boolean;
      /** Threshold of the hard gate, in [0, 1]; default {@link DELTA_RULE_DEFAULT_THRESHOLD}. */
      threshold?: number;
      /**
       * [B*T] per-step thresholds of the hard gate, each in [0, 1], replacing `threshold` where given:
       * `g = [p > u_t]`. With u_t ~ U(0, 1) this is the stochastic binary gate g ~ Bernoulli(p) of
       * training (straight-through backward as for the deterministic one; Bengio et al. 2013,
       * arXiv 1308.3432; TrainOptions.stochasticGate, measured in docs/method.md, "Horizon").
       */
      thresholds?: Float32Array;
    }
  | {
      mode: "fixed";
      /** [B*T] gate value of each step, in [0, 1] (not checked). */
      g: Float32Array;
    }
  | {
      mode: "recon";
      /** Surprise threshold (same units as v): write when ||e||_2 > tau. Finite, >= 0 not required. */
      tau: number;
    };

/** Fast-weight state of every batch row. */
export interface DeltaRuleState {
  /** [B*dK*dV] associative matrix, row-major per batch row. */
  M: Float32Array;
  /** [B*dV] bias (the "m" of the update). */
  m: Float32Array;
}

/** Inputs of one forward call over `T` steps of `B` independent rows. */
export interface DeltaRuleInputs {
  /** Batch rows (>= 1). */
  B: number;
  /** Steps (>= 1). */
  T: number;
  /** Key / query width (>= 1). */
  dK: number;
  /** Value width (>= 1). */
  dV: number;
  /** Hidden width of the learned gate (>= 1 in 'learned' mode; ignored otherwise, pass 0). */
  dGate: number;
  /** [B*T*dK] keys, expected unit-norm (the op does not normalise; gradients are w.r.t. k as given). */
  k: Float32Array;
  /** [B*T*dK] queries, expected unit-norm. */
  q: Float32Array;
  /** [B*T*dV] values to store. */
  v: Float32Array;
  /** [B*T] write strengths (learning rate of the inner SGD step), expected in (0, 1). */
  beta: Float32Array;
  /** How the write gate is produced. */
  gate: GateSpec;
  /**
   * Write decay alpha in (0, 1] (default 1 = none): forgetting applied where the gate writes, in the
   * same update as the write, M <- a_t M + w_t k e^T, m <- a_t m + w_t e with a_t = 1 - g_t (1 - alpha)
   * (alpha at a write, 1 at a silent step); the surprise e and the gate read the state before the
   * decay. A silent step changes nothing, so the forgetting costs no write and no step counter
   * (Gated DeltaNet's S_t = alpha_t S_{t-1} ..., Yang et al. 2024, with alpha_t = alpha^{g_t}); it
   * bounds the state a stream of writes builds up (docs/method.md, "Horizon").
   */
  decay?: number;
}

/** Options of {@link DeltaRuleOp.forward}. */
export interface DeltaRuleForwardOptions {
  /** Starting state (copied, not mutated); zeros when absent. */
  initialState?: DeltaRuleState;
  /** Keep what {@link DeltaRuleOp.backward} needs in `output.saved` (default false). */
  saveForBackward?: boolean;
}

/**
 * What the forward keeps for the backward. Opaque to callers: pass the whole output back to
 * `backward` unmodified. Both backends use this layout, so either backward accepts the output of
 * either forward.
 */
export interface DeltaRuleSaved {
  /** Chunk length C: `checkpoints` holds M before steps 0, C, 2C, ... */
  readonly chunk: number;
  /** [B * ceil(T/C) * dK * dV] state M before every C-th step (checkpoint 0 is the initial M). */
  readonly checkpoints: Float32Array;
  /** [B*T*dGate] tanh activations a of the learned gate; null in other modes. */
  readonly act: Float32Array | null;
  /** [B*dV] the initial bias vector m of every row (the write decay's gradient reads m). */
  readonly m0: Float32Array;
}

/** Result of {@link DeltaRuleOp.forward}; every array is freshly allocated. */
export interface DeltaRuleOutput {
  /** [B*T*dV] read-out of the post-write state. */
  r: Float32Array;
  /** [B*T*dV] surprise vector e = v - vhat (pre-write prediction error). */
  e: Float32Array;
  /** [B*T] gate probability (learned) or the gate itself (fixed, recon). */
  p: Float32Array;
  /** [B*T] gate actually applied to the write. */
  g: Float32Array;
  /** [B*T] ||e||_2. */
  surprise: Float32Array;
  /** State after step T-1 (feed back as `initialState` to continue a stream). */
  finalState: DeltaRuleState;
  /** Present when `saveForBackward` was set. */
  saved?: DeltaRuleSaved;
}

/** Gradients of a scalar loss with respect to the op's inputs. */
export interface DeltaRuleGrads {
  /** [B*T*dK] */
  dk: Float32Array;
  /** [B*T*dK] */
  dq: Float32Array;
  /** [B*T*dV] */
  dv: Float32Array;
  /** [B*T] */
  dbeta: Float32Array;
  /** Gradient w.r.t. the initial state (zeros-initial state included). */
  dInitial: DeltaRuleState;
  /** [B*T*dGate] ('learned' only) */
  dGatePre?: Float32Array;
  /** [dV*dGate] ('learned' only) */
  dW1e?: Float32Array;
  /** [dV*dGate] ('learned' only) */
  dW1a?: Float32Array;
  /** [dGate] ('learned' only) */
  dw2?: Float32Array;
  /** ('learned' only) */
  db2?: number;
}

/** Upstream gradients given to {@link DeltaRuleOp.backward}. */
export interface DeltaRuleUpstream {
  /** [B*T*dV] dL/dr. */
  dr: Float32Array;
  /** [B*T] dL/dp, a loss applied directly to the gate probability ('learned' only; ignored otherwise). */
  dp?: Float32Array;
  /** dL/d(final state). */
  dFinal?: DeltaRuleState;
}

/** The gated delta-rule cell: forward over a sequence and its exact backward (BPTT). */
export interface DeltaRuleOp {
  /**
   * Run the recurrence over `T` steps for all `B` rows.
   * @throws ShapeError / ConfigError on malformed inputs (nothing is computed).
   */
  forward(inp: DeltaRuleInputs, opts?: DeltaRuleForwardOptions): DeltaRuleOutput;
  /**
   * Backpropagate through the recurrence. `inp` must be the inputs of the forward that produced
   * `out` (with `saveForBackward: true`), both unmodified. Hard learned gates use the
   * straight-through estimator `dg/dp = 1`; 'fixed' and 'recon' gates get no gradient.
   * @throws ShapeError / ConfigError on malformed inputs or when `out.saved` is missing.
   */
  backward(inp: DeltaRuleInputs, out: DeltaRuleOutput, grad: DeltaRuleUpstream): DeltaRuleGrads;
}

/** Dimensions after validation. */
export interface DeltaRuleDims {
  B: number;
  T: number;
  dK: number;
  dV: number;
  /** dGate in 'learned' mode, 0 otherwise. */
  dG: number;
  learned: boolean;
  /** Write decay alpha in (0, 1]. */
  decay: number;
}

/**
 * Validate shapes and gate constants of a forward call (and the initial state when given).
 * @throws ConfigError for bad dimensions, an unknown gate mode or a non-finite b2/tau/threshold
 * @throws ShapeError naming the first array with the wrong type or length
 */
export function validateDeltaRuleInputs(inp: DeltaRuleInputs, initialState?: DeltaRuleState): DeltaRuleDims {
  if (inp === null || typeof inp !== "object") throw new ConfigError("delta rule inputs must be an object");
  const B = checkInt("B", inp.B, 1);
  const T = checkInt("T", inp.T, 1);
  const dK = checkInt("dK", inp.dK, 1);
  const dV = checkInt("dV", inp.dV, 1);
  const gate = inp.gate;
  if (gate === null || typeof gate !== "object") throw new ConfigError("gate must be a GateSpec object");
  const learned = gate.mode === "learned";
  const dGate = checkInt("dGate", inp.dGate, learned ? 1 : 0);
  checkF32("k", inp.k, B * T * dK, `[B*T*dK] = [${B}*${T}*${dK}]`);
  checkF32("q", inp.q, B * T * dK, `[B*T*dK] = [${B}*${T}*${dK}]`);
  checkF32("v", inp.v, B * T * dV, `[B*T*dV] = [${B}*${T}*${dV}]`);
  checkF32("beta", inp.beta, B * T, `[B*T] = [${B}*${T}]`);
  switch (gate.mode) {
    case "learned":
      checkF32("gate.gatePre", gate.gatePre, B * T * dGate, `[B*T*dGate] = [${B}*${T}*${dGate}]`);
      checkF32("gate.W1e", gate.W1e, dV * dGate, `[dV*dGate] = [${dV}*${dGate}]`);
      checkF32("gate.W1a", gate.W1a, dV * dGate, `[dV*dGate] = [${dV}*${dGate}]`);
      checkF32("gate.w2", gate.w2, dGate, `[dGate] = [${dGate}]`);
      if (typeof gate.b2 !== "number" || !Number.isFinite(gate.b2)) throw new ConfigError(`gate.b2 must be a finite number, got ${String(gate.b2)}`);
      if (typeof gate.hard !== "boolean") throw new ConfigError(`gate.hard must be a boolean, got ${String(gate.hard)}`);
      if (gate.threshold !== undefined && (typeof gate.threshold !== "number" || !(gate.threshold >= 0 && gate.threshold <= 1))) {
        throw new ConfigError(`gate.threshold must be a number in [0, 1], got ${String(gate.threshold)}`);
      }
      if (gate.thresholds !== undefined) {
        checkF32("gate.thresholds", gate.thresholds, B * T, `[B*T] = [${B}*${T}]`);
        for (let i = 0; i < gate.thresholds.length; i++) {
          const u = gate.thresholds[i]!;
          if (!(u >= 0 && u <= 1)) throw new ConfigError(`gate.thresholds[${i}] must be in [0, 1], got ${u}`);
        }
      }
      break;
    case "fixed":
      checkF32("gate.g", gate.g, B * T, `[B*T] = [${B}*${T}]`);
      break;
    case "recon":
      if (typeof gate.tau !== "number" || !Number.isFinite(gate.tau)) throw new ConfigError(`gate.tau must be a finite number, got ${String(gate.tau)}`);
      break;
    default:
      throw new ConfigError(`unknown gate mode ${String((gate as { mode?: unknown }).mode)} (expected learned, fixed or recon)`);
  }
  if (initialState !== undefined) validateState("initialState", initialState, B, dK, dV);
  const decay = inp.decay ?? 1;
  if (typeof decay !== "number" || !(decay > 0 && decay <= 1)) throw new ConfigError(`decay must be a number in (0, 1], got ${String(inp.decay)}`);
  return { B, T, dK, dV, dG: learned ? dGate : 0, learned, decay };
}

/** @throws ShapeError unless `s` is a state of B rows of [dK, dV] + [dV]. */
export function validateState(name: string, s: DeltaRuleState, B: number, dK: number, dV: number): void {
  if (s === null || typeof s !== "object") throw new ShapeError(`${name} must be {M, m}, got ${String(s)}`);
  checkF32(`${name}.M`, s.M, B * dK * dV, `[B*dK*dV] = [${B}*${dK}*${dV}]`);
  checkF32(`${name}.m`, s.m, B * dV, `[B*dV] = [${B}*${dV}]`);
}

/**
 * Validate everything a backward call needs: the inputs, the forward output (with `saved`) and the
 * upstream gradients.
 */
export function validateDeltaRuleBackward(inp: DeltaRuleInputs, out: DeltaRuleOutput, grad: DeltaRuleUpstream): DeltaRuleDims & { saved: DeltaRuleSaved } {
  const d = validateDeltaRuleInputs(inp);
  const { B, T, dK, dV, dG } = d;
  if (out === null || typeof out !== "object") throw new ConfigError("backward needs the forward output");
  checkF32("out.e", out.e, B * T * dV, `[B*T*dV] = [${B}*${T}*${dV}]`);
  checkF32("out.p", out.p, B * T, `[B*T] = [${B}*${T}]`);
  checkF32("out.g", out.g, B * T, `[B*T] = [${B}*${T}]`);
  const saved = out.saved;
  if (!saved) throw new ConfigError("out.saved is missing: run forward with { saveForBackward: true }");
  const C = checkInt("out.saved.chunk", saved.chunk, 1);
  const nC = Math.ceil(T / C);
  checkF32("out.saved.checkpoints", saved.checkpoints, B * nC * dK * dV, `[B*ceil(T/C)*dK*dV] = [${B}*${nC}*${dK}*${dV}]`);
  if (d.learned) checkF32("out.saved.act", saved.act, B * T * dG, `[B*T*dGate] = [${B}*${T}*${dG}]`);
  checkF32("out.saved.m0", saved.m0, B * dV, `[B*dV] = [${B}*${dV}]`);
  if (grad === null || typeof grad !== "object") throw new ConfigError("backward needs { dr, dp?, dFinal? }");
  checkF32("dr", grad.dr, B * T * dV, `[B*T*dV] = [${B}*${T}*${dV}]`);
  if (grad.dp !== undefined) checkF32("dp", grad.dp, B * T, `[B*T] = [${B}*${T}]`);
  if (grad.dFinal !== undefined) validateState("dFinal", grad.dFinal, B, dK, dV);
  return { ...d, saved };
}
