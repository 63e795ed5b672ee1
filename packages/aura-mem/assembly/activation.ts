// Kernels for src/ops/activation: elementwise tanh / sigmoid and their backward passes.
//
// Layout: flat f32 arrays of n elements. The main loop runs f32x4 SIMD over four elements at a time;
// a scalar tail (the same maths on lane 0 of a vector, so tail and body agree bit for bit) handles
// the last n % 4. `y` may equal `x` (in-place tanh). The kernels write every output element and
// never allocate.
//
// The maths of tanh and sigmoid (and their accuracy) is the shared set in simd_math.ts.
//
// Headers (u32 fields):
//   act_tanh              [n, x, y]
//   act_sigmoid           [n, x, y]
//   act_tanh_backward     [n, y, dy, dx]   dx = dy (1 - y)(1 + y)
//   act_sigmoid_backward  [n, y, dy, dx]   dx = dy y (1 - y)
import { hdrU32 } from "./common";
import { vtanh, vsigmoid } from "./simd_math";

// @ts-ignore: decorator
@inline function ld(p: usize): v128 {
  return v128.load(p, 0, 4);
}
// @ts-ignore: decorator
@inline function st(p: usize, v: v128): void {
  v128.store(p, v, 0, 4);
}
// @ts-ignore: decorator
@inline function ld1(p: usize): v128 {
  return v128.load32_zero(p, 0, 4);
}
// @ts-ignore: decorator
@inline function st1(p: usize, v: v128): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
}
// @ts-ignore: decorator
@inline function sp(v: f32): v128 {
  return f32x4.splat(v);
}

// @ts-ignore: decorator
@inline function vtanhGrad(y: v128, dy: v128): v128 {
  // (1 - y)(1 + y) is more accurate than 1 - y*y near |y| = 1.
  return f32x4.mul(dy, f32x4.mul(f32x4.sub(sp(1.0), y), f32x4.add(sp(1.0), y)));
}

// @ts-ignore: decorator
@inline function vsigmoidGrad(y: v128, dy: v128): v128 {
  return f32x4.mul(dy, f32x4.mul(y, f32x4.sub(sp(1.0), y)));
}

/** y = tanh(x). Header [n, x, y]; y may equal x. */
export function act_tanh(hdr: usize): void {
  const n = <i32>hdrU32(hdr, 0);
  const x = <usize>hdrU32(hdr, 1);
  const y = <usize>hdrU32(hdr, 2);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const a0 = ld(x + o);
    const a1 = ld(x + o + 16);
    st(y + o, vtanh(a0));
    st(y + o + 16, vtanh(a1));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    st(y + o, vtanh(ld(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    st1(y + o, vtanh(ld1(x + o)));
  }
}

/** y = sigmoid(x). Header [n, x, y]; y may equal x. */
export function act_sigmoid(hdr: usize): void {
  const n = <i32>hdrU32(hdr, 0);
  const x = <usize>hdrU32(hdr, 1);
  const y = <usize>hdrU32(hdr, 2);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const a0 = ld(x + o);
    const a1 = ld(x + o + 16);
    st(y + o, vsigmoid(a0));
    st(y + o + 16, vsigmoid(a1));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    st(y + o, vsigmoid(ld(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    st1(y + o, vsigmoid(ld1(x + o)));
  }
}

/** dx = dy (1 - y^2). Header [n, y, dy, dx]; dx may equal y or dy. */
export function act_tanh_backward(hdr: usize): void {
  const n = <i32>hdrU32(hdr, 0);
  const y = <usize>hdrU32(hdr, 1);
  const dy = <usize>hdrU32(hdr, 2);
  const dx = <usize>hdrU32(hdr, 3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    st(dx + o, vtanhGrad(ld(y + o), ld(dy + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    st1(dx + o, vtanhGrad(ld1(y + o), ld1(dy + o)));
  }
}

/** dx = dy y (1 - y). Header [n, y, dy, dx]; dx may equal y or dy. */
export function act_sigmoid_backward(hdr: usize): void {
  const n = <i32>hdrU32(hdr, 0);
  const y = <usize>hdrU32(hdr, 1);
  const dy = <usize>hdrU32(hdr, 2);
  const dx = <usize>hdrU32(hdr, 3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    st(dx + o, vsigmoidGrad(ld(y + o), ld(dy + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    st1(dx + o, vsigmoidGrad(ld1(y + o), ld1(dy + o)));
  }
}
