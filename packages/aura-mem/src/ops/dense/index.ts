/** The dense op (affine map + row-wise L2 normalisation): interface, TS reference, WASM SIMD kernel. */
export type { DenseOp } from "./types.js";
export { L2NORM_EPS } from "./types.js";
export { denseNaive } from "./naive.js";
export { denseWasm, residentDense } from "./wasm.js";
export type { ResidentDense } from "./wasm.js";
