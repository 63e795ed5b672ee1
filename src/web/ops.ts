/**
 * Op bundle for runtimes without a file system (browsers): the WASM SIMD kernels instantiated from
 * bytes the caller fetched, or the TypeScript reference ops when the runtime has no WASM SIMD.
 * (`createOps` in src/ops/index.ts reads build/aura.wasm from disk, which only Node can do; both share
 * its fallback, `opsWithFallback`.)
 */
import { naiveOps, opsWithFallback, type Ops } from "aura-mem/ops/index";
import { instantiateKernels } from "aura-mem/wasm/runtime";

/** Ops on the kernels in `wasmBytes`; falls back to the TS reference ops (with `warn`) without SIMD or when the bytes do not load. */
export function opsFromWasmBytes(wasmBytes: BufferSource | null, warn: (msg: string) => void = console.warn): Ops {
  if (wasmBytes === null) {
    warn("aura-mem: no kernel module given; using the (slow) TypeScript reference ops");
    return naiveOps();
  }
  return opsWithFallback(() => instantiateKernels(wasmBytes), warn);
}
