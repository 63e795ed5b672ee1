// `aura bench-ab`: the side-by-side step comparison of two builds. Timings are not asserted (a benchmark,
// never a timed test); what is: the same build against itself computes the same losses bit for bit, every
// figure is there and finite, and bad options fail with a typed error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { ConfigError } from "aura-mem/errors";
import { runStepAb } from "../src/bench/speed_ab.js";

const libRoot = dirname(createRequire(import.meta.url).resolve("aura-mem/package.json"));

test("bench-ab: this build against itself gives identical losses and finite ratios", async () => {
  const lines: string[] = [];
  const res = await runStepAb({ against: libRoot, arms: ["aura", "gru"], steps: 2, rounds: 2, B: 2, T: 64 }, (s) => lines.push(s));
  assert.equal(res.length, 2);
  for (const r of res) {
    assert.equal(r.lossMaxRelDiff, 0, `${r.arm}: the same build must compute the same losses`);
    assert.equal(r.thisMs.length, 2);
    assert.equal(r.otherMs.length, 2);
    for (const x of [...r.thisMs, ...r.otherMs, ...r.ratios, r.ratioMean]) assert.ok(Number.isFinite(x) && x > 0, `${r.arm}: ${x}`);
    assert.ok(r.ratioCi95 !== null && r.ratioCi95[0] <= r.ratioMean && r.ratioMean <= r.ratioCi95[1]);
  }
  assert.ok(lines.some((l) => l.startsWith("| aura |")) && lines.some((l) => l.startsWith("| gru |")), "one table row per arm");
});

test("bench-ab: a folder without a build, an unknown arm or a bad count is a ConfigError", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-ab-"));
  try {
    await assert.rejects(runStepAb({ against: dir, arms: ["gru"], steps: 1, rounds: 1 }, () => {}), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(runStepAb({ against: libRoot, arms: ["nope" as "gru"], steps: 1, rounds: 1 }, () => {}), ConfigError);
  await assert.rejects(runStepAb({ against: libRoot, arms: ["gru"], steps: 0, rounds: 1 }, () => {}), ConfigError);
});
