/**
 * ONNX export of the aura step (src/deploy/onnx_export.ts): the graph is standard opset-17 ONNX with
 * the documented inputs / outputs, and onnxruntime-node (CPU EP) running it matches
 * `AuraMemLayer.step` within 1e-5 (absolute + relative) with identical g, each framework feeding its
 * own next state back: 1,000 steps at dModel 64, a perturbed ("trained") discrete layer, odd
 * dimensions, and a few steps at dModel 4096. Plus the `aura export-onnx` command.
 * onnxruntime-node is a dev dependency loaded dynamically; when it cannot load, the runtime tests are
 * skipped with the reason (and only then).
 */
import { test } from "node:test";
import { missingInput, near, type OptionalInput } from "./helpers.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { AuraMemLayer } from "aura-mem/layer";
import { ConfigError, FormatError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import type { MemoryState } from "aura-mem/model/model";
import type { MemoryConfigInit } from "aura-mem/config";
import { ONNX_OPS_USED, ONNX_OPSET, decodeOnnx, exportOnnx } from "aura-mem/deploy/onnx_export";
import { registerOnnxCommands } from "../src/cli/onnx.js";

type Ort = typeof import("onnxruntime-node");
type FW = Extract<MemoryState, { kind: "fast-weights" }>;

let ort: Ort | null = null;
let ortError = "";
try {
  const mod = (await import("onnxruntime-node")) as Ort & { default?: Ort };
  ort = typeof mod.InferenceSession?.create === "function" ? mod : (mod.default ?? null);
  if (!ort) ortError = "the module has no InferenceSession";
} catch (err) {
  ortError = (err as Error).message;
}
const SKIP = `onnxruntime-node cannot be loaded here (${ortError}); ONNX runtime parity not checked`;
const ORT: OptionalInput = { name: "onnxruntime-node", present: ort !== null, hint: `cannot be loaded here (${ortError}): npm ci installs it (dev dependency)` };

/** Run T steps through layer.step and onnxruntime (each feeding its own state back); returns max |diff|. */
async function parity(o: Ort, layer: AuraMemLayer, T: number, seed: number): Promise<{ maxAbs: number; writes: number }> {
  const c = layer.config;
  const bytes = await exportOnnx(layer);
  const session = await o.InferenceSession.create(bytes, { executionProviders: ["cpu"], intraOpNumThreads: 1 });
  try {
    const rng = new Rng(seed);
    let ours: MemoryState = layer.initState(1);
    let M: Float32Array = new Float32Array(c.dKey * c.dVal);
    let m: Float32Array = new Float32Array(c.dVal);
    let maxAbs = 0;
    let writes = 0;
    for (let t = 0; t < T; t++) {
      const zt = rng.normals(c.dModel);
      const a = layer.step(zt, ours);
      const out = await session.run({
        z: new o.Tensor("float32", zt, [1, c.dModel]),
        M: new o.Tensor("float32", M, [1, c.dKey, c.dVal]),
        m: new o.Tensor("float32", m, [1, c.dVal]),
      });
      assert.deepEqual(out.action!.dims, [1, c.dAction]);
      assert.deepEqual(out.g!.dims, [1]);
      assert.deepEqual(out.M_next!.dims, [1, c.dKey, c.dVal]);
      assert.deepEqual(out.m_next!.dims, [1, c.dVal]);
      const f = (n: string): Float32Array => out[n]!.data as Float32Array;
      assert.equal(f("g")[0], a.g[0], `step ${t}: g differs (p ours ${a.p[0]}, onnxruntime ${f("p")[0]})`);
      const s = a.state as FW;
      maxAbs = Math.max(
        maxAbs,
        near(`step ${t} action`, a.action, f("action")),
        near(`step ${t} p`, a.p, f("p")),
        near(`step ${t} surprise`, a.surprise, f("surprise")),
        near(`step ${t} M_next`, s.M, f("M_next")),
        near(`step ${t} m_next`, s.m, f("m_next")),
      );
      writes += a.g[0]!;
      ours = a.state;
      M = f("M_next");
      m = f("m_next");
    }
    return { maxAbs, writes };
  } finally {
    await session.release();
  }
}

test("exported graph: opset 17, standard ops of the default domain, documented inputs / outputs / initializers", async () => {
  const layer = new AuraMemLayer({ dModel: 24, dAction: 3 });
  const bytes = await exportOnnx(layer);
  const info = await decodeOnnx(bytes);
  assert.equal(info.opset, ONNX_OPSET);
  assert.equal(ONNX_OPSET, 17);
  assert.equal(info.irVersion, 8);
  assert.deepEqual(info.inputs, ["z", "M", "m"]);
  assert.deepEqual(info.outputs, ["action", "g", "p", "surprise", "M_next", "m_next"]);
  assert.deepEqual([...info.ops].sort(), [...ONNX_OPS_USED].sort());
  const standard = new Set(["MatMul", "Add", "Sub", "Mul", "Div", "Sqrt", "ReduceSumSquare", "ReduceSum", "Max", "Tanh", "Sigmoid", "Abs", "Greater", "Cast", "Where", "Concat", "Reshape", "Transpose", "Slice", "Split", "Unsqueeze"]);
  for (const op of info.ops) assert.ok(standard.has(op), `non-listed op ${op}`);
  for (const w of ["enc.W", "enc.b", "gate.W1", "gate.b1", "gate.w2", "gate.b2", "head.W1", "head.b1", "head.W2", "head.b2"]) {
    assert.ok(info.initializers.includes(w), `initializer ${w}`);
  }
  // full decode: every node in the default domain, shapes of the graph inputs, raw weights bit-exact
  const mod = (await import("onnx-proto")) as unknown as { onnx?: typeof import("onnx-proto").onnx; default?: { onnx: typeof import("onnx-proto").onnx } };
  const onnx = (mod.onnx ?? mod.default?.onnx)!;
  const model = onnx.ModelProto.decode(bytes);
  for (const n of model.graph!.node ?? []) assert.equal(n.domain ?? "", "");
  const dimsOf = (name: string): number[] =>
    model.graph!.input!.find((x) => x.name === name)!.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
  assert.deepEqual(dimsOf("z"), [1, 24]);
  assert.deepEqual(dimsOf("M"), [1, 32, 32]);
  assert.deepEqual(dimsOf("m"), [1, 32]);
  const encW = model.graph!.initializer!.find((x) => x.name === "enc.W")!;
  assert.deepEqual(encW.dims!.map(Number), [24, 129]);
  const raw = encW.rawData!;
  const vals = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  assert.deepEqual(vals, layer.model.params["enc.W"]!.data);
  await assert.rejects(decodeOnnx(new Uint8Array([0xff, 0xff, 0xff])), FormatError);
});

test("only the aura arm exports", async () => {
  for (const arm of ["always-write", "gru", "kv-window"] as const) {
    await assert.rejects(exportOnnx(new AuraMemLayer({ dModel: 8, dAction: 2 }, { arm })), ConfigError);
  }
});

test("onnxruntime == aura-mem over 1,000 steps at dModel 64 (g identical, 1e-5)", async (t) => {
  if (missingInput(t, ORT) || !ort) return;
  const { maxAbs, writes } = await parity(ort, new AuraMemLayer({ dModel: 64, dAction: 7 }), 1000, 1);
  t.diagnostic(`max |onnxruntime - aura-mem| over 1,000 steps (action, p, surprise, M_next, m_next): ${maxAbs.toExponential(2)}; ${writes} writes`);
  assert.ok(writes > 50 && writes < 950, `the gate should both write and skip (${writes} writes)`);
});

test("onnxruntime == aura-mem on a perturbed ('trained') discrete layer and odd dimensions", async (t) => {
  if (missingInput(t, ORT) || !ort) return;
  const layer = new AuraMemLayer({ dModel: 96, dAction: 5, actionKind: "discrete", seed: 4, gateBiasInit: 0.5 });
  const r = new Rng(104);
  for (const p of Object.values(layer.model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! + 0.05 * r.normal();
  const a = await parity(ort, layer, 500, 2);
  assert.ok(a.writes > 10 && a.writes < 490, `${a.writes} writes`);
  const cfgs: MemoryConfigInit[] = [
    { dModel: 63, dAction: 3, dKey: 5, dVal: 7, dProj: 3, dGate: 5, dHidden: 9, gateThreshold: 0.3 },
    { dModel: 1, dAction: 1, dKey: 1, dVal: 1, dProj: 1, dGate: 1, dHidden: 1 },
    { dModel: 40, dAction: 4, writeDecay: 0.7 },
  ];
  for (const [i, cfg] of cfgs.entries()) await parity(ort, new AuraMemLayer(cfg), 200, 10 + i);
  // the observation-norm gate input (gateNorm), its weights moved from their zero initialisation
  const normed = new AuraMemLayer({ dModel: 40, dAction: 4, writeDecay: 0.8, gateNorm: true });
  const w1n = normed.model.params["gate.w1n"]!.data;
  for (let i = 0; i < w1n.length; i++) w1n[i] = 0.3 * r.normal();
  normed.model.paramsChanged();
  const b = await parity(ort, normed, 300, 20);
  assert.ok(b.writes > 5 && b.writes < 295, `gateNorm: ${b.writes} writes`);
});

test("onnxruntime == aura-mem for a few steps at dModel 4096", async (t) => {
  if (missingInput(t, ORT) || !ort) return;
  const { maxAbs } = await parity(ort, new AuraMemLayer({ dModel: 4096, dAction: 7 }), 8, 3);
  t.diagnostic(`max |diff| over 8 steps at dModel 4096: ${maxAbs.toExponential(2)}`);
});

test("aura export-onnx --checkpoint --out writes a model onnxruntime runs; other arms are refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "aura-onnx-"));
  try {
    const layer = new AuraMemLayer({ dModel: 20, dAction: 4, seed: 5 });
    const ck = join(dir, "ck");
    await layer.save(ck);
    const out = join(dir, "model.onnx");
    const logs: string[] = [];
    const origLog = console.log;
    console.log = (...a: unknown[]) => void logs.push(a.join(" "));
    try {
      const program = new Command().exitOverride();
      registerOnnxCommands(program);
      const args = ["export-onnx", "--checkpoint", ck, "--out", out, ...(ort ? ["--verify", "50"] : [])];
      await program.parseAsync(args, { from: "user" });
    } finally {
      console.log = origLog;
    }
    assert.ok(existsSync(out));
    assert.ok(logs.some((l) => l.includes("opset 17")), logs.join("\n"));
    if (ort) assert.ok(logs.some((l) => /verify: 50 random steps.*g mismatches 0/.test(l)), logs.join("\n"));
    const bytes = new Uint8Array(readFileSync(out));
    assert.deepEqual(bytes, new Uint8Array(await exportOnnx(layer)));

    const gru = new AuraMemLayer({ dModel: 20, dAction: 4 }, { arm: "gru" });
    const ckg = join(dir, "gru");
    await gru.save(ckg);
    const program2 = new Command().exitOverride();
    registerOnnxCommands(program2);
    await assert.rejects(program2.parseAsync(["export-onnx", "--checkpoint", ckg, "--out", join(dir, "g.onnx")], { from: "user" }), ConfigError);
    assert.ok(!existsSync(join(dir, "g.onnx")));
    if (missingInput(t, ORT)) t.diagnostic(SKIP);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
