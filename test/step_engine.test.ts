/**
 * The fast batch-1 step engine (src/deploy/step_engine.ts, kernel assembly/step.ts) against the one
 * reference, the model's op composition run by `AuraMemLayer.step`:
 * equal within 1e-5 (absolute + relative) with identical write decisions over 1,000 steps, odd
 * dimensions (SIMD tails, encoder remainder columns), dModel 4096, refresh() after a parameter change,
 * independent engines, and bad input leaving everything untouched. No timing assertions.
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

/** Run layer.step and the engine side by side, each on its own state. */
function runSideBySide(cfg: MemoryConfigInit, T: number, seed: number, perturb = 0): { maxAbs: number; writes: number } {
  const layer = new AuraMemLayer(cfg);
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

test("refresh() re-uploads the weights after they change; engines do not share memory", () => {
  const cfg = { dModel: 40, dAction: 4 };
  const layer = new AuraMemLayer(cfg);
  const other = new AuraMemLayer({ ...cfg, seed: 9 });
  const engine = createStepEngine(layer);
  const engine2 = createStepEngine(other);
  const rng = new Rng(8);
  const zt = rng.normals(40);
  const s0 = layer.initState(1);
  compareStep("before", layer.step(zt, s0), engine.step(zt, s0));
  // change every parameter in place (what an optimiser step does)
  for (const p of Object.values(layer.model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! * 0.9 + 0.01;
  const stale = engine.step(zt, s0);
  const fresh = layer.step(zt, s0);
  let differs = false;
  for (let i = 0; i < fresh.action.length; i++) if (Math.abs(fresh.action[i]! - stale.action[i]!) > 1e-4) differs = true;
  assert.ok(differs, "a stale engine should still use the old weights");
  engine.refresh();
  compareStep("after refresh", fresh, engine.step(zt, s0));
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

test("the input state is never mutated and outputs are fresh arrays", () => {
  const layer = new AuraMemLayer({ dModel: 16, dAction: 2 });
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
  const layer = new AuraMemLayer({ dModel: 12, dAction: 3 });
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
