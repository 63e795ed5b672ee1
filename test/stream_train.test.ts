/**
 * Carried-state training (truncated BPTT over long streams, src/train/stream.ts): the windows of a
 * stream are the stream; a window's forward from the carried state equals one forward over the
 * concatenation; gradients within a window from a non-zero initial state match finite differences;
 * the trainer's carried-state path runs, is deterministic and differs from fresh episodes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig, SequenceModel, armSpec, createOps, train, trainOptions, ConfigError, type MemoryState } from "aura-mem";
import { createTask } from "../src/tasks/index.js";
import { StreamWindows, resetRows } from "aura-mem/train/stream";
import { batchObjective } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import { assertClose } from "./helpers.js";

test("StreamWindows: each row reads its stream window by window; a new stream resets the row", async () => {
  const task = await createTask("ess-hard", { seed: 3, dModel: 16 });
  const T = task.horizon;
  const K = 3;
  const sw = new StreamWindows(task as never, 2, T, K);
  const rng = new Rng(1);
  const first = sw.next(rng);
  assert.deepEqual([...first.reset], [1, 1], "every row starts a stream");
  let resets = 0;
  for (let i = 0; i < 12; i++) {
    const w = sw.next(rng);
    assert.equal(w.batch.B, 2);
    assert.equal(w.batch.T, T);
    assert.equal(w.batch.z.length, 2 * T * 16);
    resets += w.reset[0]! + w.reset[1]!;
  }
  // after the first (random-length) streams, a reset every K windows per row
  assert.ok(resets >= 2 * Math.floor(12 / K) - 2 && resets <= 2 * Math.ceil(12 / K) + 2, `resets ${resets}`);
  // the windows of one row concatenate to its stream: replay the same draws
  const one = new StreamWindows(task as never, 1, T, K);
  const rngA = new Rng(9);
  const rngB = new Rng(9);
  const w = 1 + rngB.int(K);
  const stream = task.sampleStream!(rngB, w * T);
  for (let i = 0; i < w; i++) {
    const win = one.next(rngA);
    assert.equal(win.reset[0], i === 0 ? 1 : 0, `window ${i}`);
    assert.deepEqual(win.batch.z, stream.z.subarray(i * T * 16, (i + 1) * T * 16), `window ${i} z`);
    assert.deepEqual(win.batch.label, stream.label!.subarray(i * T, (i + 1) * T), `window ${i} labels`);
  }
  assert.equal(one.next(rngA).reset[0], 1, "a new stream after the last window");
  assert.throws(() => new StreamWindows(task as never, 0, T, K), ConfigError);
  assert.throws(() => trainOptions({ streamWindows: 0 }), ConfigError);
  assert.throws(() => trainOptions({ streamWindows: 1.5 }), ConfigError);
  assert.throws(() => trainOptions({ stochasticGate: 1 as never }), ConfigError);
});

test("resetRows zeroes exactly the reset rows and never mutates its input", () => {
  const M = Float32Array.from({ length: 2 * 4 * 3 }, (_, i) => i + 1);
  const m = Float32Array.from({ length: 2 * 3 }, (_, i) => -(i + 1));
  const st: MemoryState = { kind: "fast-weights", B: 2, t: 7, M, m };
  const r = resetRows(st, Uint8Array.from([0, 1])) as Extract<MemoryState, { kind: "fast-weights" }>;
  assert.deepEqual([...r.M.subarray(0, 12)], [...M.subarray(0, 12)]);
  assert.ok(r.M.subarray(12).every((x) => x === 0) && r.m.subarray(3).every((x) => x === 0));
  assert.deepEqual([...r.m.subarray(0, 3)], [-1, -2, -3]);
  assert.equal(M[12], 13, "input untouched");
});

function tinyModel(backend: "ts" | "wasm"): SequenceModel {
  const config = new MemoryConfig({ dModel: 8, dAction: 3, dKey: 4, dVal: 4, dProj: 4, dGate: 4, dHidden: 6, actionKind: "discrete", seed: 5 });
  return new SequenceModel(armSpec("aura", config, { matchParams: null }), createOps(backend));
}

test("a window from the carried state == the same steps of one forward over the concatenation", () => {
  for (const backend of ["ts", "wasm"] as const) {
    const model = tinyModel(backend);
    const rng = new Rng(2);
    const B = 2;
    const T1 = 9;
    const T2 = 7;
    const z = rng.normals(B * (T1 + T2) * 8, 0.8);
    const cut = (t0: number, n: number): Float32Array => {
      const out = new Float32Array(B * n * 8);
      for (let b = 0; b < B; b++) out.set(z.subarray((b * (T1 + T2) + t0) * 8, (b * (T1 + T2) + t0 + n) * 8), b * n * 8);
      return out;
    };
    const whole = model.forward(z, B, T1 + T2, { training: true });
    const w1 = model.forward(cut(0, T1), B, T1, { training: true });
    const w2 = model.forward(cut(T1, T2), B, T2, { training: true, initialState: w1.finalState });
    for (let b = 0; b < B; b++) {
      assertClose(`${backend} out row ${b}`, whole.out.subarray((b * (T1 + T2) + T1) * 3, (b + 1) * (T1 + T2) * 3), w2.out.subarray(b * T2 * 3, (b + 1) * T2 * 3), 1e-5);
      assert.deepEqual([...whole.g.subarray(b * (T1 + T2) + T1, (b + 1) * (T1 + T2))], [...w2.g.subarray(b * T2, (b + 1) * T2)]);
    }
    const fw = whole.finalState as Extract<MemoryState, { kind: "fast-weights" }>;
    const f2 = w2.finalState as Extract<MemoryState, { kind: "fast-weights" }>;
    assertClose(`${backend} final M`, fw.M, f2.M, 1e-5);
    assertClose(`${backend} final m`, fw.m, f2.m, 1e-5);
  }
});

test("gradients within a window from a non-zero carried state match finite differences", () => {
  const model = tinyModel("ts");
  const rng = new Rng(4);
  const B = 2;
  const T = 6;
  const z = rng.normals(B * T * 8, 0.8);
  const label = Int32Array.from({ length: B * T }, () => rng.int(3));
  const lossMask = new Float32Array(B * T).fill(1);
  const batch = { B, T, dModel: 8, z, label, target: null, lossMask, evalMask: lossMask, stepType: new Uint8Array(B * T) };
  const initialState: MemoryState = { kind: "fast-weights", B, t: 40, M: rng.normals(B * 16, 0.5), m: rng.normals(B * 4, 0.5) };
  // soft gate: the loss is differentiable in every parameter (the hard gate's is a step function)
  const objective = () =>
    batchObjective(model, batch, { kind: "discrete", dAction: 3 }, { lambdaIB: 0, lambdaW: 0, targetWriteRate: 0 }, { gateMode: "soft", initialState });
  const { grads } = objective();
  const eps = 1e-2;
  let checked = 0;
  for (const name of ["enc.W", "gate.W1e", "gate.W1h", "gate.b2", "head.W1"]) {
    const p = model.params[name]!.data;
    for (const i of [0, Math.floor(p.length / 2), p.length - 1]) {
      const x = p[i]!;
      p[i] = x + eps;
      const lp = objective().loss;
      p[i] = x - eps;
      const lm = objective().loss;
      p[i] = x;
      const fd = (lp - lm) / (2 * eps);
      const an = grads[name]![i]!;
      assert.ok(Math.abs(fd - an) <= 2e-3 + 2e-2 * Math.abs(fd), `${name}[${i}]: analytic ${an} vs finite difference ${fd}`);
      checked++;
    }
  }
  assert.equal(checked, 15);
  // the carried state matters: the same window from a zero state has a different loss
  const zero = batchObjective(model, batch, { kind: "discrete", dAction: 3 }, { lambdaIB: 0, lambdaW: 0, targetWriteRate: 0 }, { gateMode: "soft" });
  assert.notEqual(zero.loss, objective().loss);
});

test("carried-state training runs, is deterministic, and is not the fresh-episode path", async () => {
  const task = await createTask("ess-easy", { seed: 0, dModel: 16, valEpisodes: 16 });
  const run = (streamWindows: number) => {
    const config = new MemoryConfig({ dModel: 16, dAction: task.dAction, actionKind: "discrete", seed: 0 });
    const model = new SequenceModel(armSpec("aura", config, { matchParams: null }), createOps("wasm"));
    const r = train(model, task, { steps: 8, batchSize: 4, evalEvery: 4, evalBatchSize: 16, seed: 0, streamWindows });
    return { loss: r.history.map((h) => h.loss), w: Array.from(model.params["enc.W"]!.data.subarray(0, 8)) };
  };
  const a = run(4);
  const b = run(4);
  const fresh = run(1);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.loss, fresh.loss);
  assert.ok(a.loss.every(Number.isFinite));
});
