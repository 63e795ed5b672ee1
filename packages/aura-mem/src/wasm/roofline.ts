/**
 * Roofline probes (kernels in assembly/roofline.ts) and their plain TypeScript references.
 *
 * `aura bench-speed` times the kernels to measure this runtime's f32x4 multiply-add peak and its
 * streaming-read bandwidth (src/bench/roofline.ts); test/roofline.test.ts checks the kernels compute
 * exactly what the references below compute. The models never call them.
 *
 * - {@link roofMaddNaive}: {@link ROOF_MADD_ACC} independent 4-lane accumulators, `iters` times
 *   `acc = acc * m + a` (an f32 multiply, then an f32 add: base WebAssembly SIMD has no fused
 *   multiply-add). FLOPs = {@link roofMaddFlops}.
 * - {@link roofReadNaive}: 16 partial sums over `x` (n a multiple of 16), `sum[l] += x[16 i + l]`.
 *   Bytes read = 4 n.
 */
import { Arena, kernelFn, WasmError, type WasmKernels } from "./runtime.js";

/** Independent v128 accumulators of the multiply-add probe. */
export const ROOF_MADD_ACC = 12;
/** f32 lanes of the multiply-add probe's state: {@link ROOF_MADD_ACC} x 4. */
export const ROOF_MADD_LANES = ROOF_MADD_ACC * 4;
/** Partial sums of the read probe (4 v128 accumulators x 4 lanes); n must be a multiple of it. */
export const ROOF_READ_LANES = 16;

/** FLOPs of one multiply-add probe call: 2 (mul + add) x 4 lanes x {@link ROOF_MADD_ACC} x iters. */
export function roofMaddFlops(iters: number): number {
  return 2 * ROOF_MADD_LANES * iters;
}

/** Reference of `roof_madd`: `iters` times `acc[l] = fround(fround(acc[l] * m) + a)` on 48 lanes. */
export function roofMaddNaive(init: Float32Array, m: number, a: number, iters: number): Float32Array {
  if (init.length !== ROOF_MADD_LANES) throw new WasmError(`roofMadd: init must hold ${ROOF_MADD_LANES} floats, got ${init.length}`);
  const acc = new Float32Array(init);
  const mf = Math.fround(m);
  const af = Math.fround(a);
  for (let i = 0; i < iters; i++) for (let l = 0; l < ROOF_MADD_LANES; l++) acc[l] = Math.fround(acc[l]! * mf) + af;
  return acc;
}

/** Reference of `roof_read`: the 16 partial sums `sum[l] = x[l] + x[16 + l] + ...` in that order. */
export function roofReadNaive(x: Float32Array): Float32Array {
  checkReadLength(x.length);
  const s = new Float32Array(ROOF_READ_LANES);
  for (let i = 0; i < x.length; i += ROOF_READ_LANES) for (let l = 0; l < ROOF_READ_LANES; l++) s[l] = s[l]! + x[i + l]!;
  return s;
}

function checkReadLength(n: number): void {
  if (!Number.isInteger(n) || n <= 0 || n % ROOF_READ_LANES !== 0) throw new WasmError(`roofRead: length must be a positive multiple of ${ROOF_READ_LANES}, got ${n}`);
}

/** A buffer resident in the kernel module's memory, streamed by `roof_read` on each {@link ResidentRead.run}. */
export interface ResidentRead {
  /** Bytes one run reads. */
  readonly bytes: number;
  /** Stream the buffer once; returns the 16 partial sums. */
  run(): Float32Array;
  /** Free the buffer (resets the probe's arena). */
  release(): void;
}

/** The probes on a kernel instance (give them their own: the read probe grows its memory by the buffer size). */
export interface RooflineProbes {
  /** `roof_madd` on `init` (48 floats). */
  madd(init: Float32Array, m: number, a: number, iters: number): Float32Array;
  /** `roof_read` on a copy of `x`. */
  read(x: Float32Array): Float32Array;
  /** Allocate (zero-filled, which also touches every page) an `n`-float buffer for repeated reads. */
  resident(n: number): ResidentRead;
}

/** The WASM probes; not re-entrant (one arena). */
export function rooflineWasm(k: WasmKernels): RooflineProbes {
  const arena = new Arena(k);
  const kMadd = kernelFn<(h: number) => void>(k, "roof_madd");
  const kRead = kernelFn<(h: number) => void>(k, "roof_read");
  return {
    madd(init, m, a, iters) {
      if (init.length !== ROOF_MADD_LANES) throw new WasmError(`roofMadd: init must hold ${ROOF_MADD_LANES} floats, got ${init.length}`);
      try {
        const pi = arena.put(init);
        const po = arena.alloc(ROOF_MADD_LANES);
        kMadd(arena.header([iters, pi, m, a, po], [2, 3]));
        return arena.take(po, ROOF_MADD_LANES);
      } finally {
        arena.reset();
      }
    },
    read(x) {
      checkReadLength(x.length);
      try {
        const px = arena.put(x);
        const po = arena.alloc(ROOF_READ_LANES);
        kRead(arena.header([x.length, px, po]));
        return arena.take(po, ROOF_READ_LANES);
      } finally {
        arena.reset();
      }
    },
    resident(n) {
      checkReadLength(n);
      arena.reset();
      const px = arena.alloc(n);
      const po = arena.alloc(ROOF_READ_LANES);
      const h = arena.header([n, px, po]);
      return {
        bytes: 4 * n,
        run() {
          kRead(h);
          return arena.take(po, ROOF_READ_LANES);
        },
        release() {
          arena.reset();
        },
      };
    },
  };
}
