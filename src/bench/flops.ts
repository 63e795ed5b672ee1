/**
 * FLOP and memory-traffic counts of the ops of a training step, from their shapes (the roofline of
 * `aura bench-speed`, src/bench/roofline.ts). Every formula of the benchmark lives here.
 *
 * Conventions:
 * - A multiply and an add are 2 FLOPs (WebAssembly SIMD has no FMA); a transcendental (tanh, sigmoid,
 *   exp, sqrt) or a division counts as 1 FLOP, as MFU counts usually do (so the elementwise ops are
 *   memory-bound by their counts, not by their real cost).
 * - Backward passes count the useful FLOPs of the gradient formulas, not the work of recomputing the
 *   forward (the WASM delta rule recomputes its states from chunk checkpoints; that is overhead).
 * - Bytes are the minimum traffic: every input read once, every output written once, 4 bytes per
 *   f32; intermediates that a kernel keeps in registers or cache are not counted.
 * Shapes follow the ops: `x [M, K] @ W [K, N]` for dense, `[B, T, D]` sequences, state `M [B, dK, dV]`.
 */

/** FLOPs and minimum bytes of one op call. */
export interface Cost {
  flops: number;
  bytes: number;
}

const F = 4;

/** Dense forward `y [M, N] = x [M, K] W [K, N] (+ b [N])`: 2MKN (+ MN for the bias). */
export function denseForwardCost(M: number, K: number, N: number, bias: boolean): Cost {
  return { flops: 2 * M * K * N + (bias ? M * N : 0), bytes: F * (M * K + K * N + M * N + (bias ? N : 0)) };
}

/** Dense backward: dW = x^T dy (2MKN), db = colsum dy (MN), dx = dy W^T (2MKN, when needed). */
export function denseBackwardCost(M: number, K: number, N: number, needDx: boolean): Cost {
  return {
    flops: 2 * M * K * N + M * N + (needDx ? 2 * M * K * N : 0),
    bytes: F * (M * K + K * N + M * N + K * N + N + (needDx ? M * K : 0)),
  };
}

/** Row-wise L2 normalisation of `x [M, D]`: squares and sum (2D), sqrt and reciprocal (2), scale (D). */
export function l2normForwardCost(M: number, D: number): Cost {
  return { flops: M * (3 * D + 2), bytes: F * 2 * M * D };
}

/** Its backward: dot(y, dy) (2D), then dx = (dy - y (y.dy)) / norm (3D). */
export function l2normBackwardCost(M: number, D: number): Cost {
  return { flops: M * (5 * D + 1), bytes: F * 3 * M * D };
}

/** Elementwise tanh / sigmoid of n values: 1 FLOP each (one transcendental), read x, write y. */
export function activationForwardCost(n: number): Cost {
  return { flops: n, bytes: F * 2 * n };
}

/** Its backward `dx = dy (1 - y)(1 + y)` or `dy y (1 - y)`: 3 FLOPs each; read y and dy, write dx. */
export function activationBackwardCost(n: number): Cost {
  return { flops: 3 * n, bytes: F * 3 * n };
}

/** Shapes of a delta-rule call: {@link DeltaRuleInputs} of src/ops/delta_rule (dGate = 0 unless the gate is learned). */
export interface DeltaRuleShape {
  B: number;
  T: number;
  dK: number;
  dV: number;
  dGate: number;
}

/**
 * Delta-rule forward, per step (b, t): prediction `M^T k + m` (2 dK dV + dV), surprise `e = v - vhat`
 * and `||e||` (3 dV), the learned gate `tanh(gatePre + e W1e + |e| W1a) . w2` (4 dV dGate + 4 dGate + 2),
 * the write `M += (g beta k) e^T`, `m += g beta e` (2 dK dV + dK + 2 dV + 1), the read `M^T q + m`
 * (2 dK dV + dV). Every step is counted as a write (the hard gate skips closed ones; we count the
 * dense work). Bytes: k, q, v, beta, gatePre in; r, e, p, g, surprise out; the state in and out once.
 */
export function deltaRuleForwardCost(s: DeltaRuleShape): Cost {
  const { B, T, dK, dV, dGate } = s;
  const perStep = 6 * dK * dV + dK + 7 * dV + 1 + (dGate > 0 ? 4 * dV * dGate + 4 * dGate + 2 : 0);
  const io = 2 * dK + dV + 1 + dGate + 2 * dV + 3;
  return { flops: B * T * perStep, bytes: F * (B * T * io + 2 * B * (dK * dV + dV)) };
}

/**
 * Delta-rule backward: twice the forward's FLOPs (each product term of the forward has two gradient
 * terms; recomputing the forward from checkpoints is not counted). Bytes: the forward's inputs and
 * outputs read again, dr read, dk, dq, dv, dbeta, dGatePre written.
 */
export function deltaRuleBackwardCost(s: DeltaRuleShape): Cost {
  const f = deltaRuleForwardCost(s);
  const { B, T, dK, dV, dGate } = s;
  return { flops: 2 * f.flops, bytes: f.bytes + F * B * T * (dV + 2 * dK + dV + 1 + dGate) };
}

/** GRU / LSTM forward with G gate blocks over hidden H: per step `h Wh` (2 G H^2) plus ~4 G H gate maths. */
export function rnnForwardCost(B: number, T: number, H: number, G: number): Cost {
  return { flops: B * T * (2 * G * H * H + 4 * G * H), bytes: F * (B * T * (G * H + H) + G * H * H) };
}

/** Its BPTT: twice the forward (dh Wh^T and dWh += h^T dg per step, plus the gate derivatives). */
export function rnnBackwardCost(B: number, T: number, H: number, G: number): Cost {
  const f = rnnForwardCost(B, T, H, G);
  return { flops: 2 * f.flops, bytes: 2 * f.bytes };
}

/**
 * Causal attention forward (training: no past cache) with window W (0 = unbounded): step t attends
 * to n_t = min(t + 1, W) keys, costing 2 n dK (scores) + 3 n (softmax) + 2 n dV (weighted values).
 */
export function attentionForwardCost(B: number, T: number, dK: number, dV: number, window: number): Cost {
  let keys = 0;
  for (let t = 0; t < T; t++) keys += window > 0 ? Math.min(t + 1, window) : t + 1;
  return { flops: B * keys * (2 * dK + 2 * dV + 3), bytes: F * B * T * (2 * dK + 2 * dV) };
}

/** Its backward: twice the forward (gradients into q, k and v through both products). */
export function attentionBackwardCost(B: number, T: number, dK: number, dV: number, window: number): Cost {
  const f = attentionForwardCost(B, T, dK, dV, window);
  return { flops: 2 * f.flops, bytes: F * B * T * (3 * dK + 3 * dV) };
}

/**
 * Adam on n parameters (src/train/adam.ts): m update 3, v update 4, parameter update 5 (sqrt, add,
 * divide, multiply, subtract) = 12 FLOPs each; reads p, g, m, v and writes p, m, v (28 bytes each).
 */
export function adamCost(n: number): Cost {
  return { flops: 12 * n, bytes: 7 * F * n };
}
