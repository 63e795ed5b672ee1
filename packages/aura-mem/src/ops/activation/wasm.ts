/**
 * WASM SIMD implementation of {@link ActivationOp} (kernels in assembly/activation.ts).
 *
 * One {@link Arena} per op instance: each call copies its input(s) into the kernel module's linear
 * memory, runs one kernel (in place there: the output overwrites the input region, so a call needs
 * only n floats, or 2n for a backward pass), copies the result out and resets the arena in `finally`.
 * Header fields are written through cached typed views of the memory, re-taken only after it grew.
 *
 * Arrays shorter than {@link ACTIVATION_SMALL_CUTOFF} elements are computed in TypeScript with the
 * reference ({@link activationNaive}): below that, the copies in and out and the call cost more than
 * Math.tanh itself. Pass `{ smallCutoff: 0 }` to send every call through the kernel (tests do).
 */
import { Arena, kernelFn, type WasmKernels } from "../../wasm/runtime.js";
import type { ActivationOp } from "./types.js";
import { activationNaive, checkPair, checkX } from "./naive.js";

type Kernel = (hdr: number) => void;

/** Default length below which the WASM op computes in TypeScript instead of calling the kernel. */
export const ACTIVATION_SMALL_CUTOFF = 64;

/** Options of {@link activationWasm}. */
export interface ActivationWasmOptions {
  /**
   * Arrays with fewer elements than this are computed in TypeScript (default
   * {@link ACTIVATION_SMALL_CUTOFF}); 0 sends everything to the kernel.
   */
  smallCutoff?: number;
}

/** WASM SIMD activation op; reuses one arena per instance (not re-entrant, like every kernel wrapper). */
export function activationWasm(k: WasmKernels, opts: ActivationWasmOptions = {}): ActivationOp {
  const cutoff = opts.smallCutoff ?? ACTIVATION_SMALL_CUTOFF;
  const arena = new Arena(k);
  const kTanh = kernelFn<Kernel>(k, "act_tanh");
  const kSigmoid = kernelFn<Kernel>(k, "act_sigmoid");
  const kTanhBwd = kernelFn<Kernel>(k, "act_tanh_backward");
  const kSigmoidBwd = kernelFn<Kernel>(k, "act_sigmoid_backward");
  let u32 = new Uint32Array(k.memory.buffer);
  let f32 = new Float32Array(k.memory.buffer);
  const refresh = (): void => {
    if (f32.buffer !== k.memory.buffer) {
      u32 = new Uint32Array(k.memory.buffer);
      f32 = new Float32Array(k.memory.buffer);
    }
  };

  /** Run a [n, x, y] kernel in place in wasm memory; result into `out` or a new array. */
  const unary = (kernel: Kernel, x: Float32Array, out: Float32Array | null): Float32Array => {
    const n = x.length;
    try {
      const h = arena.allocBytes(16);
      const px = arena.allocBytes(n * 4);
      refresh();
      const hi = h >>> 2;
      const xi = px >>> 2;
      u32[hi] = n;
      u32[hi + 1] = px;
      u32[hi + 2] = px;
      f32.set(x, xi);
      kernel(h);
      if (out) {
        out.set(f32.subarray(xi, xi + n));
        return out;
      }
      // new + set: TypedArray.slice of a view over wasm memory is several times slower in V8.
      const y = new Float32Array(n);
      y.set(f32.subarray(xi, xi + n));
      return y;
    } finally {
      arena.reset();
    }
  };

  /** Run a [n, y, dy, dx] kernel with dx written over dy in wasm memory. */
  const binary = (kernel: Kernel, y: Float32Array, dy: Float32Array): Float32Array => {
    const n = y.length;
    try {
      const h = arena.allocBytes(16);
      const py = arena.allocBytes(n * 4);
      const pdy = arena.allocBytes(n * 4);
      refresh();
      const hi = h >>> 2;
      const dyi = pdy >>> 2;
      u32[hi] = n;
      u32[hi + 1] = py;
      u32[hi + 2] = pdy;
      u32[hi + 3] = pdy;
      f32.set(y, py >>> 2);
      f32.set(dy, dyi);
      kernel(h);
      const dx = new Float32Array(n);
      dx.set(f32.subarray(dyi, dyi + n));
      return dx;
    } finally {
      arena.reset();
    }
  };

  return {
    tanh(x) {
      checkX("tanh", x);
      return x.length < cutoff ? activationNaive.tanh(x) : unary(kTanh, x, null);
    },
    tanhBackward(y, dy) {
      checkPair("tanhBackward", y, dy);
      return y.length < cutoff ? activationNaive.tanhBackward(y, dy) : binary(kTanhBwd, y, dy);
    },
    sigmoid(x) {
      checkX("sigmoid", x);
      return x.length < cutoff ? activationNaive.sigmoid(x) : unary(kSigmoid, x, null);
    },
    sigmoidBackward(y, dy) {
      checkPair("sigmoidBackward", y, dy);
      return y.length < cutoff ? activationNaive.sigmoidBackward(y, dy) : binary(kSigmoidBwd, y, dy);
    },
    tanhInPlace(x) {
      checkX("tanhInPlace", x);
      return x.length < cutoff ? activationNaive.tanhInPlace(x) : unary(kTanh, x, x);
    },
  };
}
