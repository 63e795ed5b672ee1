// Roofline probes of `aura bench-speed`: how fast can this runtime multiply-add f32x4 vectors, and how
// fast can it stream memory? Not used by the models; the benchmark times them in JS and the test
// (test/roofline.test.ts) checks their results against the TypeScript reference in
// src/wasm/roofline.ts. Neither kernel allocates.
//
// Headers (u32 fields; f32 fields marked):
//   roof_madd  [iters, init, m (f32), a (f32), out]
//       12 independent v128 accumulators acc_j (lanes from init [48 f32], acc_j = init[4j .. 4j+3]),
//       `iters` times acc_j = acc_j * m + a (one f32x4.mul then one f32x4.add: base WASM SIMD has no
//       FMA, so 2 flops per lane), then out [48 f32] = the accumulators. FLOPs = 2 * 4 * 12 * iters.
//   roof_read  [n, x, out]
//       streams x [n f32] (n a multiple of 16) into 4 v128 partial sums: acc_k += x[16i + 4k .. +3],
//       out [16 f32] = the partial sums. Bytes read = 4 n.
import { hdrU32, hdrF32 } from "./common";

/** Number of v128 accumulators of {@link roof_madd} (12 of the 16 x86-64 xmm registers). */
const ROOF_MADD_ACC: i32 = 12; // documentation: the loop below is unrolled by hand

/** f32x4 multiply-add throughput probe. Header [iters, init, m (f32), a (f32), out]. */
export function roof_madd(hdr: usize): void {
  const iters = <i32>hdrU32(hdr, 0);
  const init = <usize>hdrU32(hdr, 1);
  const m = f32x4.splat(hdrF32(hdr, 2));
  const a = f32x4.splat(hdrF32(hdr, 3));
  const out = <usize>hdrU32(hdr, 4);
  let c0 = v128.load(init, 0);
  let c1 = v128.load(init, 16);
  let c2 = v128.load(init, 32);
  let c3 = v128.load(init, 48);
  let c4 = v128.load(init, 64);
  let c5 = v128.load(init, 80);
  let c6 = v128.load(init, 96);
  let c7 = v128.load(init, 112);
  let c8 = v128.load(init, 128);
  let c9 = v128.load(init, 144);
  let c10 = v128.load(init, 160);
  let c11 = v128.load(init, 176);
  for (let i = 0; i < iters; i++) {
    c0 = f32x4.add(f32x4.mul(c0, m), a);
    c1 = f32x4.add(f32x4.mul(c1, m), a);
    c2 = f32x4.add(f32x4.mul(c2, m), a);
    c3 = f32x4.add(f32x4.mul(c3, m), a);
    c4 = f32x4.add(f32x4.mul(c4, m), a);
    c5 = f32x4.add(f32x4.mul(c5, m), a);
    c6 = f32x4.add(f32x4.mul(c6, m), a);
    c7 = f32x4.add(f32x4.mul(c7, m), a);
    c8 = f32x4.add(f32x4.mul(c8, m), a);
    c9 = f32x4.add(f32x4.mul(c9, m), a);
    c10 = f32x4.add(f32x4.mul(c10, m), a);
    c11 = f32x4.add(f32x4.mul(c11, m), a);
  }
  v128.store(out, c0, 0);
  v128.store(out, c1, 16);
  v128.store(out, c2, 32);
  v128.store(out, c3, 48);
  v128.store(out, c4, 64);
  v128.store(out, c5, 80);
  v128.store(out, c6, 96);
  v128.store(out, c7, 112);
  v128.store(out, c8, 128);
  v128.store(out, c9, 144);
  v128.store(out, c10, 160);
  v128.store(out, c11, 176);
}

/** Streaming-read bandwidth probe. Header [n, x, out]; n a multiple of 16 (checked by the caller). */
export function roof_read(hdr: usize): void {
  const n = <i32>hdrU32(hdr, 0);
  const x = <usize>hdrU32(hdr, 1);
  const out = <usize>hdrU32(hdr, 2);
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  for (let i = 0; i < n; i += 16) {
    const p = x + (<usize>i << 2);
    s0 = f32x4.add(s0, v128.load(p, 0, 4));
    s1 = f32x4.add(s1, v128.load(p, 16, 4));
    s2 = f32x4.add(s2, v128.load(p, 32, 4));
    s3 = f32x4.add(s3, v128.load(p, 48, 4));
  }
  v128.store(out, s0, 0);
  v128.store(out, s1, 16);
  v128.store(out, s2, 32);
  v128.store(out, s3, 48);
}
