/**
 * Horizon generalisation (docs/method.md, "Horizon"): a model trained with the stream recipe (train()
 * defaults, write decay STREAM_WRITE_DECAY) on
 * 128-step ess-hard episodes keeps its accuracy on a constant-density stream 512x longer, and the same
 * parameters without the fix (write decay 1, the old maths) fail the same bar there. One training run
 * (train() defaults, seed 0, WASM), two evaluations; deterministic for the seed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig, SequenceModel, armSpec, createOps, train, evaluate } from "aura-mem";
import { createTask } from "../src/tasks/index.js";
import { STREAM_WRITE_DECAY } from "aura-mem/config";

const BAR = 0.9;

test("the stream recipe holds at 512x the training horizon (density stream); without the write decay it does not", async (t) => {
  const task = await createTask("ess-hard", { seed: 0, dModel: 64 });
  const config = new MemoryConfig({ dModel: 64, dAction: task.dAction, actionKind: "discrete", seed: 0, writeDecay: STREAM_WRITE_DECAY });
  const model = new SequenceModel(armSpec("aura", config), createOps("wasm"));
  train(model, task, { seed: 0 });
  const long = await createTask("ess-hard", { seed: 0, dModel: 64, horizon: 65536, stream: "density", testEpisodes: 2, valEpisodes: 1 });
  const spec = { metric: "accuracy" as const, dAction: 8, metricScale: 1 };
  const fixed = evaluate(model, long.evalBatches("test", 1), spec);
  const old = model.withWriteDecay(1);
  const unfixed = evaluate(old, long.evalBatches("test", 1), spec);
  t.diagnostic(`N = 65,536 density: recipe ${fixed.metric.toFixed(3)} (P(write|distractor) ${fixed.pWriteDistractor!.toFixed(4)}), without decay ${unfixed.metric.toFixed(3)} (${unfixed.pWriteDistractor!.toFixed(4)})`);
  assert.ok(fixed.metric >= BAR, `recipe: ${fixed.metric} < ${BAR}`);
  assert.ok(unfixed.metric < BAR, `without the write decay: ${unfixed.metric} >= ${BAR} (the test cannot fail)`);
  assert.ok(fixed.pWriteDistractor! < unfixed.pWriteDistractor!, "the decay keeps the false-write rate from climbing");
});
