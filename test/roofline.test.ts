/**
 * Roofline probes of `aura bench-speed` (assembly/roofline.ts): the WASM kernels compute exactly
 * (bit for bit: the same f32 operations in the same order) what the TypeScript references in
 * src/wasm/roofline.ts compute, on small inputs; lengths are validated. Nothing is timed here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadKernels, WasmError } from "aura-mem/wasm/runtime";
import { roofMaddFlops, roofMaddNaive, roofReadNaive, rooflineWasm, ROOF_MADD_LANES } from "aura-mem/wasm/roofline";
import { Rng } from "aura-mem/util/rng";

const probes = rooflineWasm(loadKernels());

test("roof_madd equals the reference bit for bit", () => {
  const rng = new Rng(5);
  for (const [iters, m, a] of [[0, 0.5, 0.25], [1, 0.999, 1e-3], [7, -1.25, 0.5], [1000, 0.9999, 1e-4]] as const) {
    const init = rng.normals(ROOF_MADD_LANES);
    assert.deepEqual(probes.madd(init, m, a, iters), roofMaddNaive(init, m, a, iters), `iters ${iters}`);
  }
  assert.equal(roofMaddFlops(10), 2 * 4 * 12 * 10);
});

test("roof_read equals the reference bit for bit, on a copy and on a resident buffer", () => {
  const rng = new Rng(6);
  for (const n of [16, 32, 16 * 37, 4096]) {
    const x = rng.normals(n);
    assert.deepEqual(probes.read(x), roofReadNaive(x), `n ${n}`);
  }
  const r = probes.resident(1024);
  try {
    assert.equal(r.bytes, 4096);
    assert.deepEqual(r.run(), new Float32Array(16)); // zero-filled
  } finally {
    r.release();
  }
});

test("the probes validate their sizes", () => {
  assert.throws(() => probes.read(new Float32Array(17)), WasmError);
  assert.throws(() => roofReadNaive(new Float32Array(0)), WasmError);
  assert.throws(() => probes.madd(new Float32Array(47), 1, 0, 1), WasmError);
});

test("profiled ops return what the ops return and count FLOPs from the shapes (one AURA step)", async () => {
  const { profiledOps, rooflineRows } = await import("../src/bench/roofline.js");
  const { denseForwardCost, deltaRuleForwardCost } = await import("../src/bench/flops.js");
  const { MemoryConfig } = await import("aura-mem/config");
  const { naiveOps } = await import("aura-mem/ops/index");
  const { armSpec } = await import("aura-mem/model/arms");
  const { SequenceModel } = await import("aura-mem/model/model");
  const cfg = new MemoryConfig({ dModel: 8, dKey: 4, dVal: 4, dProj: 4, dGate: 4, dAction: 3, actionKind: "discrete" });
  const names = new Map<Float32Array, string>();
  const prof = profiledOps(naiveOps(), names);
  const plain = new SequenceModel(armSpec("aura", cfg, {}), naiveOps());
  const model = new SequenceModel(armSpec("aura", cfg, {}), prof.ops);
  for (const [k, p] of Object.entries(model.params)) {
    p.data.set(plain.params[k]!.data);
    names.set(p.data, k);
  }
  const B = 2;
  const T = 5;
  const z = new Rng(7).normals(B * T * 8);
  const a = plain.forward(z, B, T, { training: true });
  const b = model.forward(z, B, T, { training: true });
  assert.deepEqual(b.out, a.out);
  const enc = prof.records.get("encoder dense fwd")!;
  const width = model.params["enc.b"]!.data.length;
  assert.equal(enc.calls, 1);
  assert.equal(enc.flops, denseForwardCost(B * T, 8, width, true).flops);
  assert.equal(prof.records.get("delta rule fwd")!.flops, deltaRuleForwardCost({ B, T, dK: 4, dV: 4, dGate: 4 }).flops);
  assert.ok(prof.records.has("gate dense fwd") && prof.records.has("head dense fwd") && prof.records.has("activation fwd"));
  const lim = { peakGflops: 10, peakGflopsMedian: 10, bandwidthGBs: 5, bandwidthGBsMedian: 5, bufferBytes: 1 };
  const rows = rooflineRows(prof.records, 1, 1e9, lim);
  const whole = rows[rows.length - 1]!;
  assert.equal(whole.flops, [...prof.records.values()].reduce((s, r) => s + r.flops, 0));
  assert.ok(Math.abs(rows.reduce((s, r) => s + (r === whole ? 0 : r.pctStep), 0) - 100) < 1e-9);
});
