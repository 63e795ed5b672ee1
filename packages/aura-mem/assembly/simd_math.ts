// exp, tanh and sigmoid on f32x4: the one set every kernel uses (activation, delta_rule, rnn,
// attention, step), so every WASM path rounds alike. Scalar forms (`exp1`, `tanh1`, `sigmoid1`) run
// the same vector maths on lane 0, so SIMD tails and bodies agree bit for bit. All inlined.
// References: Math.exp / Math.tanh and 1 / (1 + e^-x) in float64 (src/ops/activation/naive.ts).
//
// exp(z): n = round(z / ln2), r = z - n ln2 (two-constant Cody-Waite), degree-6 polynomial on
//   |r| <= ln2/2 (3e-9 relative), times 2^n built in the exponent bits. `vexp` clamps z to [-87, 88]
//   (the result stays a normal, finite f32: e^-87 ~ 1.6e-38 stands in for anything smaller).
// tanh(x), a = |x|:
//   a < 0.625:  x + x^3 P(x^2), P a degree-4 minimax-style fit of (tanh(x)/x - 1)/x^2 on [0, 0.625]
//               (approximation error 1.5e-9; keeps 0, -0 and denormals exact);
//   otherwise:  1 - 2 / (exp(2a) + 1), and exactly 1 for a >= 9.0109 (13 ln2, from where the correctly
//               rounded f32 tanh is 1, so the kernel saturates exactly where f32(Math.tanh) does);
//   then the sign of x is copied onto the result (so -0 -> -0). Max abs error vs float64 Math.tanh
//   is 8.1e-8 (exhaustive sweep of all 2^32 f32 inputs; sigmoid: 9.0e-8).
// sigmoid(x): e = exp(-|x|) (never overflows; z down to -104 with 2^n applied in two halves, so
//   results in the denormal range round once), s = 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
// NaN propagates through every path (min/max propagate NaN; the selects pick the exp branch for NaN).

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
const EXP_MIN: f32 = -87.0;
const EXP_MAX: f32 = 88.0;
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
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}
// @ts-ignore: decorator
@inline function sp(v: f32): v128 {
  return f32x4.splat(v);
}

/**
 * e^z per lane without a clamp; NaN -> NaN. n = round(z / ln2) by the 1.5 * 2^23 trick: adding MAGIC
 * leaves round-to-nearest(z log2 e) in the low mantissa bits, so bits(t) - bits(MAGIC) is n (as i32)
 * and t - MAGIC is n (as f32), with no float-int conversion. 2^n is built in the exponent bits and
 * applied by multiplication (a NaN p stays NaN whatever the meaningless n of a NaN z is).
 * `wide` = false: z in [-87, 88] (2^n normal). `wide` = true: z in [-104, 88], 2^n applied as
 * 2^(n>>1) 2^(n - (n>>1)) (both normal for n >= -252), so results in the denormal range round once.
 * (Inlined with a constant `wide`, so the branch folds away.)
 */
// @ts-ignore: decorator
@inline function expCore(z: v128, wide: bool): v128 {
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

/** e^x per lane, x clamped to [-87, 88]; NaN -> NaN. */
// @ts-ignore: decorator
@inline export function vexp(x: v128): v128 {
  return expCore(f32x4.max(f32x4.min(x, sp(EXP_MAX)), sp(EXP_MIN)), false);
}

/** tanh per lane (see the top of this file). */
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
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
  const e = expCore(f32x4.add(m, m), false);
  let big = f32x4.sub(sp(1.0), f32x4.div(sp(2.0), f32x4.add(e, sp(1.0))));
  big = v128.bitselect(sp(1.0), big, f32x4.ge(a, sp(T_SAT)));
  const r = v128.bitselect(small, big, f32x4.lt(a, sp(T_SMALL)));
  // copysign(r, x): magnitude bits from r, sign bit from x (also makes tanh(-0) = -0 exactly).
  const signMask = i32x4.splat(0x80000000);
  return v128.or(v128.andnot(r, signMask), v128.and(x, signMask));
}

/** sigmoid per lane: 1 / (1 + e^-x), never evaluating e of a positive argument. */
// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  const e = expCore(f32x4.max(f32x4.neg(f32x4.abs(x)), sp(EXP_LO)), true);
  const s = f32x4.div(sp(1.0), f32x4.add(sp(1.0), e));
  // x < 0: e/(1+e) = e * s. (x = -0 gives 0.5 either way.)
  return v128.bitselect(f32x4.mul(e, s), s, f32x4.lt(x, sp(0.0)));
}

/** e^x of one f32 by {@link vexp} (lane 0). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

/** tanh of one f32 by {@link vtanh} (lane 0). */
// @ts-ignore: decorator
@inline export function tanh1(x: f32): f32 {
  return f32x4.extract_lane(vtanh(f32x4.splat(x)), 0);
}

/** sigmoid of one f32 by {@link vsigmoid} (lane 0). */
// @ts-ignore: decorator
@inline export function sigmoid1(x: f32): f32 {
  return f32x4.extract_lane(vsigmoid(f32x4.splat(x)), 0);
}
