/**
 * The public layer: the model-card usage, constant state size, step() == forward(), binary gate,
 * seeded determinism, checkpoint round trip, and bad input leaving the state untouched.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuraMemLayer, MemoryConfig, ShapeError, NonFiniteError, ConfigError, FormatError, Rng, type MemoryState } from "aura-mem";
import { assertClose } from "./helpers.js";

const card = { dModel: 4096, dKey: 32, dVal: 32, dAction: 7 };

test("model card: 4096-d backbone, 32x32 memory -> 4,224 bytes, action [T, 7], binary writes", () => {
  const layer = new AuraMemLayer(new MemoryConfig(card));
  assert.equal(layer.memoryBytes(1), 4224);
  assert.equal(layer.memoryBytes(3), 3 * 4224);
  const T = 5;
  const z = new Rng(1).normals(T * 4096);
  const out = layer.forward(z);
  assert.equal(out.action.length, T * 7);
  assert.equal(out.g.length, T);
  for (const g of out.g) assert.ok(g === 0 || g === 1, `gate ${g} is not binary`);
  for (let t = 0; t < T; t++) assert.equal(out.g[t], out.p[t]! > 0.5 ? 1 : 0);
  const st = out.state;
  assert.equal(st.kind, "fast-weights");
  if (st.kind === "fast-weights") assert.equal(st.M.byteLength + st.m.byteLength, 4224);
});

test("state bytes are constant from T = 1 to T = 100,000 (actual tensors, streamed)", () => {
  const layer = new AuraMemLayer({ dModel: 16, dAction: 4 });
  const rng = new Rng(2);
  let state = layer.initState(1);
  const sizes = new Set<number>();
  const checkpoints = new Set([1, 10, 100, 1000, 10000, 100000]);
  const chunk = 1000;
  let t = 0;
  // one step, then chunks of forward() up to 100,000 steps
  const one = layer.step(rng.normals(16), state);
  state = one.state;
  t = 1;
  sizes.add(layer.model.stateBytes(state));
  while (t < 100000) {
    const n = t === 1 ? chunk - 1 : chunk;
    const out = layer.forward(rng.normals(n * 16), 1, state);
    state = out.state;
    t += n;
    if (checkpoints.has(t)) sizes.add(layer.model.stateBytes(state));
  }
  assert.equal(state.t, 100000);
  assert.deepEqual([...sizes], [(32 * 32 + 32) * 4]);
  assert.equal(layer.memoryBytes(1, 100000), 4224);
  if (state.kind === "fast-weights") for (const v of state.M) assert.ok(Number.isFinite(v));
});

test("kv-cache state grows linearly while AURA stays flat", () => {
  const cfg = new MemoryConfig({ dModel: 8, dAction: 2 });
  const kv = new AuraMemLayer(cfg, { arm: "kv-cache" });
  const aura = new AuraMemLayer(cfg);
  const rng = new Rng(3);
  let sk = kv.initState(1);
  let sa = aura.initState(1);
  for (let t = 1; t <= 64; t++) {
    const z = rng.normals(8);
    sk = kv.step(z, sk).state;
    sa = aura.step(z, sa).state;
    assert.equal(kv.model.stateBytes(sk), t * (32 + 32) * 4);
    assert.equal(aura.model.stateBytes(sa), 4224);
  }
  assert.equal(kv.memoryBytes(1, 100000) / aura.memoryBytes(1), 100000 * 64 * 4 / 4224);
});

for (const backend of ["ts", "wasm"] as const) {
  test(`step() equals forward() for every arm (${backend})`, () => {
    const arms = ["aura", "always-write", "random", "periodic", "recon-gate", "gru", "lstm", "kv-cache", "kv-window", "no-memory"] as const;
    for (const arm of arms) {
      const layer = new AuraMemLayer({ dModel: 12, dAction: 3, dKey: 8, dVal: 8, dProj: 8, dGate: 8, dHidden: 16, seed: 5 }, {
        backend,
        arm,
        armOptions: { window: 4, writeRate: 0.3, tau: 0.5 },
      });
      const B = 2;
      const T = 9;
      const z = new Rng(7).normals(B * T * 12);
      const full = layer.forward(z, B);
      let state = layer.initState(B);
      for (let t = 0; t < T; t++) {
        const zt = new Float32Array(B * 12);
        for (let b = 0; b < B; b++) zt.set(z.subarray((b * T + t) * 12, (b * T + t + 1) * 12), b * 12);
        const s = layer.step(zt, state);
        state = s.state;
        for (let b = 0; b < B; b++) {
          assertClose(`${arm} action b${b} t${t}`, full.action.subarray((b * T + t) * 3, (b * T + t + 1) * 3), s.action.subarray(b * 3, b * 3 + 3), 1e-5);
          assert.equal(s.g[b], full.g[b * T + t], `${arm} gate b${b} t${t}`);
        }
      }
      // chunked == whole
      const a = layer.forward(z.slice(0, B * T * 12), B);
      assertClose(`${arm} deterministic`, full.action, a.action, 0);
    }
  });
}

test("seeded determinism: same seed same parameters and outputs, different seed differs", () => {
  const mk = (seed: number) => new AuraMemLayer({ dModel: 10, dAction: 3, seed }, { backend: "wasm" });
  const z = new Rng(9).normals(20 * 10);
  const a = mk(1).forward(z);
  const b = mk(1).forward(z);
  const c = mk(2).forward(z);
  assert.deepEqual([...a.action], [...b.action]);
  assert.notDeepEqual([...a.action], [...c.action]);
});

test("bad input: typed errors and the state is left untouched", () => {
  const layer = new AuraMemLayer({ dModel: 8, dAction: 2 }, { backend: "wasm" });
  let state = layer.initState(1);
  state = layer.step(new Rng(1).normals(8), state).state;
  const snap = (s: MemoryState) => (s.kind === "fast-weights" ? [...s.M, ...s.m] : []);
  const before = snap(state);
  const bad = new Float32Array(8);
  bad[3] = NaN;
  assert.throws(() => layer.step(bad, state), NonFiniteError);
  bad[3] = Infinity;
  assert.throws(() => layer.step(bad, state), NonFiniteError);
  assert.throws(() => layer.step(new Float32Array(7), state), ShapeError);
  assert.throws(() => layer.step([1, 2, 3] as unknown as Float32Array, state), ShapeError);
  assert.throws(() => layer.forward(new Float32Array(12)), ShapeError);
  assert.throws(() => layer.forward(new Float32Array(16), 0), ShapeError);
  const other = new AuraMemLayer({ dModel: 8, dAction: 2, dKey: 16 }, { backend: "wasm" });
  assert.throws(() => layer.step(new Float32Array(8), other.initState(1)), ShapeError);
  assert.throws(() => layer.step(new Float32Array(8), layer.initState(2)), ShapeError); // zt sized for batch 1, state for 2
  assert.deepEqual(snap(state), before);
  assert.throws(() => new MemoryConfig({ dModel: 0, dAction: 2 }), ConfigError);
  assert.throws(() => new MemoryConfig({ dModel: 8, dAction: 2, dKye: 3 } as never), ConfigError);
  assert.throws(() => new MemoryConfig({ dModel: 8 } as never), ConfigError);
});

test("checkpoint round trip is bit-exact; malformed checkpoints give FormatError", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-ck-"));
  try {
    for (const arm of ["aura", "recon-gate", "lstm", "kv-window"] as const) {
      const layer = new AuraMemLayer({ dModel: 6, dAction: 3, seed: 4 }, { arm, backend: "wasm", armOptions: { window: 3, tau: 0.7 } });
      const p = join(dir, arm);
      await layer.save(p);
      const back = await AuraMemLayer.load(p, { backend: "wasm" });
      assert.equal(back.arm, arm);
      for (const [k, v] of Object.entries(layer.model.params)) {
        assert.deepEqual(Buffer.from(back.model.params[k]!.data.buffer), Buffer.from(v.data.buffer), k);
      }
      const z = new Rng(3).normals(4 * 6);
      assert.deepEqual([...back.forward(z).action], [...layer.forward(z).action]);
      if (arm === "recon-gate") assert.equal(back.model.tau, layer.model.tau);
    }
    // the observation-norm gate input: its weights and the flag survive the round trip
    const normed = new AuraMemLayer({ dModel: 6, dAction: 3, seed: 4, gateNorm: true }, { backend: "wasm" });
    normed.model.params["gate.w1n"]!.data.set(new Rng(8).normals(normed.config.dGate));
    normed.model.paramsChanged();
    await normed.save(join(dir, "normed"));
    const nb = await AuraMemLayer.load(join(dir, "normed"), { backend: "wasm" });
    assert.equal(nb.config.gateNorm, true);
    assert.deepEqual([...nb.model.params["gate.w1n"]!.data], [...normed.model.params["gate.w1n"]!.data]);
    const zn = new Rng(9).normals(4 * 6);
    assert.deepEqual([...nb.forward(zn).p], [...normed.forward(zn).p]);
    writeFileSync(join(dir, "aura.safetensors"), Buffer.from([1, 2, 3]));
    await assert.rejects(() => AuraMemLayer.load(join(dir, "aura")), FormatError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("state guard (stateLimit): a poisoned stream is reset to zeros after the step, on the fused and the op path; clean steps are untouched", () => {
  const cfg = new MemoryConfig({ dModel: 16, dAction: 4, seed: 3 });
  const rng = new Rng(9);
  for (const fusedStep of [true, false]) {
    const guarded = new AuraMemLayer(cfg, { backend: "wasm", fusedStep, stateLimit: 100 });
    const plain = new AuraMemLayer(cfg, { backend: "wasm", fusedStep });
    // two streams: b = 0 clean, b = 1 with a bias 1e4 (a written huge observation)
    const s0 = guarded.initState(2);
    if (s0.kind !== "fast-weights") throw new Error("aura state expected");
    const poisoned: MemoryState = { ...s0, m: Float32Array.from(s0.m, (_, j) => (j >= s0.m.length / 2 ? 1e4 : 0)) };
    const before = { M: Float32Array.from(poisoned.M), m: Float32Array.from(poisoned.m) };
    const z = rng.normals(2 * 16);
    const g = guarded.step(z, poisoned);
    const p = plain.step(z, poisoned);
    assert.deepEqual(Array.from(g.reset!), [0, 1], `fusedStep ${fusedStep}`);
    assert.equal(p.reset, undefined, "no guard, no reset field");
    if (g.state.kind !== "fast-weights" || p.state.kind !== "fast-weights") throw new Error("aura state expected");
    const V = g.state.m.length / 2;
    const S = g.state.M.length / 2;
    // the clean stream is exactly the unguarded step; the poisoned one steps from zeros (reset going in)
    assert.deepEqual(Array.from(g.state.m.subarray(0, V)), Array.from(p.state.m.subarray(0, V)));
    assert.deepEqual(Array.from(g.state.M.subarray(0, S)), Array.from(p.state.M.subarray(0, S)));
    assert.deepEqual(Array.from(g.action.subarray(0, 4)), Array.from(p.action.subarray(0, 4)));
    const fresh = plain.step(z.slice(16), plain.initState(1));
    if (fresh.state.kind !== "fast-weights") throw new Error("aura state expected");
    assertClose("poisoned stream = a step from zeros: m", fresh.state.m, g.state.m.subarray(V), 1e-6);
    assertClose("poisoned stream = a step from zeros: action", fresh.action, g.action.subarray(4), 1e-6);
    assert.ok(Math.abs(p.state.m[V]!) > 100, "without the guard the poison stays");
    assert.equal(g.state.t, p.state.t);
    // the input state is never mutated
    assert.deepEqual(Array.from(poisoned.m), Array.from(before.m));
    assert.deepEqual(Array.from(poisoned.M), Array.from(before.M));
    // a clean run never trips it
    let st = guarded.initState(1);
    for (let t = 0; t < 200; t++) {
      const o = guarded.step(rng.normals(16), st);
      assert.equal(o.reset![0], 0);
      st = o.state;
    }
  }
  // a step that writes a huge observation (always-write: the write is certain) leaves zeros behind, flagged
  // (beta = sigmoid(w . z + b) saturates on a huge z: take the first of a few huge observations it writes)
  const aw = new AuraMemLayer(cfg, { backend: "wasm", arm: "always-write", stateLimit: 20 });
  const awPlain = new AuraMemLayer(cfg, { backend: "wasm", arm: "always-write" });
  let hugeZ: Float32Array | null = null;
  for (let k = 0; k < 20 && !hugeZ; k++) {
    const zz = rng.normals(16).map((x) => x * 1e4);
    const o = awPlain.step(zz, awPlain.initState(1));
    if (o.state.kind === "fast-weights" && Math.hypot(...o.state.m) > 20) hugeZ = zz;
  }
  assert.ok(hugeZ, "unguarded, a huge write stays in the memory");
  const w = aw.step(hugeZ, aw.initState(1));
  assert.equal(w.reset![0], 1);
  if (w.state.kind !== "fast-weights") throw new Error("fast-weight state expected");
  assert.ok(w.state.M.every((x) => x === 0) && w.state.m.every((x) => x === 0));
  // a state that would overflow inside the step is reset going in (a refused step would keep the poison for good)
  const g2 = new AuraMemLayer(cfg, { backend: "wasm", stateLimit: 100 });
  const s1 = g2.initState(1);
  if (s1.kind !== "fast-weights") throw new Error("aura state expected");
  const huge: MemoryState = { ...s1, m: new Float32Array(s1.m.length).fill(1e30) };
  assert.throws(() => new AuraMemLayer(cfg, { backend: "wasm" }).step(rng.normals(16), huge), NonFiniteError, "unguarded: the step overflows");
  const o2 = g2.step(rng.normals(16), huge);
  assert.equal(o2.reset![0], 1);
  // NaN / Inf in a state are still bad input, guard or not
  const inf: MemoryState = { ...s1, m: new Float32Array(s1.m.length).fill(Number.POSITIVE_INFINITY) };
  assert.throws(() => g2.step(rng.normals(16), inf), NonFiniteError);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "100" as unknown as number]) {
    assert.throws(() => new AuraMemLayer(cfg, { backend: "wasm", stateLimit: bad }), ConfigError, String(bad));
  }
});
