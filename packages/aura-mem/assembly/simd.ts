// f32x4 helpers shared by the kernels (all inlined). Pointers are byte offsets into linear memory.

/** Load 4 f32 at p (4-byte aligned). */
// @ts-ignore: decorator
@inline export function ld(p: usize): v128 {
  return v128.load(p, 0, 4);
}
/** Store 4 f32 at p. */
// @ts-ignore: decorator
@inline export function st(p: usize, v: v128): void {
  v128.store(p, v, 0, 4);
}
/** Broadcast the f32 at p to 4 lanes. */
// @ts-ignore: decorator
@inline export function splat(p: usize): v128 {
  return v128.load32_splat(p, 0, 4);
}
/** acc + a * b (no fused multiply-add in baseline WASM SIMD). */
// @ts-ignore: decorator
@inline export function madd(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}
/** Horizontal sums of four vectors, as one vector [sum a0, sum a1, sum a2, sum a3]. */
// @ts-ignore: decorator
@inline export function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}
/** Horizontal sum of one vector: (a0 + a2) + (a1 + a3). */
// @ts-ignore: decorator
@inline export function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2)) + (f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3));
}
