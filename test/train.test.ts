/**
 * Training: AURA must learn ess-easy far above chance with a selective gate; the same run with a
 * broken (stuck-closed) gate and the memory-less arm must not reach the bar, so the bar can fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig, SequenceModel, armSpec, createOps, train, evaluate, trainOptions, ConfigError, type ArmName } from "aura-mem";
import { createTask } from "../src/tasks/index.js";

const BAR = 0.8; // chance is 0.125

async function run(arm: ArmName, configPatch: Record<string, number> = {}, opts: Record<string, number> = {}) {
  const task = await createTask("ess-easy", { seed: 0, dModel: 64, valEpisodes: 64, testEpisodes: 128 });
  const config = new MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", seed: 0, ...configPatch });
  const model = new SequenceModel(armSpec(arm, config, { matchParams: null }), createOps("wasm"));
  train(model, task, { steps: 200, batchSize: 32, evalEvery: 50, seed: 0, ...opts });
  return evaluate(model, task.evalSet("test", 64), { metric: "accuracy", dAction: task.dAction, metricScale: 1 });
}

test("AURA learns ess-easy well above chance with a selective, sparse gate", async () => {
  const r = await run("aura");
  assert.ok(r.metric >= BAR, `accuracy ${r.metric} < ${BAR}`);
  assert.ok(r.writeRate < 0.5, `write rate ${r.writeRate} is not sparse`);
  assert.ok(r.pWriteEvent! > 0.8, `P(write|event) ${r.pWriteEvent}`);
  assert.ok(r.pWriteEvent! > r.pWriteDistractor! + 0.2, `gate not selective: ${r.pWriteEvent} vs ${r.pWriteDistractor}`);
});

test("a stuck-closed gate and the memory-less arm fail the same bar", async () => {
  const broken = await run("aura", { gateBiasInit: -20 }, { softWarmupSteps: 0 });
  assert.ok(broken.metric < BAR, `a closed gate reached ${broken.metric}`);
  assert.equal(broken.writesPerEpisode, 0);
  const none = await run("no-memory");
  assert.ok(none.metric < BAR, `no-memory reached ${none.metric}`);
});

test("training options are validated", () => {
  assert.throws(() => trainOptions({ steps: 0 }), ConfigError);
  assert.throws(() => trainOptions({ lr: -1 }), ConfigError);
  assert.throws(() => trainOptions({ stpes: 3 } as never), ConfigError);
  assert.throws(() => trainOptions({ targetWriteRate: 2 }), ConfigError);
});
