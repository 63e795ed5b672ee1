/**
 * Users' own features: a dataset file (z, label, mask with variable-length episodes) trains an
 * AuraMemLayer through the library and through `aura train --data` / `aura eval --data`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { AuraMemLayer, train, saveDataset, loadDataset, ConfigError, Rng, type Dataset } from "aura-mem";
import { createTask } from "../src/tasks/index.js";

async function essDataset(E: number, seed: number): Promise<Dataset> {
  const task = await createTask("ess-easy", { seed, dModel: 32 });
  const b = task.sample(new Rng(seed), E);
  const label = new Int32Array(b.B * b.T);
  const mask = new Float32Array(b.B * b.T).fill(1);
  for (let i = 0; i < label.length; i++) label[i] = b.lossMask[i]! > 0 ? b.label![i]! : -1;
  // variable lengths: every other episode ends 16 steps early (padded with zeros, mask 0)
  for (let e = 0; e < E; e += 2) {
    for (let t = b.T - 16; t < b.T; t++) {
      mask[e * b.T + t] = 0;
      label[e * b.T + t] = -1;
      b.z.fill(0, (e * b.T + t) * 32, (e * b.T + t + 1) * 32);
    }
  }
  const stepType = b.stepType.slice();
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) stepType[i] = 4;
  return { E, T: b.T, dModel: 32, kind: "discrete", dAction: 8, z: b.z, action: null, label, mask, stepType, metadata: { num_classes: "8" } };
}

test("train(layer, dataset) learns from a user dataset file with variable-length episodes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-ds-"));
  try {
    const path = join(dir, "train.safetensors");
    await saveDataset(path, await essDataset(256, 3));
    const ds = await loadDataset(path);
    assert.equal(ds.E, 256);
    const layer = new AuraMemLayer({ dModel: 32, dAction: 8, actionKind: "discrete", seed: 1 }, { backend: "wasm" });
    const r = train(layer, ds, { steps: 200, batchSize: 32, evalEvery: 50, valFraction: 0.25, seed: 1 });
    assert.ok(r.val.metric > 0.6, `validation accuracy ${r.val.metric}`);
    assert.ok(r.val.stepsPerEpisode < 64 && r.val.stepsPerEpisode > 48, `padding counted: ${r.val.stepsPerEpisode} steps/episode`);
    const bad = new AuraMemLayer({ dModel: 16, dAction: 8, actionKind: "discrete" }, { backend: "wasm" });
    assert.throws(() => train(bad, ds, { steps: 1 }), ConfigError);
    const cont = new AuraMemLayer({ dModel: 32, dAction: 8 }, { backend: "wasm" });
    assert.throws(() => train(cont, ds, { steps: 1 }), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("aura train --data / aura eval --data write and read a checkpoint", async () => {
  const cli = join(process.cwd(), "dist", "src", "cli", "main.js");
  const dir = mkdtempSync(join(tmpdir(), "aura-cli-"));
  try {
    const data = join(dir, "d.safetensors");
    await saveDataset(data, await essDataset(24, 5));
    const ck = join(dir, "ck");
    const tr = spawnSync(process.execPath, [cli, "train", "--data", data, "--steps", "10", "--batch", "8", "--eval-every", "5", "--out", ck, "--backend", "wasm"], { encoding: "utf8" });
    assert.equal(tr.status, 0, tr.stderr);
    assert.match(tr.stdout, /best validation at step/);
    assert.ok(existsSync(ck + ".safetensors") && existsSync(ck + ".json"));
    const ev = spawnSync(process.execPath, [cli, "eval", "--checkpoint", ck, "--data", data], { encoding: "utf8" });
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /accuracy 0\.\d+ over 24 episodes/);
    const missing = spawnSync(process.execPath, [cli, "eval", "--checkpoint", join(dir, "nope"), "--data", data], { encoding: "utf8" });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /FormatError/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
