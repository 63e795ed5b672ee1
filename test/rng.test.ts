/**
 * The seeded generator (aura-mem/util/rng): `addNormals` is the task generators' noise in one loop, so it must
 * be the same draws as calls of `normal()`, in the same order, whatever the pending spare normal, and leave
 * the generator where those calls would.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "aura-mem/util/rng";

test("Rng.addNormals: the same draws as n calls of normal(), spare normal included, and the same state after", () => {
  for (const lead of [0, 1, 2, 3]) {
    for (const n of [0, 1, 2, 3, 7, 64, 65]) {
      const a = new Rng(11 + lead);
      const b = new Rng(11 + lead);
      // leave a pending spare normal (odd lead) or none (even lead)
      for (let i = 0; i < lead; i++) assert.equal(a.normal(), b.normal());
      const base = Float32Array.from({ length: n + 4 }, (_, i) => 0.25 * i - 1);
      const got = base.slice();
      a.addNormals(got, 2, n, 0.3);
      const want = base.slice();
      for (let i = 0; i < n; i++) want[2 + i] = want[2 + i]! + 0.3 * b.normal();
      assert.deepEqual(got, want, `lead ${lead}, n ${n}`);
      // the generators go on identically: normals, integers and uniforms
      for (let i = 0; i < 5; i++) assert.equal(a.normal(), b.normal(), `normal ${i} after, lead ${lead}, n ${n}`);
      assert.equal(a.int(1000), b.int(1000));
      assert.equal(a.uniform(), b.uniform());
    }
  }
});
