/**
 * Shared op vocabulary. Every op folder `src/ops/<op>/` exports a plain TypeScript reference
 * (`naive.ts`) and a WASM SIMD implementation (`wasm.ts`, kernels in `assembly/<op>.ts`) of one
 * interface; tests compare the two, and the model code only sees the interface.
 *
 * Layout conventions (row-major Float32Array): sequences are `[B, T, D]` (index `(b*T + t)*D + d`),
 * fast-weight state is `M [B, dK, dV]` + `m [B, dV]`, matrices `W [K, N]` map `x [.., K]` to `[.., N]`.
 */
export type Backend = "ts" | "wasm";
