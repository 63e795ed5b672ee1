/**
 * Plain TypeScript reference for the activation op: Math.tanh, and a sigmoid that never evaluates
 * exp of a positive argument (no overflow for large |x|). Float64 maths, rounded to f32 on store;
 * the WASM SIMD kernel in assembly/activation.ts must match it to 5e-7 absolute.
 */
import { ShapeError } from "../../errors.js";
import type { ActivationOp } from "./types.js";

/** Numerically stable logistic function (float64). */
export function sigmoid64(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Throw a ShapeError unless y and dy are Float32Arrays of the same length. */
export function checkPair(op: string, y: unknown, dy: unknown): void {
  if (!(y instanceof Float32Array)) throw new ShapeError(`activation.${op}: y must be a Float32Array`);
  if (!(dy instanceof Float32Array)) throw new ShapeError(`activation.${op}: dy must be a Float32Array`);
  if (dy.length !== y.length) throw new ShapeError(`activation.${op}: dy has ${dy.length} values, y has ${y.length}`);
}

/** Throw a ShapeError unless x is a Float32Array. */
export function checkX(op: string, x: unknown): void {
  if (!(x instanceof Float32Array)) throw new ShapeError(`activation.${op}: x must be a Float32Array`);
}

export const activationNaive: ActivationOp = {
  tanh(x) {
    checkX("tanh", x);
    const y = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
    return y;
  },

  tanhBackward(y, dy) {
    checkPair("tanhBackward", y, dy);
    const dx = new Float32Array(y.length);
    for (let i = 0; i < y.length; i++) {
      const v = y[i]!;
      dx[i] = dy[i]! * (1 - v * v);
    }
    return dx;
  },

  sigmoid(x) {
    checkX("sigmoid", x);
    const y = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) y[i] = sigmoid64(x[i]!);
    return y;
  },

  sigmoidBackward(y, dy) {
    checkPair("sigmoidBackward", y, dy);
    const dx = new Float32Array(y.length);
    for (let i = 0; i < y.length; i++) {
      const v = y[i]!;
      dx[i] = dy[i]! * v * (1 - v);
    }
    return dx;
  },

  tanhInPlace(x) {
    checkX("tanhInPlace", x);
    for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]!);
    return x;
  },
};
