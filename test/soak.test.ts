/**
 * The soak's competence read-out (src/edge/soak.ts): on a task's stream every post-warm-up window has
 * an accuracy at query steps and the write probabilities at events / distractors, and the flat-competence
 * check is decided (PASS or FAIL, never n/a); without a task these are absent and the check is n/a.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { competenceCheck, probeHugeObservations, probeMarkdown, runSoak, soakLayer, type SoakWindow } from "../src/bench/soak.js";
import { ConfigError } from "aura-mem/errors";

test("soak on a task stream scores every window; without a task the competence check is n/a", async () => {
  const r = await runSoak({ steps: 6000, warmup: 600, sampleEvery: 1500, dModel: 16, task: "ess-hard", taskSeed: 1, backend: "wasm" });
  assert.equal(r.task, "ess-hard");
  const post = r.windows.slice(1);
  assert.ok(post.length >= 3);
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

test("huge-observation probe on the task stream: whether the gate wrote the huge step, accuracy before / after the next event", async () => {
  const rows = await probeHugeObservations({ dModel: 64, magnitudes: [1e2], trials: 2, warmup: 1200, follow: 1000, backend: "wasm", task: "ess-hard" });
  const r = rows[0]!;
  assert.ok(r.accuracyBefore !== null && r.accuracyBefore >= 0 && r.accuracyBefore <= 1, `before ${r.accuracyBefore}`);
  assert.ok(r.accuracyAfter !== null && r.accuracyAfter >= 0 && r.accuracyAfter <= 1, `after ${r.accuracyAfter}`);
  assert.ok(Number.isInteger(r.written) && r.written >= 0 && r.written <= 2 - r.rejected);
  assert.match(probeMarkdown(rows).join("\n"), /before \/ after the next event/);
  // without a task there is nothing to score
  const plain = await probeHugeObservations({ dModel: 16, magnitudes: [1e2], trials: 1, warmup: 200, follow: 1000, backend: "wasm" });
  assert.equal(plain[0]!.accuracyBefore, null);
  assert.equal(plain[0]!.accuracyAfter, null);
  assert.doesNotMatch(probeMarkdown(plain).join("\n"), /before \/ after/);
  await assert.rejects(probeHugeObservations({ dModel: 16, task: "mbar" as never }), ConfigError);
  // the task needs an 8-class head: the soak's fresh 7-action layer is refused
  const seven = await soakLayer({ dModel: 16 });
  await assert.rejects(probeHugeObservations({ layer: seven, task: "ess-hard" }), ConfigError);
});

test("competence check: a flat noisy run passes whichever window is best; a decline in accuracy or a climb in P(write|distractor) fails", () => {
  const win = (accuracy: number, pWriteDistractor: number): SoakWindow => ({
    from: 0, to: 0, medianNormM: 1, maxNormM: 1, maxNormBias: 1, writeRate: 0.1, actionStd: 1, poisoned: 0, hugeEvents: 0, rssMB: null,
    accuracy, queries: 10_000, distractors: 20_000, pWriteEvent: 0.99, pWriteDistractor,
  });
  // flat with scatter, the first window the best (what the old first-vs-last check failed on)
  const flatAcc = [0.995, 0.99, 0.992, 0.988, 0.994, 0.989, 0.993, 0.99, 0.991];
  const flatPd = [0.002, 0.0026, 0.0019, 0.0024, 0.0021, 0.0025, 0.0018, 0.0023, 0.0022];
  assert.equal(competenceCheck("ess-hard", flatAcc.map((a, i) => win(a, flatPd[i]!))).status, "PASS");
  // accuracy falling by 0.004 per window
  assert.equal(competenceCheck("ess-hard", flatAcc.map((a, i) => win(a - 0.004 * i, flatPd[i]!))).status, "FAIL");
  // the false-write rate climbing
  assert.equal(competenceCheck("ess-hard", flatAcc.map((a, i) => win(a, flatPd[i]! + 0.001 * i))).status, "FAIL");
  assert.equal(competenceCheck("ess-hard", [win(0.99, 0.002), win(0.98, 0.003)]).status, "n/a", "two windows are no trend");
  assert.equal(competenceCheck(null, flatAcc.map((a) => win(a, 0.002))).status, "n/a");
});
