// Kernels for src/ops/activation: elementwise tanh / sigmoid and their backward passes.
//
// Layout: flat f32 arrays of n elements. The main loop runs f32x4 SIMD over four elements at a time;
// a scalar tail (the same maths on lane 0 of a vector, so tail and body agree bit for bit) handles
// the last n % 4. `y` may equal `x` (in-place tanh). The kernels write every output element and
// never allocate.
//
// tanh(x), a = |x|:
//   a < 0.625:  x + x^3 P(x^2), P a degree-4 minimax-style fit of (tanh(x)/x - 1)/x^2 on [0, 0.625]
//               (approximation error 1.5e-9; keeps 0, -0 and denormals exact);
//   otherwise:  1 - 2 / (exp(2a) + 1), and exactly 1 for a >= 9.0109 (13 ln2, from where the correctly
//               rounded f32 tanh is 1, so the kernel saturates exactly where f32(Math.tanh) does);
//   then the sign of x is copied onto the result (so -0 -> -0). Max abs error vs float64 Math.tanh
//   is 8.1e-8 (exhaustive sweep of all 2^32 f32 inputs; sigmoid: 9.0e-8).
// sigmoid(x): e = exp(-|x|) (never overflows), s = 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
// exp(z): n = round(z / ln2), r = z - n ln2 (two-constant Cody-Waite), degree-6 polynomial on
//   |r| <= ln2/2 (3e-9 relative), times 2^n built in the exponent bits; for sigmoid (z down to -104)
//   as 2^(n>>1) * 2^(n - (n>>1)) so results in the denormal range (sigmoid of x ~ -100) round once.
// NaN propagates through every path (min/max propagate NaN; the selects pick the exp branch for NaN).
//
// Headers (u32 fields):
//   act_tanh              [n, x, y]
//   act_sigmoid           [n, x, y]
//   act_tanh_backward     [n, y, dy, dx]   dx = dy (1 - y)(1 + y)
//   act_sigmoid_backward  [n, y, dy, dx]   dx = dy y (1 - y)
import { hdrU32 } from "./common";

// tanh small-|x| polynomial: tanh(x) ~ x + x u (C0 + u (C1 + u (C2 + u (C3 + u C4)))), u = x^2.
const T_C0: f32 = -0.333332479;
const T_C1: f32 = 0.133307695;
const T_C2: f32 = -0.0536936522;
const T_C3: f32 = 0.0205101799;
const T_C4: f32 = -0.00557789113;
const T_SMALL: f32 = 0.625;
// Smallest f32 whose correctly rounded tanh is 1 (13 ln2 ~ 9.0109, where 2 e^{-2x} = 2^-25).
const T_SAT: f32 = 9.010913849;

const LOG2E: f32 = 1.44269504089;
// ln2 split: LN2_HI has 16 trailing zero bits in its mantissa, so n * LN2_HI is exact for |n| < 2^8.
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.42860682030941723212e-6;
const EXP_LO: f32 = -104.0;
const MAGIC: f32 = 12582912.0; // 1.5 * 2^23
const MAGIC_BITS: i32 = 0x4b400000;
// e^r on |r| <= ln2/2: 1 + r + r^2 (E2 + r (E3 + ...)), a relative-error least-squares (near
// minimax) fit: 3.1e-9 approximation error, 7.7e-8 with f32 evaluation.
const E2: f32 = 0.499999940;
const E3: f32 = 0.166665196;
const E4: f32 = 0.0416683927;
const E5: f32 = 0.00836878177;
const E6: f32 = 0.00138145010;

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
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}
// @ts-ignore: decorator
@inline function sp(v: f32): v128 {
  return f32x4.splat(v);
}

/**
 * e^z per lane; NaN -> NaN. z = n ln2 + r, |r| <= ln2/2, e^r by a degree-6 polynomial. n =
 * round(z / ln2) by the 1.5 * 2^23 trick: adding MAGIC leaves round-to-nearest(z log2 e) in the low
 * mantissa bits, so bits(t) - bits(MAGIC) is n (as i32) and t - MAGIC is n (as f32), with no
 * float-int conversion. 2^n is built in the exponent bits and applied by multiplication (a NaN p
 * stays NaN whatever the meaningless n of a NaN z is).
 * `wide` = false: z in [-87, 88] (2^n normal). `wide` = true: z in [-104, 88], 2^n applied as
 * 2^(n>>1) 2^(n - (n>>1)) (both normal for n >= -252), so results in the denormal range round once.
 * (Inlined with a constant `wide`, so the branch folds away.)
 */
// @ts-ignore: decorator
@inline function vexp(z: v128, wide: bool): v128 {
  const t = f32x4.add(f32x4.mul(z, sp(LOG2E)), sp(MAGIC));
  const nf = f32x4.sub(t, sp(MAGIC));
  const r = f32x4.sub(f32x4.sub(z, f32x4.mul(nf, sp(LN2_HI))), f32x4.mul(nf, sp(LN2_LO)));
  // e^r ~ 1 + r + r^2 (E2 + r (E3 + r (E4 + r (E5 + r E6))))
  let p = madd(r, sp(E6), sp(E5));
  p = madd(p, r, sp(E4));
  p = madd(p, r, sp(E3));
  p = madd(p, r, sp(E2));
  p = madd(p, r, sp(1.0));
  p = madd(p, r, sp(1.0));
  const n = i32x4.sub(t, i32x4.splat(MAGIC_BITS));
  const bias = i32x4.splat(127);
  if (!wide) return f32x4.mul(p, i32x4.shl(i32x4.add(n, bias), 23));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  return f32x4.mul(f32x4.mul(p, i32x4.shl(i32x4.add(n1, bias), 23)), i32x4.shl(i32x4.add(n2, bias), 23));
}

/** tanh per lane. */
// @ts-ignore: decorator
@inline function vtanh(x: v128): v128 {
  const a = f32x4.abs(x);
  // Small path (computed for every lane, selected below).
  const u = f32x4.mul(x, x);
  let q = madd(u, sp(T_C4), sp(T_C3));
  q = madd(q, u, sp(T_C2));
  q = madd(q, u, sp(T_C1));
  q = madd(q, u, sp(T_C0));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(x, u), q));
  // Large path: 1 - 2/(e^{2a} + 1) >= 0, a clamped to T_SAT (and exactly 1 from T_SAT on).
  const m = f32x4.min(a, sp(T_SAT));
  const e = vexp(f32x4.add(m, m), false);
  let big = f32x4.sub(sp(1.0), f32x4.div(sp(2.0), f32x4.add(e, sp(1.0))));
  big = v128.bitselect(sp(1.0), big, f32x4.ge(a, sp(T_SAT)));
  const r = v128.bitselect(small, big, f32x4.lt(a, sp(T_SMALL)));
  // copysign(r, x): magnitude bits from r, sign bit from x (also makes tanh(-0) = -0 exactly).
  const signMask = i32x4.splat(0x80000000);
  return v128.or(v128.andnot(r, signMask), v128.and(x, signMask));
}

/** sigmoid per lane. */
// @ts-ignore: decorator
@inline function vsigmoid(x: v128): v128 {
  const e = vexp(f32x4.max(f32x4.neg(f32x4.abs(x)), sp(EXP_LO)), true);
  const s = f32x4.div(sp(1.0), f32x4.add(sp(1.0), e));
  // x < 0: e/(1+e) = e * s. (x = -0 gives 0.5 either way.)
  return v128.bitselect(f32x4.mul(e, s), s, f32x4.lt(x, sp(0.0)));
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
