/**
 * The gated delta-rule memory cell of AURA (arXiv 2606.02775): a plain TypeScript reference
 * ({@link deltaRuleNaive}) and a WASM SIMD implementation ({@link deltaRuleWasm}) of one
 * {@link DeltaRuleOp} interface. See types.ts for the maths and README.md for the backward.
 */
export * from "./types.js";
export { deltaRuleNaive } from "./naive.js";
export { deltaRuleWasm } from "./wasm.js";
