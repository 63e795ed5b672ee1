/**
 * Training: AURA must learn ess-easy far above chance with a selective gate; the same run with a
 * broken (stuck-closed) gate and the memory-less arm must not reach the bar, so the bar can fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig, SequenceModel, armSpec, createOps, train, evaluate, trainOptions, ConfigError, type ArmName } from "aura-mem";
import { memoryTraining } from "aura-mem/train/train";
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

test("trainGateThreshold: the gate is trained at one threshold and the model keeps its config's for evaluation", async () => {
  assert.throws(() => trainOptions({ trainGateThreshold: 1.5 }), ConfigError);
  assert.throws(() => trainOptions({ trainGateThreshold: -0.1 }), ConfigError);
  assert.equal(trainOptions({}).trainGateThreshold, null);
  const task = await createTask("ess-easy", { seed: 0, dModel: 64, valEpisodes: 64, testEpisodes: 64 });
  const make = (gateThreshold: number) =>
    new SequenceModel(armSpec("aura", new MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", seed: 0, gateThreshold })), createOps("wasm"));
  const opts = { steps: 80, batchSize: 16, evalEvery: 40, softWarmupSteps: 10, seed: 0 };
  // trained at 0.5 with the config's threshold 0.5, and trained at 0.5 through the option with a config of 0.8:
  // the same training run step for step, so the same parameters
  const plain = make(0.5);
  train(plain, task, opts);
  const split = make(0.8);
  const r = train(split, task, { ...opts, trainGateThreshold: 0.5 });
  for (const k of Object.keys(plain.params)) assert.deepEqual(split.params[k]!.data, plain.params[k]!.data, `parameter ${k} differs`);
  assert.equal(split.spec.config.gateThreshold, 0.8, "the trained model keeps its deployment threshold");
  // without the option the config's threshold is trained with: another run
  const own = make(0.8);
  train(own, task, opts);
  assert.ok(Object.keys(plain.params).some((k) => own.params[k]!.data.some((x, i) => x !== plain.params[k]!.data[i])), "training at 0.8 gave the same parameters as at 0.5");
  // the returned validation is the model as deployed (threshold 0.8), not the training view (0.5)
  const spec = { metric: "accuracy" as const, dAction: task.dAction, metricScale: 1 };
  const valSet = task.evalSet("val", 64);
  const at8 = evaluate(split, valSet, spec);
  const at5 = evaluate(split.withGateThreshold(0.5), valSet, spec);
  assert.equal(r.val.writesPerEpisode, at8.writesPerEpisode);
  assert.ok(at8.writesPerEpisode < at5.writesPerEpisode, `a higher threshold must write less: ${at8.writesPerEpisode} vs ${at5.writesPerEpisode}`);
});

test("trainGateThresholdRange: every hard training step is gated at its own threshold in [lo, hi]; [t, t] trains exactly as t", async () => {
  for (const bad of [[0.8, 0.3], [-0.1, 0.5], [0.2, 1.5], [0.5], [Number.NaN, 0.5], "0.3,0.8"]) {
    assert.throws(() => trainOptions({ trainGateThresholdRange: bad as never }), ConfigError, JSON.stringify(bad));
  }
  assert.throws(() => trainOptions({ trainGateThresholdRange: [0.3, 0.8], stochasticGate: true }), ConfigError);
  assert.equal(trainOptions({}).trainGateThresholdRange, null);
  const task = await createTask("ess-easy", { seed: 0, dModel: 64, valEpisodes: 64, testEpisodes: 64 });
  const make = () =>
    new SequenceModel(armSpec("aura", new MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", seed: 0, gateThreshold: 0.5 })), createOps("wasm"));
  const opts = { steps: 60, batchSize: 16, evalEvery: 30, softWarmupSteps: 10, seed: 0 };
  // the thresholds a hard step is run with: drawn per step from the band, from a stream of their own
  const o = trainOptions({ ...opts, trainGateThresholdRange: [0.3, 0.9] });
  const hard = memoryTraining(make(), task, o, { validation: false }).hooks.request(20);
  const plainReq = memoryTraining(make(), task, trainOptions(opts), { validation: false }).hooks.request(20);
  const thr = hard.fwd.gateThresholds!;
  assert.equal(thr.length, 16 * task.horizon);
  assert.ok(thr.every((x) => x >= 0.3 && x <= 0.9), "a threshold outside the band");
  assert.ok(Math.max(...thr) - Math.min(...thr) > 0.5, "the thresholds do not spread over the band");
  assert.deepEqual(hard.batch.z, plainReq.batch.z, "the band changed the training batches");
  assert.equal(memoryTraining(make(), task, o, { validation: false }).hooks.request(5).fwd.gateThresholds, undefined, "soft warm-up steps have no threshold");
  // a band of one point is the config's threshold: the same run bit for bit
  const plain = make();
  train(plain, task, opts);
  const point = make();
  train(point, task, { ...opts, trainGateThresholdRange: [0.5, 0.5] });
  for (const k of Object.keys(plain.params)) assert.deepEqual(point.params[k]!.data, plain.params[k]!.data, `parameter ${k} differs`);
  const band = make();
  train(band, task, { ...opts, trainGateThresholdRange: [0.3, 0.9] });
  assert.ok(Object.keys(plain.params).some((k) => band.params[k]!.data.some((x, i) => x !== plain.params[k]!.data[i])), "the band changed nothing");
});
