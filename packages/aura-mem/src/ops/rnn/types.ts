/**
 * Dense recurrent baselines: GRU and LSTM cells over a whole sequence, with exact BPTT gradients.
 *
 * The input projection `x_t W_x + b_x` is done outside the cell by a dense layer; the cell receives
 * its result `xg` (the pre-activations of the input path) and owns only the recurrent weights
 * `Wh [H, G*H]` and bias `bh [G*H]` (PyTorch conventions, gate order GRU `[r, z, n]`, LSTM
 * `[i, f, g, o]`; `G` = {@link gateCount}).
 *
 * GRU:  `hg = h_{t-1} Wh + bh`, `r = s(xg_r + hg_r)`, `z = s(xg_z + hg_z)`, `n = tanh(xg_n + r * hg_n)`,
 *       `h_t = (1 - z) * n + z * h_{t-1}`.
 * LSTM: `a = xg + h_{t-1} Wh + bh`, `i, f, o = s(a_i, a_f, a_o)`, `g = tanh(a_g)`,
 *       `c_t = f * c_{t-1} + i * g`, `h_t = o * tanh(c_t)`.
 *
 * Layout (row-major Float32Array, see src/ops/types.ts): `xg [B, T, G*H]` (index `((b*T + t)*G + gate)*H + j`),
 * `h [B, T, H]`, states `[B, H]`, `Wh [H, G*H]` (index `i*G*H + gate*H + j`).
 *
 * Errors: {@link ConfigError} for an unknown `kind` or non-positive / non-integer `B, T, H`;
 * {@link ShapeError} (naming the field and the expected shape) for a wrong array type or length, a
 * state field that does not belong to the kind, or a `saved` record that does not match the inputs.
 * No function mutates its inputs.
 *
 * Implementations: `rnnNaive` (src/ops/rnn/naive.ts, readable float64 reference) and
 * `rnnWasm(kernels)` (src/ops/rnn/wasm.ts over assembly/rnn.ts, f32x4 SIMD).
 */
import { ConfigError, ShapeError, checkF32, checkInt } from "../../errors.js";

/** Which cell: `"gru"` (3 gate blocks `[r, z, n]`) or `"lstm"` (4 gate blocks `[i, f, g, o]`). */
export type RnnKind = "gru" | "lstm";

/** Recurrent state of a batch. */
export interface RnnState {
  /** Hidden state `[B, H]`. */
  h: Float32Array;
  /** Cell state `[B, H]`: required for `"lstm"` initial states, must be absent for `"gru"`. */
  c?: Float32Array;
}

/** Everything one sequence call needs. */
export interface RnnInputs {
  kind: RnnKind;
  /** Batch size (>= 1). */
  B: number;
  /** Number of time steps (>= 1). */
  T: number;
  /** Hidden size (>= 1). */
  H: number;
  /** Input-path pre-activations `[B, T, G*H]` (`x_t W_x + b_x`, gate blocks in the kind's order). */
  xg: Float32Array;
  /** Recurrent weights `[H, G*H]` row-major. */
  Wh: Float32Array;
  /** Recurrent bias `[G*H]` (for the GRU the n-block bias sits inside `r * (h Wh_n + bh_n)`). */
  bh: Float32Array;
}

/** Result of {@link RnnOp.forward}. */
export interface RnnOutput {
  /** Hidden state after every step, `[B, T, H]`. */
  h: Float32Array;
  /** State after the last step (`h` `[B, H]`, plus `c` `[B, H]` for the LSTM): feed it back as `initialState` to stream. */
  finalState: RnnState;
  /**
   * What {@link RnnOp.backward} needs (present iff `saveForBackward` was set). Opaque to callers; its
   * layout ({@link RnnSaved}) is shared by every implementation, so a naive forward can be
   * differentiated by the WASM backward and vice versa.
   */
  saved?: unknown;
}

/** Gradients of a scalar loss w.r.t. every input of one sequence call. */
export interface RnnGrads {
  /** `[B, T, G*H]` */
  dxg: Float32Array;
  /** `[H, G*H]` */
  dWh: Float32Array;
  /** `[G*H]` */
  dbh: Float32Array;
  /** Gradient w.r.t. the initial state (`h`, and `c` for the LSTM); zeros-initial-state calls still get it. */
  dInitial: RnnState;
}

/** Upstream gradient: on every output `h` and optionally on the final state. */
export interface RnnUpstream {
  /** dL/dh `[B, T, H]`. */
  dh: Float32Array;
  /**
   * dL/d(final state), added on top of `dh` at the last step; `h` `[B, H]`, `c` `[B, H]` (LSTM only,
   * may be omitted = zeros). Omitted entirely = zeros.
   */
  dFinal?: RnnState;
}

/** Options of {@link RnnOp.forward}. */
export interface RnnForwardOptions {
  /** Initial state (zeros when omitted). For the LSTM both `h` and `c` are required. */
  initialState?: RnnState;
  /** Keep the per-step activations needed by {@link RnnOp.backward} in `out.saved` (default false). */
  saveForBackward?: boolean;
}

/** A GRU/LSTM sequence op with BPTT. */
export interface RnnOp {
  /**
   * Run the cell over all T steps of every batch row.
   * @throws ConfigError bad kind / B / T / H; ShapeError wrong lengths of xg, Wh, bh or the initial state.
   */
  forward(inp: RnnInputs, opts?: RnnForwardOptions): RnnOutput;
  /**
   * Backpropagation through time. `inp` must be the inputs of the forward that produced `out`, and
   * that forward must have been run with `saveForBackward: true`.
   * @throws ConfigError `out.saved` is missing; ShapeError wrong lengths of dh / dFinal, or `out.saved`
   *   / `out.h` do not match `inp`.
   */
  backward(inp: RnnInputs, out: RnnOutput, grad: RnnUpstream): RnnGrads;
}

/** Number of gate blocks G: 3 for the GRU, 4 for the LSTM. @throws ConfigError for another kind. */
export function gateCount(kind: RnnKind): number {
  if (kind === "gru") return 3;
  if (kind === "lstm") return 4;
  throw new ConfigError(`rnn kind must be "gru" or "lstm", got ${JSON.stringify(kind)}`);
}

/**
 * The activations one forward saves for BPTT (same layout for every implementation).
 *
 * `acts [B, T, S]` with `S = (G + 1) * H` per step: GRU `[r, z, n, hn]` where `hn = h_{t-1} Wh_n + bh_n`
 * (the recurrent n pre-activation before the reset gate); LSTM `[i, f, g, o, c]` (activated gates and
 * the new cell state). `h0` / `c0` are copies of the initial state (zeros when none was given; `c0`
 * is null for the GRU). The hidden states `h_t` themselves are read from `out.h`.
 */
export interface RnnSaved {
  readonly kind: RnnKind;
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly acts: Float32Array;
  readonly h0: Float32Array;
  readonly c0: Float32Array | null;
}

/** Floats saved per (b, t) step: `(G + 1) * H`. */
export function savedStride(kind: RnnKind, H: number): number {
  return (gateCount(kind) + 1) * H;
}

/** Validate the sizes and arrays of `inp`; returns `G`. */
export function checkRnnInputs(inp: RnnInputs): number {
  if (inp === null || typeof inp !== "object") throw new ConfigError("rnn inputs must be an object");
  const G = gateCount(inp.kind);
  const B = checkInt("rnn B", inp.B, 1);
  const T = checkInt("rnn T", inp.T, 1);
  const H = checkInt("rnn H", inp.H, 1);
  checkF32("rnn xg", inp.xg, B * T * G * H, `[B=${B}, T=${T}, ${G}*H=${G * H}]`);
  checkF32("rnn Wh", inp.Wh, H * G * H, `[H=${H}, ${G}*H=${G * H}]`);
  checkF32("rnn bh", inp.bh, G * H, `[${G}*H=${G * H}]`);
  return G;
}

/**
 * Validate a state of the kind (`what` names it in errors). `requireC`: the LSTM state must carry `c`
 * (initial states); otherwise a missing `c` means zeros (upstream gradients). A GRU state must not carry `c`.
 */
export function checkRnnState(what: string, kind: RnnKind, s: RnnState, B: number, H: number, requireC: boolean): void {
  if (s === null || typeof s !== "object") throw new ShapeError(`${what} must be an object { h, c? }`);
  checkF32(`${what}.h`, s.h, B * H, `[B=${B}, H=${H}]`);
  if (kind === "lstm") {
    if (s.c !== undefined) checkF32(`${what}.c`, s.c, B * H, `[B=${B}, H=${H}]`);
    else if (requireC) throw new ShapeError(`${what}.c [B=${B}, H=${H}] is required for the lstm`);
  } else if (s.c !== undefined) {
    throw new ShapeError(`${what}.c must be absent for the gru (it has no cell state)`);
  }
}

/** Validate `out` / `grad` of a backward call against `inp`; returns the saved record. */
export function checkBackwardArgs(inp: RnnInputs, out: RnnOutput, grad: RnnUpstream): RnnSaved {
  const { kind, B, T, H } = inp;
  if (out === null || typeof out !== "object") throw new ShapeError("rnn backward: out must be the forward's RnnOutput");
  checkF32("rnn out.h", out.h, B * T * H, `[B=${B}, T=${T}, H=${H}]`);
  const s = out.saved as RnnSaved | undefined;
  if (s === undefined || s === null) {
    throw new ConfigError("rnn backward: out.saved is missing; run forward with { saveForBackward: true }");
  }
  if (typeof s !== "object" || s.kind !== kind || s.B !== B || s.T !== T || s.H !== H) {
    throw new ShapeError(`rnn backward: out.saved does not match the inputs (kind=${kind}, B=${B}, T=${T}, H=${H})`);
  }
  checkF32("rnn saved.acts", s.acts, B * T * savedStride(kind, H), `[B, T, (G+1)*H]`);
  checkF32("rnn saved.h0", s.h0, B * H, `[B=${B}, H=${H}]`);
  if (kind === "lstm") checkF32("rnn saved.c0", s.c0, B * H, `[B=${B}, H=${H}]`);
  if (grad === null || typeof grad !== "object") throw new ShapeError("rnn backward: grad must be { dh, dFinal? }");
  checkF32("rnn grad.dh", grad.dh, B * T * H, `[B=${B}, T=${T}, H=${H}]`);
  if (grad.dFinal !== undefined) checkRnnState("rnn grad.dFinal", kind, grad.dFinal, B, H, false);
  return s;
}
