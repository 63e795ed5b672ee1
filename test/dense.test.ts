/**
 * Dense op: WASM SIMD kernel vs the TS reference, the reference's gradients vs finite differences
 * (float64 loss) and vs tfjs autodiff, the L2 normalisation, the resident-weights matvec and shape
 * errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { loadKernels } from "aura-mem/wasm/runtime";
import { denseNaive, denseWasm, residentDense, L2NORM_EPS } from "aura-mem/ops/dense/index";
import { ShapeError } from "aura-mem/errors";
import { WasmError } from "aura-mem/wasm/runtime";
import { Rng } from "aura-mem/util/rng";
import { assertClose, finiteDiff, sampleIdx } from "./helpers.js";

const kernels = loadKernels();
const wasm = denseWasm(kernels);

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 64, 33],
  [4, 8, 16],
  [5, 3, 9],
  [2, 7, 300],
  [9, 300, 20],
  [70, 3, 130],
  [1, 4096, 130],
  [64, 64, 130],
];

function data(M: number, K: number, N: number, seed: number) {
  const rng = new Rng(seed);
  return { x: rng.normals(M * K), W: rng.normals(K * N, 1 / Math.sqrt(K)), b: rng.normals(N), dy: rng.normals(M * N) };
}

test("dense forward: wasm matches naive (with and without bias)", () => {
  for (const [M, K, N] of SHAPES) {
    const { x, W, b } = data(M, K, N, M * 1000 + K + N);
    assertClose(`y ${M}x${K}x${N}`, denseNaive.forward(x, W, b, M, K, N), wasm.forward(x, W, b, M, K, N), 1e-5);
    assertClose(`y nobias ${M}x${K}x${N}`, denseNaive.forward(x, W, null, M, K, N), wasm.forward(x, W, null, M, K, N), 1e-5);
  }
});

test("dense forward: wasm matches naive at 128x4096x130 (forward only)", () => {
  const [M, K, N] = [128, 4096, 130];
  const { x, W, b } = data(M, K, N, 7);
  assertClose("y big", denseNaive.forward(x, W, b, M, K, N), wasm.forward(x, W, b, M, K, N), 1e-5);
});

test("dense forward: zero-size dimensions", () => {
  const b = new Float32Array([1, 2, 3]);
  assert.deepEqual([...wasm.forward(new Float32Array(0), new Float32Array(0), b, 2, 0, 3)], [1, 2, 3, 1, 2, 3]);
  assert.equal(wasm.forward(new Float32Array(0), new Float32Array(12), b, 0, 4, 3).length, 0);
  const g = wasm.backward(new Float32Array(0), new Float32Array(12), new Float32Array(0), 0, 4, 3);
  assert.deepEqual([...g.dW], new Array(12).fill(0));
  assert.deepEqual([...g.db], [0, 0, 0]);
});

test("dense backward: wasm matches naive (dx, dW, db; needDx = false)", () => {
  for (const [M, K, N] of SHAPES) {
    const { x, W, dy } = data(M, K, N, 31 * M + 7 * K + N);
    const r = denseNaive.backward(x, W, dy, M, K, N);
    const g = wasm.backward(x, W, dy, M, K, N);
    assertClose(`dx ${M}x${K}x${N}`, r.dx!, g.dx!, 1e-4);
    assertClose(`dW ${M}x${K}x${N}`, r.dW, g.dW, 1e-4);
    assertClose(`db ${M}x${K}x${N}`, r.db, g.db, 1e-4);
    const g2 = wasm.backward(x, W, dy, M, K, N, false);
    assert.equal(g2.dx, null);
    assertClose(`dW (no dx) ${M}x${K}x${N}`, r.dW, g2.dW, 1e-4);
  }
});

test("dense backward: wasm matches naive at the training shape 512x64x130 and a dW tile edge (130 rows)", () => {
  for (const [M, K, N] of [
    [512, 64, 130],
    [130, 13, 11],
  ] as [number, number, number][]) {
    const { x, W, dy } = data(M, K, N, M + K);
    const r = denseNaive.backward(x, W, dy, M, K, N);
    const g = wasm.backward(x, W, dy, M, K, N);
    assertClose("dx", r.dx!, g.dx!, 1e-4);
    assertClose("dW", r.dW, g.dW, 1e-4);
    assertClose("db", r.db, g.db, 1e-4);
  }
});

/** loss = sum(R * (x W + b)) in float64 over float64 copies of the inputs. */
function denseLoss64(x: Float64Array, W: Float64Array, b: Float64Array, R: Float32Array, M: number, K: number, N: number): number {
  let L = 0;
  for (let i = 0; i < M; i++) {
    for (let n = 0; n < N; n++) {
      let s = b[n]!;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * W[k * N + n]!;
      L += R[i * N + n]! * s;
    }
  }
  return L;
}

test("dense backward: naive gradients match finite differences", () => {
  for (const [M, K, N] of [
    [3, 5, 7],
    [6, 10, 4],
  ] as [number, number, number][]) {
    const { x, W, b, dy } = data(M, K, N, 99 + M);
    const g = denseNaive.backward(x, W, dy, M, K, N);
    const x64 = Float64Array.from(x), W64 = Float64Array.from(W), b64 = Float64Array.from(b);
    const loss = () => denseLoss64(x64, W64, b64, dy, M, K, N);
    const ix = sampleIdx(M * K, 8), iw = sampleIdx(K * N, 8), ib = sampleIdx(N, 4);
    assertClose("dx fd", finiteDiff(loss, x64, ix), ix.map((i) => g.dx![i]!), 1e-4);
    assertClose("dW fd", finiteDiff(loss, W64, iw), iw.map((i) => g.dW[i]!), 1e-4);
    assertClose("db fd", finiteDiff(loss, b64, ib), ib.map((i) => g.db[i]!), 1e-4);
  }
});

test("dense backward: naive and wasm gradients match tfjs autodiff", async () => {
  await tf.setBackend("cpu");
  for (const [M, K, N] of [
    [3, 5, 7],
    [17, 64, 33],
  ] as [number, number, number][]) {
    const { x, W, b, dy } = data(M, K, N, 5 + K);
    const [gx, gW, gb] = tf.tidy(() => {
      const R = tf.tensor2d(dy, [M, N]);
      const f = (xt: tf.Tensor, Wt: tf.Tensor, bt: tf.Tensor) =>
        tf.sum(tf.mul(R, tf.add(tf.matMul(xt as tf.Tensor2D, Wt as tf.Tensor2D), bt))) as tf.Scalar;
      const grads = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([tf.tensor2d(x, [M, K]), tf.tensor2d(W, [K, N]), tf.tensor1d(b)]);
      return grads.map((t) => t.dataSync() as Float32Array);
    });
    for (const [name, op] of [
      ["naive", denseNaive],
      ["wasm", wasm],
    ] as const) {
      const g = op.backward(x, W, dy, M, K, N);
      assertClose(`${name} dx vs tf`, gx!, g.dx!, 1e-4);
      assertClose(`${name} dW vs tf`, gW!, g.dW, 1e-4);
      assertClose(`${name} db vs tf`, gb!, g.db, 1e-4);
    }
  }
});

function l2data(M: number, D: number, seed: number) {
  const rng = new Rng(seed);
  const x = rng.normals(M * D);
  // one row below eps and one all-zero row exercise the clamped branch
  if (M >= 3) {
    for (let d = 0; d < D; d++) x[D + d] = 1e-9 * (d + 1);
    for (let d = 0; d < D; d++) x[2 * D + d] = 0;
  }
  return { x, dy: rng.normals(M * D) };
}

test("l2norm: wasm matches naive forward and backward (incl. rows below eps)", () => {
  for (const [M, D] of [
    [1, 1],
    [3, 5],
    [7, 32],
    [17, 33],
    [64, 130],
  ] as [number, number][]) {
    const { x, dy } = l2data(M, D, M * 13 + D);
    assertClose(`l2 y ${M}x${D}`, denseNaive.l2normForward(x, M, D), wasm.l2normForward(x, M, D), 1e-5);
    assertClose(`l2 dx ${M}x${D}`, denseNaive.l2normBackward(x, dy, M, D), wasm.l2normBackward(x, dy, M, D), 1e-4);
  }
});

test("l2norm: naive gradient matches finite differences and tfjs", async () => {
  await tf.setBackend("cpu");
  const M = 4, D = 6;
  const rng = new Rng(17);
  const x = rng.normals(M * D), dy = rng.normals(M * D);
  const g = denseNaive.l2normBackward(x, dy, M, D);
  const x64 = Float64Array.from(x);
  const loss = () => {
    let L = 0;
    for (let i = 0; i < M; i++) {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += x64[i * D + d]! ** 2;
      const n = Math.max(Math.sqrt(ss), L2NORM_EPS);
      for (let d = 0; d < D; d++) L += (dy[i * D + d]! * x64[i * D + d]!) / n;
    }
    return L;
  };
  const idx = sampleIdx(M * D, 12);
  assertClose("l2 fd", finiteDiff(loss, x64, idx, 1e-4), idx.map((i) => g[i]!), 1e-4);
  const gt = tf.tidy(() => {
    const R = tf.tensor2d(dy, [M, D]);
    const f = (xt: tf.Tensor) => {
      const n = tf.maximum(tf.sqrt(tf.sum(tf.square(xt), 1, true)), L2NORM_EPS);
      return tf.sum(tf.mul(R, tf.div(xt, n))) as tf.Scalar;
    };
    return tf.grad(f)(tf.tensor2d(x, [M, D])).dataSync() as Float32Array;
  });
  assertClose("l2 naive vs tf", gt, g, 1e-4);
  assertClose("l2 wasm vs tf", gt, wasm.l2normBackward(x, dy, M, D), 1e-4);
});

test("residentDense: matches forward, follows update(), detects a shared instance", () => {
  const [K, N] = [300, 37];
  const { W, b } = data(1, K, N, 3);
  const dedicated = loadKernels();
  const r = residentDense(dedicated, W, b, K, N);
  for (const M of [1, 3, 8]) {
    const x = new Rng(M).normals(M * K);
    assertClose(`resident M=${M}`, denseNaive.forward(x, W, b, M, K, N), r.forward(x, M), 1e-5);
  }
  const W2 = new Rng(9).normals(K * N, 0.05);
  r.update(W2, null);
  const x = new Rng(4).normals(2 * K);
  assertClose("resident after update", denseNaive.forward(x, W2, null, 2, K, N), r.forward(x, 2), 1e-5);
  // Another wrapper on the same instance overwrites the weights: reported, not silently wrong.
  denseWasm(dedicated).forward(new Rng(5).normals(64), new Rng(6).normals(64), null, 8, 8, 8);
  assert.throws(() => r.forward(x, 2), WasmError);
});

test("dense: bad shapes throw ShapeError before touching memory", () => {
  const x = new Float32Array(6), W = new Float32Array(12), b = new Float32Array(4), dy = new Float32Array(8);
  assert.throws(() => wasm.forward(x, W, b, 2, 3, 5), ShapeError);
  assert.throws(() => wasm.forward(x, W, new Float32Array(3), 2, 3, 4), ShapeError);
  assert.throws(() => wasm.forward(x, W, b, 2.5, 3, 4), ShapeError);
  assert.throws(() => wasm.forward(x, W, b, -1, 3, 4), ShapeError);
  assert.throws(() => wasm.forward([1, 2] as unknown as Float32Array, W, b, 2, 3, 4), ShapeError);
  assert.throws(() => wasm.backward(x, W, new Float32Array(7), 2, 3, 4), ShapeError);
  assert.throws(() => wasm.l2normForward(x, 4, 2), ShapeError);
  assert.throws(() => wasm.l2normBackward(x, new Float32Array(5), 2, 3), ShapeError);
  // still works afterwards
  assert.equal(wasm.forward(x, W, b, 2, 3, 4).length, 8);
  assert.equal(wasm.backward(x, W, dy, 2, 3, 4).dW.length, 12);
});
