/**
 * The WebAssembly boundary of aura-mem.
 *
 * One module (`build/aura.wasm`, compiled from `assembly/` by `npm run build`) holds every SIMD
 * kernel. The TypeScript side owns all linear memory above the module's `heapBase()`: an {@link Arena}
 * hands out 16-byte aligned regions for one kernel call and is reset in `finally` afterwards
 * (whoever allocates frees). Kernels take a single pointer to a header of u32/f32 fields written by
 * {@link Arena.header}; they never allocate.
 *
 * Nothing here is a hidden global: a {@link WasmKernels} value is created by {@link instantiateKernels}
 * (any runtime, from bytes) or {@link loadKernels} (Node, from disk, cached per path because compiling
 * the module is the only expensive part and the compiled module is immutable).
 */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

/** Raised when the WebAssembly kernels cannot be loaded or a kernel call is malformed. */
export class WasmError extends Error {
  override name = "WasmError";
}

/** An instantiated kernel module: its exports and its linear memory. */
export interface WasmKernels {
  readonly exports: Record<string, unknown>;
  readonly memory: WebAssembly.Memory;
  /** First free byte above the module's static data. */
  readonly heapBase: number;
  /** The compiled module this instance came from ({@link siblingKernels} instantiates it again). */
  readonly module: WebAssembly.Module;
}

/** Instantiate the kernel module from its bytes (works in Node and in browsers). */
export function instantiateKernels(bytes: BufferSource): WasmKernels {
  return instantiateModule(new WebAssembly.Module(bytes));
}

/**
 * A fresh instance (its own linear memory) of the module `k` came from, in any runtime: for a user
 * that must own its heap, such as the fused step engine beside a model's ops.
 */
export function siblingKernels(k: WasmKernels): WasmKernels {
  return instantiateModule(k.module);
}

function instantiateModule(module: WebAssembly.Module): WasmKernels {
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort(_msg: number, _file: number, line: number, col: number): never {
        throw new WasmError(`wasm kernel aborted at ${line}:${col}`);
      },
    },
  });
  const ex = instance.exports as Record<string, unknown>;
  const memory = ex.memory as WebAssembly.Memory | undefined;
  if (!memory) throw new WasmError("kernel module exports no memory");
  if (typeof ex._initialize === "function") (ex._initialize as () => void)();
  const heapBase = Number((ex.heapBase as () => number)());
  return { exports: ex, memory, heapBase, module };
}

const compiled = new Map<string, WebAssembly.Module>();

/** Default location of the built module: `<package>/build/aura.wasm`. */
export function defaultWasmPath(): string {
  // This file is src/wasm/runtime.ts (run through tsx) or dist/src/wasm/runtime.js (built).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = resolve(dir, "build", "aura.wasm");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "build", "aura.wasm");
}

/**
 * Load the kernels in Node. Each call returns a fresh instance (its own memory); the compiled
 * module is cached per path.
 * @throws WasmError if the file is missing (run `npm run build`) or is not a valid module.
 */
export function loadKernels(path: string = defaultWasmPath()): WasmKernels {
  let mod = compiled.get(path);
  if (!mod) {
    if (!existsSync(path)) throw new WasmError(`kernel module not found at ${path}: run \`npm run build\``);
    mod = new WebAssembly.Module(readFileSync(path));
    compiled.set(path, mod);
  }
  return instantiateModule(mod);
}

/** True when this runtime validates a module using 128-bit SIMD. */
export function simdSupported(): boolean {
  // (module (func (result v128) v128.const i32x4 0 0 0 0))
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  try {
    return WebAssembly.validate(probe);
  } catch {
    return false;
  }
}

/**
 * Bump allocator over the kernel module's linear memory for the duration of one call.
 *
 * Usage: `const a = new Arena(k); try { const px = a.put(x); const py = a.alloc(n); ...;
 * kernel(a.header([...])); a.read(py, out) } finally { a.reset() }`. Typed-array views returned by
 * {@link Arena.f32} are invalidated when memory grows, so take them after the last `alloc`.
 */
export class Arena {
  private top: number;
  constructor(readonly kernels: WasmKernels) {
    this.top = align16(kernels.heapBase);
  }
  /** Release everything allocated since construction or the last reset. */
  reset(): void {
    this.top = align16(this.kernels.heapBase);
  }
  /** Reserve `bytes` (16-byte aligned), growing memory as needed; returns the byte offset. */
  allocBytes(bytes: number): number {
    if (!Number.isFinite(bytes) || bytes < 0) throw new WasmError(`invalid allocation size ${bytes}`);
    const ptr = this.top;
    const end = align16(ptr + bytes);
    const mem = this.kernels.memory;
    if (end > mem.buffer.byteLength) {
      const pages = Math.ceil((end - mem.buffer.byteLength) / 65536);
      try {
        mem.grow(pages);
      } catch (err) {
        throw new WasmError(`wasm memory cannot grow to ${end} bytes: ${(err as Error).message}`);
      }
    }
    this.top = end;
    return ptr;
  }
  /** Reserve `n` zero-filled f32 values. */
  alloc(n: number): number {
    const p = this.allocBytes(n * 4);
    new Float32Array(this.kernels.memory.buffer, p, n).fill(0);
    return p;
  }
  /** Copy `src` into fresh memory; returns its offset. */
  put(src: Float32Array | ArrayLike<number>): number {
    const p = this.allocBytes(src.length * 4);
    new Float32Array(this.kernels.memory.buffer, p, src.length).set(src);
    return p;
  }
  /** Write a header of u32 fields (integers) and f32 fields (numbers flagged in `f32At`). */
  header(fields: readonly number[], f32At: readonly number[] = []): number {
    const p = this.allocBytes(fields.length * 4);
    const u = new Uint32Array(this.kernels.memory.buffer, p, fields.length);
    const f = new Float32Array(this.kernels.memory.buffer, p, fields.length);
    for (let i = 0; i < fields.length; i++) {
      if (f32At.includes(i)) f[i] = fields[i]!;
      else {
        const v = fields[i]!;
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new WasmError(`header field ${i} is not a u32: ${v}`);
        u[i] = v;
      }
    }
    return p;
  }
  /** A live view (invalidated by the next growth). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.kernels.memory.buffer, ptr, n);
  }
  /** Copy `n = out.length` values at `ptr` into `out`; returns `out`. */
  read(ptr: number, out: Float32Array): Float32Array {
    out.set(new Float32Array(this.kernels.memory.buffer, ptr, out.length));
    return out;
  }
  /** Copy `n` values at `ptr` into a new array. */
  take(ptr: number, n: number): Float32Array<ArrayBuffer> {
    // a typed-array copy is ~10x faster than ArrayBuffer.slice on wasm memory
    return new Float32Array(new Float32Array(this.kernels.memory.buffer, ptr, n));
  }
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Look up a kernel export by name, with a clear error when the module is stale. */
export function kernelFn<F extends (...args: number[]) => unknown>(k: WasmKernels, name: string): F {
  const f = k.exports[name];
  if (typeof f !== "function") throw new WasmError(`kernel ${name} missing from aura.wasm: rebuild with \`npm run build\``);
  return f as F;
}
