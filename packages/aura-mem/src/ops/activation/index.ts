/** The activation op (elementwise tanh / sigmoid + backward): interface, TS reference, WASM SIMD kernel. */
export type { ActivationOp } from "./types.js";
export { activationNaive, sigmoid64 } from "./naive.js";
export { activationWasm, ACTIVATION_SMALL_CUTOFF } from "./wasm.js";
export type { ActivationWasmOptions } from "./wasm.js";
