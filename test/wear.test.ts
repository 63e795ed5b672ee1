import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConfigError } from "aura-mem/errors";
import {
  wearProjection,
  wearTable,
  flashBytesPerWrite,
  floorSum,
  kvPagesWritten,
  formatBytes,
  formatHours,
  DEFAULT_AURA_WRITE_RATE,
} from "aura-mem/persist/wear";
import { Rng } from "aura-mem/util/rng";

test("flash bytes per write: whole pages times write amplification", () => {
  assert.equal(flashBytesPerWrite(4292, 4096), 8192);
  assert.equal(flashBytesPerWrite(4096, 4096), 4096);
  assert.equal(flashBytesPerWrite(4097, 4096), 8192);
  assert.equal(flashBytesPerWrite(1, 512), 512);
  assert.equal(flashBytesPerWrite(4292, 4096, 2.5), 20480);
});

test("floorSum and kvPagesWritten match brute force", () => {
  const rng = new Rng(1);
  for (let k = 0; k < 300; k++) {
    const n = rng.int(60);
    const m = 1 + rng.int(50);
    const a = rng.int(120);
    const b = rng.int(200);
    let want = 0n;
    for (let i = 0; i < n; i++) want += BigInt(Math.floor((a * i + b) / m));
    assert.equal(floorSum(BigInt(n), BigInt(m), BigInt(a), BigInt(b)), want, `n=${n} m=${m} a=${a} b=${b}`);
  }
  for (const [entry, page] of [
    [256, 4096],
    [256, 512],
    [40, 4096],
    [4096, 4096],
    [5000, 4096],
  ] as const) {
    let pages = 0n;
    for (let n = 1; n <= 700; n++) {
      pages += BigInt(Math.ceil((68 + n * entry) / page));
      if (n % 97 === 0 || n === 700) assert.equal(kvPagesWritten(n, entry, page), pages, `N=${n}, entry ${entry}, page ${page}`);
    }
  }
  assert.equal(kvPagesWritten(0, 256, 4096), 0n);
});

test("wear projection: documented formula for aura and always-write (20 Hz, 1000 h, 8 GB x 3000)", () => {
  const p = wearProjection({ rateHz: 20, hours: 1000 });
  assert.equal(p.inputs.writeRate, DEFAULT_AURA_WRITE_RATE);
  assert.equal(p.stateBytes, 4224);
  assert.equal(p.recordBytes, 4292);
  assert.equal(p.enduranceBytes, 8e9 * 3000);
  const [aura, always, kv] = p.rows;
  assert.equal(aura!.policy, "aura");
  assert.equal(always!.policy, "always-write");
  assert.equal(kv!.policy, "kv-cache");
  assert.equal(always!.writesPerHour, 72_000);
  assert.equal(always!.flashBytesPerWrite, 8192);
  assert.equal(always!.flashBytesPerHour, 72_000 * 8192);
  assert.equal(always!.lifetimeHours, (8e9 * 3000) / (72_000 * 8192));
  assert.ok(Math.abs(aura!.writesPerHour - 8640) < 1e-9);
  assert.ok(Math.abs(aura!.lifetimeHours / always!.lifetimeHours - 1 / 0.12) < 1e-9);
  assert.ok(Math.abs(aura!.flashBytesTotal - 8640 * 8192 * 1000) < 1);
  // kv-cache: the growing record exhausts the endurance within hours
  assert.ok(kv!.lifetimeHours > 5 && kv!.lifetimeHours < 7, `kv lifetime ${kv!.lifetimeHours} h`);
  assert.equal(kv!.recordBytes, 68 + 72_000_000 * 256);
  assert.ok(kv!.recordFitsHours < 1000);
  // no writes: never wears out
  assert.equal(wearProjection({ rateHz: 20, hours: 1, writeRate: 0 }).rows[0]!.lifetimeHours, Infinity);
  // WA scales lifetime down linearly
  const wa = wearProjection({ rateHz: 20, hours: 1000, writeAmplification: 3 });
  assert.ok(Math.abs(wa.rows[1]!.lifetimeHours * 3 - always!.lifetimeHours) < 1e-6);
});

test("kv-cache lifetime: the first step count at which cumulative flash bytes reach capacity x P/E (brute force)", () => {
  const o = { rateHz: 10, hours: 1, capacityBytes: 2e6, peCycles: 10, pageBytes: 4096, dKey: 8, dVal: 8 };
  const p = wearProjection(o);
  const E = 2e7;
  let sum = 0;
  let n = 0;
  while (sum < E) {
    n++;
    sum += Math.ceil((68 + n * 64) / 4096) * 4096;
  }
  assert.equal(Math.round(p.rows[2]!.lifetimeHours * 36_000), n);
  // the total over the horizon (36,000 steps) is the exact page sum
  let total = 0;
  for (let k = 1; k <= 36_000; k++) total += Math.ceil((68 + k * 64) / 4096) * 4096;
  assert.equal(p.rows[2]!.flashBytesTotal, total);
});

test("wear options are validated (ConfigError)", () => {
  assert.throws(() => wearProjection({ rateHz: 0, hours: 1 }), ConfigError);
  assert.throws(() => wearProjection({ rateHz: 20, hours: -1 }), ConfigError);
  assert.throws(() => wearProjection({ rateHz: 20, hours: 1, writeRate: 1.5 }), ConfigError);
  assert.throws(() => wearProjection({ rateHz: 20, hours: 1, writeAmplification: 0.5 }), ConfigError);
  assert.throws(() => wearProjection({ rateHz: 20, hours: 1, pageBytes: 0 }), ConfigError);
  assert.throws(() => wearProjection({ rateHz: NaN, hours: 1 }), ConfigError);
  assert.throws(() => wearProjection(null as unknown as { rateHz: number; hours: number }), ConfigError);
});

test("wear table and formatting", () => {
  const s = wearTable(wearProjection({ rateHz: 20, hours: 1000 }));
  assert.match(s, /\| aura \| 0\.120 \| 4,292 \| 8,192 \|/);
  assert.match(s, /\| always-write \| 1\.000 /);
  assert.match(s, /\| kv-cache \| /);
  assert.match(s, /lifetime_h = capacity \* pe_cycles/);
  assert.match(s, /outgrows/);
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(70.8e6), "70.8 MB");
  assert.equal(formatHours(Infinity), "never");
  assert.equal(formatHours(0.5), "30.0 min");
  assert.equal(formatHours(6), "6.0 h");
  assert.match(formatHours(40_690), /40,690 h \(4\.6 y\)/);
});

test("CLI: aura wear prints the comparison; bad options fail", () => {
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", main, "wear", "--rate", "20", "--hours", "1000"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| aura \| 0\.120 /);
  assert.match(r.stdout, /\| kv-cache \|/);
  const j = spawnSync(process.execPath, ["--import", "tsx", main, "wear", "--rate", "10", "--hours", "5", "--write-rate", "0.05", "--json"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(j.status, 0, j.stderr);
  const parsed = JSON.parse(j.stdout) as { inputs: { writeRate: number }; rows: { policy: string }[] };
  assert.equal(parsed.inputs.writeRate, 0.05);
  assert.deepEqual(parsed.rows.map((x) => x.policy), ["aura", "always-write", "kv-cache"]);
  const bad = spawnSync(process.execPath, ["--import", "tsx", main, "wear", "--write-rate", "2"], { encoding: "utf8", timeout: 60_000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /writeRate/);
});
