/**
 * WASM SIMD implementation of {@link DenseOp} (kernels in assembly/dense.ts).
 *
 * One {@link Arena} per op instance: each call copies its inputs into the kernel module's linear
 * memory, runs one kernel, copies the outputs out and resets the arena in `finally`. Header fields
 * are written through a cached view of the memory (refreshed only after the memory grew), so the
 * per-call overhead is a few hundred nanoseconds plus the copies.
 */
import { Arena, WasmError, kernelFn, type WasmKernels } from "../../wasm/runtime.js";
import { ShapeError } from "../../errors.js";
import type { DenseOp } from "./types.js";
import { L2NORM_EPS } from "./types.js";

type Kernel = (hdr: number) => void;

/** Throw a ShapeError unless every dimension is a non-negative integer and each array has its size. */
function checkDims(dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0x3fffffff) {
      throw new ShapeError(`dense: ${name} must be a non-negative integer, got ${String(v)}`);
    }
  }
}
function checkArr(name: string, a: unknown, n: number, shape: string): void {
  if (!(a instanceof Float32Array)) throw new ShapeError(`dense: ${name} must be a Float32Array ${shape}`);
  if (a.length !== n) throw new ShapeError(`dense: ${name} must have ${n} values ${shape}, got ${a.length}`);
}

/**
 * Low-level access shared by the dense wrapper: an arena plus cached typed views over the kernel
 * memory (re-taken when the memory grows).
 */
export class KernelCall {
  readonly arena: Arena;
  private u32: Uint32Array;
  private f32v: Float32Array;
  constructor(readonly kernels: WasmKernels) {
    this.arena = new Arena(kernels);
    this.u32 = new Uint32Array(kernels.memory.buffer);
    this.f32v = new Float32Array(kernels.memory.buffer);
  }
  /** Current f32 view of the whole memory (take it after the last allocation of a call). */
  f32(): Float32Array {
    if (this.f32v.buffer !== this.kernels.memory.buffer) this.refresh();
    return this.f32v;
  }
  private refresh(): void {
    this.u32 = new Uint32Array(this.kernels.memory.buffer);
    this.f32v = new Float32Array(this.kernels.memory.buffer);
  }
  /** Reserve `n` floats (not zeroed). */
  reserve(n: number): number {
    return this.arena.allocBytes(n * 4);
  }
  /** Overwrite u32 field `i` of a header written by {@link KernelCall.header} (between kernel calls). */
  setU32(hdr: number, i: number, v: number): void {
    if (this.u32.buffer !== this.kernels.memory.buffer) this.refresh();
    this.u32[(hdr >>> 2) + i] = v;
  }
  /** Write a header of u32 fields, with f32 fields at the given indexes; returns its pointer. */
  header(fields: readonly number[], f32At = -1, f32At2 = -1): number {
    const p = this.arena.allocBytes(fields.length * 4);
    if (this.u32.buffer !== this.kernels.memory.buffer) this.refresh();
    const base = p >>> 2;
    for (let i = 0; i < fields.length; i++) {
      if (i === f32At || i === f32At2) this.f32v[base + i] = fields[i]!;
      else this.u32[base + i] = fields[i]!;
    }
    return p;
  }
}

/** WASM SIMD dense op; reuses one arena per instance (not re-entrant, like every kernel wrapper). */
export function denseWasm(k: WasmKernels): DenseOp {
  const call = new KernelCall(k);
  const arena = call.arena;
  const fwd = kernelFn<Kernel>(k, "dense_forward");
  const bwd = kernelFn<Kernel>(k, "dense_backward");
  const l2f = kernelFn<Kernel>(k, "l2norm_forward");
  const l2b = kernelFn<Kernel>(k, "l2norm_backward");

  return {
    forward(x, W, b, M, K, N) {
      checkDims({ M, K, N });
      checkArr("x", x, M * K, `[M=${M}, K=${K}]`);
      checkArr("W", W, K * N, `[K=${K}, N=${N}]`);
      if (b !== null) checkArr("b", b, N, `[N=${N}]`);
      try {
        const px = call.reserve(x.length);
        const pW = call.reserve(W.length);
        const pb = b ? call.reserve(N) : 0;
        const py = call.reserve(M * N);
        const h = call.header([M, K, N, px, pW, pb, py]);
        const mem = call.f32();
        mem.set(x, px >>> 2);
        mem.set(W, pW >>> 2);
        if (b) mem.set(b, pb >>> 2);
        fwd(h);
        return arena.take(py, M * N);
      } finally {
        arena.reset();
      }
    },

    backward(x, W, dy, M, K, N, needDx = true) {
      checkDims({ M, K, N });
      checkArr("x", x, M * K, `[M=${M}, K=${K}]`);
      checkArr("W", W, K * N, `[K=${K}, N=${N}]`);
      checkArr("dy", dy, M * N, `[M=${M}, N=${N}]`);
      try {
        const px = call.reserve(x.length);
        const pW = needDx ? call.reserve(W.length) : 0;
        const pdy = call.reserve(dy.length);
        const pdx = needDx ? call.reserve(M * K) : 0;
        const pdW = call.reserve(K * N);
        const pdb = call.reserve(N);
        const h = call.header([M, K, N, px, pW, pdy, pdx, pdW, pdb]);
        const mem = call.f32();
        mem.set(x, px >>> 2);
        if (needDx) mem.set(W, pW >>> 2);
        mem.set(dy, pdy >>> 2);
        bwd(h);
        return {
          dx: needDx ? arena.take(pdx, M * K) : null,
          dW: arena.take(pdW, K * N),
          db: arena.take(pdb, N),
        };
      } finally {
        arena.reset();
      }
    },

    l2normForward(x, M, D) {
      checkDims({ M, D });
      checkArr("x", x, M * D, `[M=${M}, D=${D}]`);
      try {
        const px = call.reserve(x.length);
        const py = call.reserve(x.length);
        const h = call.header([M, D, px, py, L2NORM_EPS], 4);
        call.f32().set(x, px >>> 2);
        l2f(h);
        return arena.take(py, M * D);
      } finally {
        arena.reset();
      }
    },

    l2normBackward(x, dy, M, D) {
      checkDims({ M, D });
      checkArr("x", x, M * D, `[M=${M}, D=${D}]`);
      checkArr("dy", dy, M * D, `[M=${M}, D=${D}]`);
      try {
        const px = call.reserve(x.length);
        const pdy = call.reserve(dy.length);
        const pdx = call.reserve(x.length);
        const h = call.header([M, D, px, pdy, pdx, L2NORM_EPS], 5);
        const mem = call.f32();
        mem.set(x, px >>> 2);
        mem.set(dy, pdy >>> 2);
        l2b(h);
        return arena.take(pdx, M * D);
      } finally {
        arena.reset();
      }
    },
  };
}

/**
 * `y = x W + b` with W and b kept resident in wasm memory, for a control loop that calls the same
 * layer every step (batch-1 matvec at K = 4096 spends about as long copying W into wasm memory as
 * multiplying by it).
 */
export interface ResidentDense {
  readonly K: number;
  readonly N: number;
  /** y [M, N] = x [M, K] W + b with the weights of the last {@link ResidentDense.update}. */
  forward(x: Float32Array, M: number): Float32Array;
  /** Copy new weights in (needed after anything changed W or b, e.g. an optimiser step). */
  update(W: Float32Array, b: Float32Array | null): void;
}

const CANARY = [0x41555241, 0x2d6d656d, 0x72657369, 0x64656e74];

/**
 * Make a {@link ResidentDense}. `dedicated` must be a kernel instance used by nothing else (e.g. a
 * fresh `loadKernels()`; each instance has its own memory): the weights live at the bottom of its
 * heap between calls, where any other wrapper's arena would overwrite them. A canary in front of the
 * weights turns most such misuse into a WasmError instead of silently wrong outputs.
 */
export function residentDense(dedicated: WasmKernels, W: Float32Array, b: Float32Array | null, K: number, N: number): ResidentDense {
  checkDims({ K, N });
  const call = new KernelCall(dedicated);
  const arena = call.arena;
  const fwd = kernelFn<Kernel>(dedicated, "dense_forward");
  // Fixed layout from the bottom of the heap: canary (16 B) | W | b. The arena is reset before every
  // call and re-reserves the same regions (a bump allocator is deterministic), so they persist.
  const layout = (): { pC: number; pW: number; pb: number } => {
    arena.reset();
    const pC = arena.allocBytes(16);
    const pW = call.reserve(K * N);
    const pb = call.reserve(N);
    return { pC, pW, pb };
  };
  let hasBias = false;
  const update = (W2: Float32Array, b2: Float32Array | null): void => {
    checkArr("W", W2, K * N, `[K=${K}, N=${N}]`);
    if (b2 !== null) checkArr("b", b2, N, `[N=${N}]`);
    const { pC, pW, pb } = layout();
    const mem = call.f32();
    mem.set(W2, pW >>> 2);
    if (b2) mem.set(b2, pb >>> 2);
    new Uint32Array(dedicated.memory.buffer, pC, 4).set(CANARY);
    hasBias = b2 !== null;
  };
  update(W, b);
  return {
    K,
    N,
    update,
    forward(x, M) {
      checkDims({ M });
      checkArr("x", x, M * K, `[M=${M}, K=${K}]`);
      const { pC, pW, pb } = layout();
      const c = new Uint32Array(dedicated.memory.buffer, pC, 4);
      if (c[0] !== CANARY[0] || c[1] !== CANARY[1] || c[2] !== CANARY[2] || c[3] !== CANARY[3]) {
        throw new WasmError("residentDense: its kernel instance was used by another wrapper (weights overwritten)");
      }
      const px = call.reserve(M * K);
      const py = call.reserve(M * N);
      const h = call.header([M, K, N, px, pW, hasBias ? pb : 0, py]);
      call.f32().set(x, px >>> 2);
      fwd(h);
      return arena.take(py, M * N);
    },
  };
}
