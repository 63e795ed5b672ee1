/**
 * The fused step engine (src/deploy/step_engine.ts, kernel assembly/step.ts) against the one
 * reference, the model's op composition (`AuraMemLayer.step` with `fusedStep: false`):
 * equal within 1e-5 (absolute + relative) with identical write decisions over 1,000 steps, odd
 * dimensions (SIMD tails, encoder remainder columns), dModel 4096, batches, re-packing after every
 * kind of parameter change, independent engines, and bad input leaving everything untouched; then
 * `AuraMemLayer.step` itself on the fused path (WASM backend) against the op path at several shapes.
 * No timing assertions.
 */
import { test } from "node:test";
import { near } from "./helpers.js";
import assert from "node:assert/strict";
import { AuraMemLayer } from "aura-mem/layer";
import { ConfigError, NonFiniteError, ShapeError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import type { MemoryState } from "aura-mem/model/model";
import type { MemoryConfigInit } from "aura-mem/config";
import { createStepEngine } from "aura-mem/deploy/step_engine";
import { Adam } from "aura-mem/train/adam";
import { assignParams, cloneParams } from "aura-mem/model/params";
import { assignCheckpoint } from "aura-mem/io/checkpoint_format";
import type { AuraStepResult } from "aura-mem/deploy/weights";

type FW = Extract<MemoryState, { kind: "fast-weights" }>;


function compareStep(where: string, ref: { action: Float32Array; g: Float32Array; p: Float32Array; surprise: Float32Array; state: MemoryState }, got: AuraStepResult): number {
  assert.equal(got.g[0], ref.g[0], `${where}: g differs (p ref ${ref.p[0]}, got ${got.p[0]})`);
  assert.ok(got.g[0] === 0 || got.g[0] === 1);
  const rs = ref.state as FW;
  assert.equal(got.state.kind, "fast-weights");
  assert.equal(got.state.B, 1);
  assert.equal(got.state.t, rs.t, `${where}: t`);
  return Math.max(
    near(`${where} action`, ref.action, got.action),
    near(`${where} p`, ref.p, got.p),
    near(`${where} surprise`, ref.surprise, got.surprise),
    near(`${where} M`, rs.M, got.state.M),
    near(`${where} m`, rs.m, got.state.m),
  );
}

/** A checkpoint-shaped copy of a layer's parameters (what `loadCheckpoint` returns). */
function checkpointOf(layer: AuraMemLayer): { arm: string; params: Record<string, { shape: number[]; data: Float32Array }>; extra: Record<string, unknown> } {
  const params = Object.fromEntries(Object.entries(layer.model.params).map(([k, p]) => [k, { shape: [...p.shape], data: p.data.slice() }]));
  return { arm: layer.arm, params, extra: {} };
}

/** The reference: the op composition on the WASM ops. */
function opLayer(cfg: MemoryConfigInit): AuraMemLayer {
  return new AuraMemLayer(cfg, { backend: "wasm", fusedStep: false });
}

/** Run the op-path layer.step and the engine side by side, each on its own state. */
function runSideBySide(cfg: MemoryConfigInit, T: number, seed: number, perturb = 0): { maxAbs: number; writes: number } {
  const layer = opLayer(cfg);
  if (perturb > 0) {
    // a "trained-looking" layer: parameters moved away from the initialisation
    const r = new Rng(seed + 100);
    for (const p of Object.values(layer.model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! + perturb * r.normal();
  }
  const engine = createStepEngine(layer);
  const rng = new Rng(seed);
  let sL: MemoryState = layer.initState(1);
  let sE: MemoryState = layer.initState(1);
  let maxAbs = 0;
  let writes = 0;
  for (let t = 0; t < T; t++) {
    const zt = rng.normals(cfg.dModel);
    const a = layer.step(zt, sL);
    const b = engine.step(zt, sE);
    maxAbs = Math.max(maxAbs, compareStep(`engine step ${t}`, a, b));
    writes += a.g[0]!;
    sL = a.state;
    sE = b.state;
  }
  return { maxAbs, writes };
}

test("engine == layer.step over 1,000 steps at dModel 64 (identical g, 1e-5)", (t) => {
  const { maxAbs, writes } = runSideBySide({ dModel: 64, dAction: 7 }, 1000, 1);
  t.diagnostic(`max |engine - layer.step| over 1,000 steps: ${maxAbs.toExponential(2)}; ${writes} writes`);
  assert.ok(writes > 50 && writes < 950, `the gate should both write and skip (${writes} writes)`);
});

test("engine == layer.step over 1,000 steps of a perturbed ('trained') discrete-head layer", (t) => {
  const { maxAbs, writes } = runSideBySide({ dModel: 96, dAction: 5, actionKind: "discrete", seed: 4, gateBiasInit: 0.5 }, 1000, 2, 0.05);
  t.diagnostic(`max |diff| ${maxAbs.toExponential(2)}; ${writes} writes`);
  assert.ok(writes > 20 && writes < 980, `the gate should both write and skip (${writes} writes)`);
});

test("engine == layer.step with the write decay (alpha = 0.8: M, m scaled where the gate writes)", (t) => {
  const { maxAbs, writes } = runSideBySide({ dModel: 64, dAction: 7, writeDecay: 0.8 }, 1000, 8);
  t.diagnostic(`max |diff| ${maxAbs.toExponential(2)}; ${writes} writes`);
  assert.ok(writes > 50 && writes < 950, `the gate should both write and skip (${writes} writes)`);
});

test("engine == layer.step with the observation-norm gate input (gateNorm: ||z|| as one more gate input)", (t) => {
  for (const cfg of [{ dModel: 64, dAction: 7, writeDecay: 0.8, gateNorm: true }, { dModel: 63, dAction: 3, dKey: 5, dVal: 7, dProj: 3, dGate: 5, dHidden: 9, gateNorm: true }]) {
    // perturbed, so gate.w1n (zero at initialisation) is not zero
    const { maxAbs, writes } = runSideBySide(cfg, 500, 9, 0.05);
    t.diagnostic(`dModel ${cfg.dModel}: max |diff| ${maxAbs.toExponential(2)}; ${writes} writes`);
    assert.ok(writes > 10 && writes < 490, `the gate should both write and skip (${writes} writes)`);
  }
});

test("odd dimensions: SIMD tails, no full encoder panel, remainder columns, dModel not a multiple of 4", () => {
  // width = 2*5 + 7 + 3 + 1 = 21 < 32: the whole encoder goes through the remainder rows
  runSideBySide({ dModel: 63, dAction: 3, dKey: 5, dVal: 7, dProj: 3, dGate: 5, dHidden: 9 }, 200, 3);
  // width = 2*13 + 11 + 17 + 1 = 55: one panel + 23 remainder columns (5 groups of 4 + 3 single)
  runSideBySide({ dModel: 130, dAction: 1, dKey: 13, dVal: 11, dProj: 17, dGate: 19, dHidden: 21 }, 200, 4);
  // width = 2*32 + 32 + 31 + 1 = 128: panels only, no remainder
  runSideBySide({ dModel: 33, dAction: 2, dKey: 32, dVal: 32, dProj: 31, dGate: 1, dHidden: 1 }, 100, 5);
  // one-wide everything
  runSideBySide({ dModel: 1, dAction: 1, dKey: 1, dVal: 1, dProj: 1, dGate: 1, dHidden: 1 }, 100, 6);
});

test("engine == layer.step at dModel 4096 (model-card dimensions)", (t) => {
  const { maxAbs } = runSideBySide({ dModel: 4096, dAction: 7 }, 30, 7);
  t.diagnostic(`max |diff| over 30 steps at dModel 4096: ${maxAbs.toExponential(2)}`);
});

test("the engine re-packs when parameters change (optimiser, assignment, checkpoint, paramsChanged, unmarked writes); engines do not share memory", () => {
  const cfg = { dModel: 40, dAction: 4 };
  const layer = opLayer(cfg);
  const other = opLayer({ ...cfg, seed: 9 });
  const engine = createStepEngine(layer);
  const engine2 = createStepEngine(other);
  const rng = new Rng(8);
  const zt = rng.normals(40);
  const s0 = layer.initState(1);
  compareStep("before", layer.step(zt, s0), engine.step(zt, s0));
  assert.equal(engine.packs, 1);
  compareStep("unchanged", layer.step(zt, s0), engine.step(zt, s0));
  assert.equal(engine.packs, 1, "no re-pack while nothing changed");
  // an optimiser step
  const grads = Object.fromEntries(Object.entries(layer.model.params).map(([k, p]) => [k, rng.normals(p.data.length, 0.1)]));
  new Adam(layer.model.params, { lr: 0.05 }).step(grads);
  compareStep("after Adam", layer.step(zt, s0), engine.step(zt, s0));
  assert.equal(engine.packs, 2);
  // assignParams and a checkpoint load
  assignParams(layer.model.params, cloneParams(other.model.params));
  compareStep("after assignParams", layer.step(zt, s0), engine.step(zt, s0));
  assignCheckpoint(layer.model, checkpointOf(new AuraMemLayer({ ...cfg, seed: 3 })));
  compareStep("after a checkpoint load", layer.step(zt, s0), engine.step(zt, s0));
  assert.equal(engine.packs, 4);
  // a hand-written value the safety-net samples do not cover: seen only through paramsChanged()
  const W = layer.model.params["enc.W"]!.data;
  W[100] = W[100]! + 5; // row 0, an h column; between the first two samples (indices 0 and 344 of 5,160)
  let staleDiff = 0;
  const stale = engine.step(zt, s0);
  const fresh = layer.step(zt, s0);
  for (let i = 0; i < fresh.action.length; i++) staleDiff = Math.max(staleDiff, Math.abs(fresh.action[i]! - stale.action[i]!));
  assert.ok(staleDiff > 1e-4, `an unmarked write outside the samples is not seen (documented): diff ${staleDiff}`);
  layer.model.paramsChanged();
  compareStep("after paramsChanged", layer.step(zt, s0), engine.step(zt, s0));
  // unmarked in-place writes of whole tensors: the sampled values catch them
  for (const p of Object.values(layer.model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! * 0.9 + 0.01;
  compareStep("after unmarked writes", layer.step(zt, s0), engine.step(zt, s0));
  layer.model.params["gate.b2"]!.data[0] = -3;
  compareStep("after an unmarked gate-bias write", layer.step(zt, s0), engine.step(zt, s0));
  // interleaved use of two engines
  let a: MemoryState = layer.initState(1);
  let b: MemoryState = other.initState(1);
  let ea: MemoryState = a;
  let eb: MemoryState = b;
  for (let t = 0; t < 20; t++) {
    const z = rng.normals(40);
    const ra = layer.step(z, a);
    const rb = other.step(z, b);
    const xa = engine.step(z, ea);
    const xb = engine2.step(z, eb);
    compareStep(`engine A ${t}`, ra, xa);
    compareStep(`engine B ${t}`, rb, xb);
    a = ra.state;
    b = rb.state;
    ea = xa.state;
    eb = xb.state;
  }
});

test("batches: B streams == the op path at batch B (one kernel call per stream)", () => {
  for (const [cfg, B] of [
    [{ dModel: 64, dAction: 7 }, 3],
    [{ dModel: 130, dAction: 1, dKey: 13, dVal: 11, dProj: 17, dGate: 19, dHidden: 21, writeDecay: 0.8 }, 5],
  ] as const) {
    const layer = opLayer(cfg);
    const engine = createStepEngine(layer);
    const rng = new Rng(31);
    let sL: MemoryState = layer.initState(B);
    let sE: MemoryState = layer.initState(B);
    for (let t = 0; t < 60; t++) {
      const zt = rng.normals(B * cfg.dModel);
      const a = layer.step(zt, sL);
      const b = engine.step(zt, sE);
      assert.deepEqual([...b.g], [...a.g], `g at t ${t}`);
      near(`B${B} action`, a.action, b.action);
      near(`B${B} p`, a.p, b.p);
      near(`B${B} surprise`, a.surprise, b.surprise);
      near(`B${B} M`, (a.state as FW).M, b.state.M);
      near(`B${B} m`, (a.state as FW).m, b.state.m);
      assert.equal(b.state.B, B);
      assert.equal(b.state.t, a.state.t);
      sL = a.state;
      sE = b.state;
    }
  }
});

test("the input state is never mutated and outputs are fresh arrays", () => {
  const layer = opLayer({ dModel: 16, dAction: 2 });
  const engine = createStepEngine(layer);
  const rng = new Rng(9);
  let s = layer.initState(1);
  for (let i = 0; i < 5; i++) s = engine.step(rng.normals(16), s).state;
  const st = s as FW;
  const M0 = st.M.slice();
  const m0 = st.m.slice();
  const out1 = engine.step(rng.normals(16), s);
  const out2 = engine.step(rng.normals(16), s);
  assert.deepEqual(st.M, M0);
  assert.deepEqual(st.m, m0);
  assert.notEqual(out1.state.M, out2.state.M);
  assert.notEqual(out1.action, out2.action);
  assert.equal(out1.state.t, s.t + 1);
});

test("bad input throws a typed error and leaves the state and the engine intact", () => {
  const layer = opLayer({ dModel: 12, dAction: 3 });
  const engine = createStepEngine(layer);
  const rng = new Rng(10);
  let s = layer.initState(1);
  for (let i = 0; i < 3; i++) s = engine.step(rng.normals(12), s).state;
  const st = s as FW;
  const M0 = st.M.slice();
  const z = rng.normals(12);
  assert.throws(() => engine.step(new Float32Array(11), s), ShapeError);
  assert.throws(() => engine.step(Array.from(z) as unknown as Float32Array, s), ShapeError);
  assert.throws(() => engine.step(new Float64Array(12) as unknown as Float32Array, s), ShapeError);
  assert.throws(() => engine.step(z, layer.initState(2)), ShapeError);
  assert.throws(() => engine.step(z, { kind: "rnn", B: 1, t: 0, h: new Float32Array(32) }), ShapeError);
  assert.throws(() => engine.step(z, { ...st, M: new Float32Array(5) }), ShapeError);
  assert.throws(() => engine.step(z, null as unknown as MemoryState), ShapeError);
  for (const bad of [NaN, Infinity, -Infinity]) {
    const zb = z.slice();
    zb[7] = bad;
    assert.throws(() => engine.step(zb, s), (e: unknown) => e instanceof NonFiniteError && /zt\[7\]/.test((e as Error).message));
  }
  assert.deepEqual(st.M, M0);
  // still equal to the layer afterwards
  compareStep("after errors", layer.step(z, s), engine.step(z, s));
});

test("other arms are refused with a ConfigError", () => {
  for (const arm of ["always-write", "gru", "kv-cache", "no-memory"] as const) {
    const layer = new AuraMemLayer({ dModel: 8, dAction: 2 }, { arm });
    assert.throws(() => createStepEngine(layer), ConfigError, arm);
  }
});

// ---------------------------------------------------------------------------------------------
// AuraMemLayer.step on the fused path (the WASM backend's default) against the op path

/** A layer on the fused path and the op-path reference sharing one model (so one set of parameters). */
function fusedAndRef(cfg: MemoryConfigInit): { fused: AuraMemLayer; ref: AuraMemLayer } {
  const ref = opLayer(cfg);
  const fused = AuraMemLayer.fromModel(ref.model);
  assert.equal(ref.stepPath(), "ops");
  assert.equal(fused.stepPath(), "fused");
  return { fused, ref };
}

function layerSideBySide(fused: AuraMemLayer, ref: AuraMemLayer, B: number, T: number, seed: number): { maxAbs: number; writes: number } {
  const rng = new Rng(seed);
  const dModel = ref.config.dModel;
  let sF: MemoryState = fused.initState(B);
  let sR: MemoryState = ref.initState(B);
  let maxAbs = 0;
  let writes = 0;
  for (let t = 0; t < T; t++) {
    const zt = rng.normals(B * dModel);
    const a = ref.step(zt, sR);
    const b = fused.step(zt, sF);
    assert.deepEqual([...b.g], [...a.g], `g at t ${t} (p ref ${a.p[0]}, fused ${b.p[0]})`);
    const fa = a.state as FW;
    const fb = b.state as FW;
    assert.equal(fb.t, fa.t);
    maxAbs = Math.max(
      maxAbs,
      near(`action t${t}`, a.action, b.action),
      near(`p t${t}`, a.p, b.p),
      near(`surprise t${t}`, a.surprise, b.surprise),
      near(`M t${t}`, fa.M, fb.M),
      near(`m t${t}`, fa.m, fb.m),
    );
    for (let i = 0; i < B; i++) writes += a.g[i]!;
    sR = a.state;
    sF = b.state;
  }
  return { maxAbs, writes };
}

test("layer.step (fused) == layer.step (op path): dModel 64 and 4096, write decay 1 and 0.8, continuous and discrete, batch 1 and 2", (t) => {
  for (const dModel of [64, 4096]) {
    for (const writeDecay of [1, 0.8]) {
      for (const actionKind of ["continuous", "discrete"] as const) {
        const { fused, ref } = fusedAndRef({ dModel, dAction: actionKind === "discrete" ? 5 : 7, actionKind, writeDecay, seed: 2 });
        const T = dModel === 64 ? 300 : 25;
        const one = layerSideBySide(fused, ref, 1, T, 40 + dModel);
        const two = layerSideBySide(fused, ref, 2, Math.ceil(T / 3), 50 + dModel);
        t.diagnostic(
          `dModel ${dModel}, alpha ${writeDecay}, ${actionKind}: max |fused - ops| ${Math.max(one.maxAbs, two.maxAbs).toExponential(2)} (${one.writes}/${T} writes at B = 1)`,
        );
        if (dModel === 64) assert.ok(one.writes > 5 && one.writes < T - 5, `the gate should both write and skip (${one.writes})`);
      }
    }
  }
  // the TS backend has no fused path
  assert.equal(new AuraMemLayer({ dModel: 8, dAction: 2 }, { backend: "ts" }).stepPath(), "ops");
  assert.equal(new AuraMemLayer({ dModel: 8, dAction: 2 }, { backend: "wasm", arm: "gru" }).stepPath(), "ops");
});

test("layer.step (fused) uses the new parameters after training steps, assignment and a checkpoint load", () => {
  const cfg = { dModel: 48, dAction: 3, seed: 6 };
  const { fused, ref } = fusedAndRef(cfg);
  layerSideBySide(fused, ref, 1, 5, 1); // packs the weights
  const before = fused.step(new Rng(2).normals(48), fused.initState(1)).action.slice();
  // real training steps: forward, backward, Adam (what train() does)
  const model = ref.model;
  const adam = new Adam(model.params, { lr: 0.02 });
  const rng = new Rng(3);
  for (let i = 0; i < 3; i++) {
    const fr = model.forward(rng.normals(2 * 10 * 48), 2, 10, { training: true });
    adam.step(model.backward(fr, rng.normals(2 * 10 * 3)));
  }
  layerSideBySide(fused, ref, 1, 20, 4);
  const after = fused.step(new Rng(2).normals(48), fused.initState(1)).action;
  assert.ok(Math.abs(after[0]! - before[0]!) > 1e-6, "training changed the output");
  assignParams(model.params, cloneParams(new AuraMemLayer({ ...cfg, seed: 7 }).model.params));
  layerSideBySide(fused, ref, 1, 20, 5);
  assignCheckpoint(model, checkpointOf(new AuraMemLayer({ ...cfg, seed: 8 })));
  layerSideBySide(fused, ref, 1, 20, 6);
});

test("layer.step (fused): NaN/Inf in zt or the state and an overflow throw the op path's NonFiniteError (same message); the state is untouched", () => {
  const { fused, ref } = fusedAndRef({ dModel: 16, dAction: 2 });
  const rng = new Rng(12);
  let s: MemoryState = fused.initState(2);
  for (let i = 0; i < 4; i++) s = fused.step(rng.normals(32), s).state;
  const st = s as FW;
  const M0 = st.M.slice();
  const m0 = st.m.slice();
  const messageOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof NonFiniteError, `expected a NonFiniteError, got ${String(e)}`);
      return e.message;
    }
    assert.fail("expected a throw");
  };
  const z = rng.normals(32);
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [3, 16 + 5]) {
      const zb = z.slice();
      zb[at] = bad;
      const msg = messageOf(() => fused.step(zb, s));
      assert.equal(msg, messageOf(() => ref.step(zb, s)));
      assert.match(msg, new RegExp(`zt\\[${at}\\]`));
    }
  }
  const Mbad = st.M.slice();
  Mbad[300] = NaN;
  const badState: MemoryState = { ...st, M: Mbad };
  assert.equal(messageOf(() => fused.step(z, badState)), messageOf(() => ref.step(z, badState)));
  const huge = new Float32Array(32).fill(1e19);
  const over = messageOf(() => fused.step(huge, s));
  assert.equal(over, messageOf(() => ref.step(huge, s)));
  assert.match(over, /overflow/);
  assert.deepEqual(st.M, M0);
  assert.deepEqual(st.m, m0);
  layerSideBySide(fused, ref, 2, 5, 13);
});
