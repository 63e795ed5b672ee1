// Shared helpers for the aura-mem kernels.
//
// Calling convention (see src/wasm/runtime.ts): every kernel takes one pointer `hdr` to a small
// header of u32 fields (shapes and buffer pointers) written by the TypeScript wrapper, instead of a
// long list of positional numbers. Kernels never allocate: the TypeScript side owns all memory above
// `heapBase()` and frees it by resetting its arena after each call.

/** First byte the host may use for buffers. */
export function heapBase(): usize {
  return __heap_base;
}

/** Read u32 field `i` of a header as a pointer or a size. */
// @ts-ignore: decorator
@inline export function hdrU32(hdr: usize, i: i32): u32 {
  return load<u32>(hdr + (<usize>i << 2));
}

/** Read f32 field `i` of a header (scalars such as a scale or a threshold are stored as f32 bits). */
// @ts-ignore: decorator
@inline export function hdrF32(hdr: usize, i: i32): f32 {
  return load<f32>(hdr + (<usize>i << 2));
}
