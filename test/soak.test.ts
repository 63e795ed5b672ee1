/**
 * The soak's competence read-out (src/edge/soak.ts): on a task's stream every post-warm-up window has
 * an accuracy at query steps and the write probabilities at events / distractors, and the flat-competence
 * check is decided (PASS or FAIL, never n/a); without a task these are absent and the check is n/a.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { probeHugeObservations, runSoak } from "../src/bench/soak.js";
import { ConfigError } from "aura-mem/errors";

test("soak on a task stream scores every window; without a task the competence check is n/a", async () => {
  const r = await runSoak({ steps: 6000, warmup: 600, sampleEvery: 2000, dModel: 16, task: "ess-hard", taskSeed: 1, backend: "wasm" });
  assert.equal(r.task, "ess-hard");
  const post = r.windows.slice(1);
  assert.ok(post.length >= 2);
  for (const w of post) {
    assert.ok(w.queries > 0, "queries in every window");
    assert.ok(w.accuracy !== null && w.accuracy >= 0 && w.accuracy <= 1);
    assert.ok(w.distractors > 0 && w.pWriteDistractor !== null && w.pWriteEvent !== null);
  }
  const row = r.verdict.find((v) => v.name.startsWith("competence"));
  assert.ok(row && (row.status === "PASS" || row.status === "FAIL"), JSON.stringify(row));
  const plain = await runSoak({ steps: 3000, warmup: 300, sampleEvery: 1000, dModel: 16, backend: "wasm" });
  assert.equal(plain.task, null);
  assert.ok(plain.windows.every((w) => w.accuracy === null && w.pWriteDistractor === null));
  assert.equal(plain.verdict.find((v) => v.name.startsWith("competence"))!.status, "n/a");
  await assert.rejects(runSoak({ steps: 100, task: "mbar" as never }), ConfigError);
  await assert.rejects(runSoak({ steps: 100, train: true, checkpoint: "x" }), ConfigError);
});

test("huge-observation probe: a step the layer refuses (overflow) keeps the state; the probe reports it instead of crashing", async () => {
  const rows = await probeHugeObservations({ dModel: 16, magnitudes: [1e2, 1e30], trials: 1, warmup: 200, follow: 1000, backend: "wasm" });
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.rejected, 0, "a 1e2 observation is computed");
  assert.ok(rows[1]!.rejected >= 1, "a 1e30 observation overflows inside the layer and is refused");
  assert.equal(rows[1]!.poisoned, 0, "the refused step left the state as it was");
});
