/**
 * Activation op: WASM SIMD kernel vs the TS reference (Math.tanh, stable sigmoid) on random data of
 * several sizes (through the kernel, including its scalar tail, and through the small-array TS path),
 * on edge values (signed zeros, denormal-range, saturation, +-Infinity, NaN), backward passes vs the
 * analytic formula in float64, no input mutation, in-place tanh and shape errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadKernels } from "aura-mem/wasm/runtime";
import { activationNaive, activationWasm, sigmoid64, ACTIVATION_SMALL_CUTOFF } from "aura-mem/ops/activation/index";
import type { ActivationOp } from "aura-mem/ops/activation/index";
import { ShapeError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";

const kernels = loadKernels();
/** Every call through the kernel (smallCutoff 0), and the default op (TS below 64 elements). */
const OPS: [string, ActivationOp][] = [
  ["wasm-kernel", activationWasm(kernels, { smallCutoff: 0 })],
  ["wasm-default", activationWasm(kernels)],
];
const SIZES = [0, 1, 3, 4, 5, 17, 63, 64, 65, 262144];
const TOL = 5e-7;

const EDGE = [
  0, -0, 1e-30, -1e-30, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 0.5, -0.5, 0.6249, -0.6249, 0.625, -0.625, 1, -1,
  5, -5, 9, -9, 9.0001, -9.0001, 9.0109, -9.0109, 9.011, -9.011, 9.5, -9.5, 20, -20, 88, -88, 89, -89, 104, -104, 1e6, -1e6, 3.4e38, -3.4e38, Infinity, -Infinity,
  NaN,
];

/** Max |a - b| over the arrays; NaN must be NaN on both sides, and signed zeros must agree. */
function maxAbsDiff(name: string, ref: Float32Array, got: Float32Array): number {
  assert.equal(got.length, ref.length, `${name}: length`);
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const g = got[i]!;
    if (Number.isNaN(r) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(r) && Number.isNaN(g), `${name}[${i}]: ref ${r} vs got ${g}`);
      continue;
    }
    if (r === 0 && g === 0) assert.equal(Object.is(r, -0), Object.is(g, -0), `${name}[${i}]: signed zero ${r} vs ${g}`);
    m = Math.max(m, Math.abs(r - g));
  }
  return m;
}

/** Random data: normals at several scales plus a uniform spread over [-30, 30]. */
function randomInput(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  const scales = [0.05, 0.5, 2, 6];
  for (let i = 0; i < n; i++) x[i] = i % 5 === 4 ? (rng.uniform() * 2 - 1) * 30 : rng.normal() * scales[i % 4]!;
  return x;
}

test("activation: the small-array cutoff is 64", () => {
  assert.equal(ACTIVATION_SMALL_CUTOFF, 64);
});

for (const [name, op] of OPS) {
  test(`activation ${name}: tanh and sigmoid match the reference on random data`, () => {
    const rng = new Rng(7);
    for (const n of SIZES) {
      const x = randomInput(rng, n);
      const x0 = x.slice();
      const t = op.tanh(x);
      const s = op.sigmoid(x);
      assert.deepEqual(x, x0, `n=${n}: input mutated`);
      const et = maxAbsDiff(`tanh n=${n}`, activationNaive.tanh(x), t);
      const es = maxAbsDiff(`sigmoid n=${n}`, activationNaive.sigmoid(x), s);
      assert.ok(et <= TOL, `tanh n=${n}: max abs error ${et.toExponential(3)}`);
      assert.ok(es <= TOL, `sigmoid n=${n}: max abs error ${es.toExponential(3)}`);
      assert.ok(t !== x && s !== x, "new arrays");
    }
  });

  test(`activation ${name}: edge values (zeros, tiny, saturation, infinities, NaN)`, () => {
    // Repeat the edge list so each value lands both in the SIMD body and in the scalar tail.
    const vals = [...EDGE, ...EDGE.slice(1), ...EDGE.slice(2)];
    for (const xs of [new Float32Array(EDGE), new Float32Array(vals)]) {
      const t = op.tanh(xs);
      const s = op.sigmoid(xs);
      const et = maxAbsDiff("tanh edge", activationNaive.tanh(xs), t);
      const es = maxAbsDiff("sigmoid edge", activationNaive.sigmoid(xs), s);
      assert.ok(et <= TOL, `tanh edge: max abs error ${et.toExponential(3)}`);
      assert.ok(es <= TOL, `sigmoid edge: max abs error ${es.toExponential(3)}`);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i]!;
        // Saturation from 13 ln2 ~ 9.0109 on, where the correctly rounded f32 tanh is +-1.
        if (Math.abs(v) >= 9.011) assert.equal(t[i], Math.sign(v), `tanh(${v}) saturates to exactly +-1`);
        if (v === 0 || Math.abs(v) < 1e-20) assert.ok(Object.is(t[i], v), `tanh(${v}) = ${t[i]} keeps x exactly`);
        if (Number.isNaN(v)) assert.ok(Number.isNaN(t[i]!) && Number.isNaN(s[i]!), "NaN in -> NaN out");
        if (Number.isFinite(s[i]!)) assert.ok(s[i]! >= 0 && s[i]! <= 1, `sigmoid(${v}) in [0, 1]`);
      }
    }
  });

  test(`activation ${name}: dense sweep of [-12, 12]`, () => {
    const n = 200003;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = -12 + (24 * i) / (n - 1);
    const et = maxAbsDiff("tanh sweep", activationNaive.tanh(x), op.tanh(x));
    const es = maxAbsDiff("sigmoid sweep", activationNaive.sigmoid(x), op.sigmoid(x));
    assert.ok(et <= TOL, `tanh sweep: ${et.toExponential(3)}`);
    assert.ok(es <= TOL, `sigmoid sweep: ${es.toExponential(3)}`);
    // The error budget is measured against float64 maths, not the f32-rounded reference.
    const t = op.tanh(x);
    let m = 0;
    for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(t[i]! - Math.tanh(x[i]!)));
    assert.ok(m <= TOL, `tanh vs float64: ${m.toExponential(3)}`);
  });

  test(`activation ${name}: backward passes match the analytic formula`, () => {
    const rng = new Rng(11);
    for (const n of SIZES) {
      const x = randomInput(rng, n);
      const dy = rng.normals(n);
      for (const [fn, fwd, bwd, grad] of [
        ["tanh", op.tanh, op.tanhBackward, (y: number) => 1 - y * y],
        ["sigmoid", op.sigmoid, op.sigmoidBackward, (y: number) => y * (1 - y)],
      ] as const) {
        const y = fwd(x);
        const y0 = y.slice();
        const dy0 = dy.slice();
        const dx = bwd(y, dy);
        assert.deepEqual(y, y0, `${fn} n=${n}: y mutated`);
        assert.deepEqual(dy, dy0, `${fn} n=${n}: dy mutated`);
        assert.equal(dx.length, n);
        for (let i = 0; i < n; i++) {
          const ref = dy[i]! * grad(y[i]!);
          assert.ok(Math.abs(dx[i]! - ref) <= 1e-6 * Math.abs(dy[i]!) + 1e-30, `${fn}Backward n=${n} [${i}]: ${dx[i]} vs ${ref}`);
        }
        // and the reference agrees
        const dxr = (fn === "tanh" ? activationNaive.tanhBackward : activationNaive.sigmoidBackward)(y, dy);
        const e = maxAbsDiff(`${fn}Backward vs naive n=${n}`, dxr, dx);
        assert.ok(e <= 1e-6, `${fn}Backward vs naive n=${n}: ${e}`);
      }
    }
  });

  test(`activation ${name}: backward gradients agree with the derivative of the forward`, () => {
    const xs = [-6, -2, -0.7, -0.3, 0, 0.1, 0.6, 1.5, 4];
    const h = 1e-3;
    for (const x of xs) {
      const y = op.tanh(new Float32Array([x]));
      const d = op.tanhBackward(y, new Float32Array([1]))[0]!;
      assert.ok(Math.abs(d - (Math.tanh(x + h) - Math.tanh(x - h)) / (2 * h)) < 1e-5, `tanh'(${x})`);
      const s = op.sigmoid(new Float32Array([x]));
      const ds = op.sigmoidBackward(s, new Float32Array([1]))[0]!;
      assert.ok(Math.abs(ds - (sigmoid64(x + h) - sigmoid64(x - h)) / (2 * h)) < 1e-5, `sigmoid'(${x})`);
    }
  });

  test(`activation ${name}: tanhInPlace overwrites and returns its input`, () => {
    const rng = new Rng(3);
    for (const n of SIZES) {
      const x = randomInput(rng, n);
      const ref = activationNaive.tanh(x);
      const out = op.tanhInPlace(x);
      assert.equal(out, x, "returns the same array");
      const e = maxAbsDiff(`tanhInPlace n=${n}`, ref, x);
      assert.ok(e <= TOL, `tanhInPlace n=${n}: ${e.toExponential(3)}`);
    }
    // a view into a larger buffer: only the view changes
    const big = new Float32Array([5, 1, 2, 3, 5]);
    const view = big.subarray(1, 4);
    op.tanhInPlace(view);
    assert.equal(big[0], 5);
    assert.equal(big[4], 5);
    assert.ok(Math.abs(big[2]! - Math.tanh(2)) < TOL);
  });

  test(`activation ${name}: shape errors`, () => {
    const y = new Float32Array(8);
    assert.throws(() => op.tanhBackward(y, new Float32Array(7)), ShapeError);
    assert.throws(() => op.sigmoidBackward(y, new Float32Array(9)), ShapeError);
    assert.throws(() => op.tanhBackward(new Float32Array(100), new Float32Array(99)), ShapeError);
    assert.throws(() => op.tanh([1, 2] as unknown as Float32Array), ShapeError);
    assert.throws(() => op.sigmoidBackward(y, new Float64Array(8) as unknown as Float32Array), ShapeError);
  });

  test(`activation ${name}: repeated calls reuse memory (no growth after the first large call)`, () => {
    const x = randomInput(new Rng(5), 10000);
    op.tanh(x);
    const bytes = kernels.memory.buffer.byteLength;
    for (let r = 0; r < 50; r++) op.sigmoid(op.tanh(x));
    assert.equal(kernels.memory.buffer.byteLength, bytes);
  });
}

test("activation naive: shape errors and stable sigmoid", () => {
  assert.throws(() => activationNaive.tanhBackward(new Float32Array(2), new Float32Array(3)), ShapeError);
  assert.throws(() => activationNaive.sigmoidBackward(new Float32Array(2), new Float32Array(1)), ShapeError);
  const s = activationNaive.sigmoid(new Float32Array([-1000, 1000, 0]));
  assert.deepEqual([...s], [0, 1, 0.5]);
});
