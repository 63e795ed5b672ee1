/**
 * The op bundle the models run on: one backend for every op, chosen once.
 *
 * `"wasm"` runs the AssemblyScript SIMD kernels (build/aura.wasm); `"ts"` runs the plain TypeScript
 * references beside them (same maths, readable, slow). `"auto"` picks WASM when the runtime supports
 * SIMD and the module loads, and otherwise falls back to TS with one warning (nanoGPT's flash switch).
 */
import type { Backend } from "./types.js";
import { denseNaive, denseWasm, type DenseOp } from "./dense/index.js";
import { deltaRuleNaive, deltaRuleWasm, type DeltaRuleOp } from "./delta_rule/index.js";
import { rnnNaive, rnnWasm, type RnnOp } from "./rnn/index.js";
import { attentionNaive, attentionWasm, type AttentionOp } from "./attention/index.js";
import { activationNaive, activationWasm, type ActivationOp } from "./activation/index.js";
import { loadKernels, simdSupported, type WasmKernels } from "../wasm/runtime.js";

export type { Backend } from "./types.js";

/** Every op the models use, bound to one backend. */
export interface Ops {
  readonly backend: Backend;
  readonly dense: DenseOp;
  readonly deltaRule: DeltaRuleOp;
  readonly rnn: RnnOp;
  readonly attention: AttentionOp;
  readonly act: ActivationOp;
  /** The kernel instance of the WASM ops (absent for the TS reference ops). */
  readonly kernels?: WasmKernels;
}

/** The plain TypeScript reference ops. */
export function naiveOps(): Ops {
  return { backend: "ts", dense: denseNaive, deltaRule: deltaRuleNaive, rnn: rnnNaive, attention: attentionNaive, act: activationNaive };
}

/** The WASM SIMD ops on a kernel instance (one instance per Ops: its own linear memory). */
export function wasmOps(kernels: WasmKernels = loadKernels()): Ops {
  return {
    backend: "wasm",
    dense: denseWasm(kernels),
    deltaRule: deltaRuleWasm(kernels),
    rnn: rnnWasm(kernels),
    attention: attentionWasm(kernels),
    act: activationWasm(kernels),
    kernels,
  };
}

/**
 * Ops for a backend name. `"auto"` = WASM if available, else TS with a single console warning
 * (passed in `warn`, default console.warn).
 */
export function createOps(backend: Backend | "auto" = "auto", warn: (msg: string) => void = console.warn): Ops {
  if (backend === "ts") return naiveOps();
  if (backend === "wasm") return wasmOps();
  return opsWithFallback(loadKernels, warn);
}

/**
 * The fallback, once (for `createOps("auto")` and the browser's `opsFromWasmBytes`): the WASM ops on
 * `kernels()` when the runtime has WebAssembly SIMD and the module instantiates, else the TypeScript
 * reference ops with one warning saying why.
 */
export function opsWithFallback(kernels: () => WasmKernels, warn: (msg: string) => void = console.warn): Ops {
  if (!simdSupported()) {
    warn("aura-mem: this runtime has no WebAssembly SIMD; using the (slow) TypeScript reference ops");
    return naiveOps();
  }
  try {
    return wasmOps(kernels());
  } catch (err) {
    warn(`aura-mem: WASM kernels unavailable (${(err as Error).message}); using the TypeScript reference ops`);
    return naiveOps();
  }
}
