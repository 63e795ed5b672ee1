import { test } from "node:test";
import assert from "node:assert/strict";
import { scheduleBatch, scheduleGate } from "aura-mem/model/schedule";

test("schedules write at the requested rate, deterministically", () => {
  for (const rate of [0, 0.05, 0.1, 0.37, 0.5, 0.7, 0.93, 1]) {
    const g = scheduleBatch("periodic", rate, [1, 2, 3, 4], 1000);
    for (let b = 0; b < 4; b++) {
      let n = 0;
      for (let t = 0; t < 1000; t++) n += g[b * 1000 + t]!;
      assert.ok(Math.abs(n - 1000 * rate) <= 1, `periodic rate ${rate}: ${n} writes in 1000`);
    }
    const r = scheduleBatch("random", rate, Array.from({ length: 20 }, (_, i) => i), 1000);
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    assert.ok(Math.abs(mean - rate) <= 0.01, `random rate ${rate}: ${mean}`);
  }
  assert.equal(scheduleGate("random", 0.3, 7, 123), scheduleGate("random", 0.3, 7, 123));
  // periodic writes are evenly spaced: gaps differ by at most 1
  const g = scheduleBatch("periodic", 0.3, [9], 200);
  const idx = [...g.keys()].filter((i) => g[i] === 1);
  const gaps = idx.slice(1).map((x, i) => x - idx[i]!);
  assert.ok(Math.max(...gaps) - Math.min(...gaps) <= 1);
});
