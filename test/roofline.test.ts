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
