/**
 * Horizon generalisation (docs/method.md, "Horizon"): a model trained with the stream recipe (train()
 * defaults at gate threshold 0.5, trained and run with write decay STREAM_WRITE_DECAY, the gate reading the
 * observation norm (STREAM_GATE_NORM), run at gate threshold STREAM_GATE_THRESHOLD) on
 * 128-step ess-hard episodes keeps its accuracy on a constant-density stream 512x longer, and the same
 * parameters without the fix (write decay 1 and threshold 0.5, the old maths) fail the same bar there; with
 * fixed events the deployment threshold writes fewer distractors and keeps the goal better than the
 * training threshold. One training run (train() defaults, seed 0, WASM); deterministic for the seed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig, SequenceModel, armSpec, createOps, train, evaluate } from "aura-mem";
import { createTask } from "../src/tasks/index.js";
import { STREAM_GATE_NORM, STREAM_GATE_THRESHOLD, STREAM_WRITE_DECAY } from "aura-mem/config";

const BAR = 0.9;

test("the stream recipe holds at 512x the training horizon (density stream); without the write decay it does not", async (t) => {
  const task = await createTask("ess-hard", { seed: 0, dModel: 64 });
  const config = new MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", seed: 0, writeDecay: STREAM_WRITE_DECAY, gateThreshold: STREAM_GATE_THRESHOLD, gateNorm: STREAM_GATE_NORM });
  const model = new SequenceModel(armSpec("aura", config), createOps("wasm"));
  train(model, task, { seed: 0, trainGateThreshold: 0.5 });
  const long = await createTask("ess-hard", { seed: 0, dModel: 64, horizon: 65536, stream: "density", testEpisodes: 2, valEpisodes: 1 });
  const spec = { metric: "accuracy" as const, dAction: 8, metricScale: 1 };
  const fixed = evaluate(model, long.evalBatches("test", 1), spec);
  const old = model.withWriteDecay(1).withGateThreshold(0.5);
  const unfixed = evaluate(old, long.evalBatches("test", 1), spec);
  t.diagnostic(`N = 65,536 density: recipe ${fixed.metric.toFixed(3)} (P(write|distractor) ${fixed.pWriteDistractor!.toFixed(4)}), without decay ${unfixed.metric.toFixed(3)} (${unfixed.pWriteDistractor!.toFixed(4)})`);
  assert.ok(fixed.metric >= BAR, `recipe: ${fixed.metric} < ${BAR}`);
  assert.ok(unfixed.metric < BAR, `without the write decay: ${unfixed.metric} >= ${BAR} (the test cannot fail)`);
  assert.ok(fixed.pWriteDistractor! < unfixed.pWriteDistractor!, "the decay keeps the false-write rate from climbing");
  // fixed events (4-6 per 8,192-step episode): the deployment threshold against the training threshold
  const sparse = await createTask("ess-hard", { seed: 0, dModel: 64, horizon: 8192, stream: "fixed", testEpisodes: 8, valEpisodes: 1 });
  const deployed = evaluate(model, sparse.evalBatches("test", 1), spec);
  const atTrain = evaluate(model.withGateThreshold(0.5), sparse.evalBatches("test", 1), spec);
  t.diagnostic(
    `N = 8,192 fixed: threshold ${STREAM_GATE_THRESHOLD} ${deployed.metric.toFixed(3)} (${deployed.writesPerEpisode.toFixed(1)} writes, P(write|distractor) ${deployed.pWriteDistractor!.toFixed(4)}), ` +
      `threshold 0.5 ${atTrain.metric.toFixed(3)} (${atTrain.writesPerEpisode.toFixed(1)}, ${atTrain.pWriteDistractor!.toFixed(4)})`,
  );
  assert.ok(deployed.pWriteDistractor! < atTrain.pWriteDistractor! / 2, "the deployment threshold at least halves the false writes");
  assert.ok(deployed.writesPerEpisode < atTrain.writesPerEpisode, "and writes less");
  assert.ok(deployed.metric > atTrain.metric, `and keeps the goal better: ${deployed.metric} <= ${atTrain.metric}`);
});
