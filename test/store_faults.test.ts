/**
 * MemoryStore under the faults a device meets (issue 13): simulated power loss (a disk whose unsynced
 * sectors a cut keeps, loses or tears, out of order: src/bench/power.ts), ENOSPC / EIO / EROFS at every
 * write and sync, a second writer, and records of another configuration, dModel or format version.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fork } from "node:child_process";
import { AuraMemLayer } from "aura-mem/layer";
import type { MemoryConfigInit } from "aura-mem/config";
import { FormatError, PersistenceError } from "aura-mem/errors";
import { crc32 } from "aura-mem/persist/crc32";
import { MemoryStore, slotPaths } from "aura-mem/persist/store";
import { nodeStoreFs } from "aura-mem/persist/io";
import { Rng } from "aura-mem/util/rng";
import { FaultyFs, SimulatedDisk, runPowerBench } from "../src/bench/power.js";

const SMALL: MemoryConfigInit = { dModel: 8, dAction: 2, dKey: 4, dVal: 4, gateBiasInit: 0, seed: 3 };
const layerOf = (patch: Partial<MemoryConfigInit> = {}) => new AuraMemLayer({ ...SMALL, ...patch }, { backend: "ts" });
const obs = (t: number, dModel = SMALL.dModel) => new Rng(1000 + t).normals(dModel);
const tmp = () => mkdtempSync(join(tmpdir(), "aura-faults-"));

/** Step until the gate writes (at most 200 steps); returns that step's output. */
function untilWrite(store: MemoryStore) {
  for (let i = 0; i < 200; i++) {
    const out = store.step(obs(store.state.t, store.layer.config.dModel));
    if (out.g[0] === 1) return out;
  }
  throw new Error("the gate did not write in 200 steps");
}

test("simulated disk: unsynced writes are visible at once and durable only after fsync; a new file needs the directory sync", () => {
  const disk = new SimulatedDisk({ sectorBytes: 4 });
  const fd = disk.open("/d/f", "rw");
  disk.write(fd, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 0, 8, 0);
  const back = new Uint8Array(8);
  assert.equal(disk.read(fd, back, 0, 8, 0), 8);
  assert.deepEqual([...back], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(disk.durableBytes("/d/f"), null, "created, directory not synced: not durable");
  disk.fsync(fd);
  assert.equal(disk.durableBytes("/d/f"), null, "data synced, entry not");
  disk.syncDir("/d");
  assert.deepEqual([...disk.durableBytes("/d/f")!], [1, 2, 3, 4, 5, 6, 7, 8]);
  // an unsynced overwrite: each 4-byte piece kept, lost or torn; over many seeds all three happen
  const seen = { kept: 0, lost: 0, torn: 0 };
  for (let s = 0; s < 50; s++) {
    const d = new SimulatedDisk({ sectorBytes: 4 });
    const f = d.open("/d/f", "rw");
    d.write(f, new Uint8Array(8), 0, 8, 0);
    d.fsync(f);
    d.syncDir("/d");
    d.write(d.open("/d/f", "rw"), new Uint8Array(8).fill(9), 0, 8, 0);
    const eff = d.powerCut(new Rng(s));
    seen.kept += eff.kept;
    seen.lost += eff.lost;
    seen.torn += eff.torn;
    const after = d.durableBytes("/d/f")!;
    assert.equal(after.length, 8);
    assert.throws(() => d.read(f, new Uint8Array(1), 0, 1, 0), /EBADF/, "descriptors die with the power");
  }
  assert.ok(seen.kept > 0 && seen.lost > 0 && seen.torn > 0, JSON.stringify(seen));
});

test("power loss: 300 seeded cuts at random points of the write protocol, every recovery the newest synced record bit for bit", () => {
  const r = runPowerBench({ cuts: 300, seed: 7 });
  assert.equal(r.cuts, 300);
  assert.equal(r.losses, 0, r.lossExamples.join("\n"));
  assert.equal(r.recovered + r.freshBeforeFirstSync, 300);
  assert.ok(r.recovered > 250, `recovered ${r.recovered}`);
  assert.ok(r.tornSkipped > 0 && r.piecesTorn > 0 && r.piecesLost > 0, "the cuts must tear and lose records, or nothing was tested");
  assert.ok(r.syncedWrites > 300, `synced writes ${r.syncedWrites}`);
});

test("power loss, negative control: a disk whose syncs lie makes the harness report losses", () => {
  const r = runPowerBench({ cuts: 60, seed: 7, lyingSync: true });
  assert.ok(r.losses > 10, `a store on a lying disk must lose records: ${r.losses} losses`);
});

for (const code of ["ENOSPC", "EIO", "EROFS"]) {
  for (const op of ["write", "fsync", "fdatasync"] as const) {
    test(`${code} at ${op}: typed error, last good record intact, the memory keeps stepping, the next write retries`, () => {
      const dir = tmp();
      try {
        const fs = new FaultyFs(nodeStoreFs);
        const errs: PersistenceError[] = [];
        const layer = layerOf();
        const path = join(dir, "mem");
        const { store } = MemoryStore.open(path, layer, { fs, onPersistError: (e) => errs.push(e) });
        // fsync is used when a slot file grows (its first record), fdatasync afterwards: get both slots written once for fdatasync
        const warm = op === "fdatasync" ? 2 : op === "fsync" ? 0 : 1;
        for (let i = 0; i < warm; i++) untilWrite(store);
        const good = MemoryStore.read(path, layer, { lock: false });
        const goodBytes = slotPaths(path).map((p) => (existsSync(p) ? readFileSync(p) : null));
        fs.plan = { op, code };
        const failed = untilWrite(store);
        assert.equal(failed.persisted, false);
        assert.ok(failed.persistError instanceof PersistenceError);
        assert.equal(failed.persistError.code, code);
        assert.equal(failed.persistError.op, op);
        assert.match(failed.persistError.message, new RegExp(`${op} of .*mem\\.[ab] failed with ${code}`));
        assert.equal(store.health.ok, false);
        assert.equal(store.health.consecutiveFailures, 1);
        assert.equal(errs.length, 1);
        assert.equal(fs.injected, 1);
        // the memory stepped anyway: its state is the new one, in RAM
        assert.equal(store.state.t, failed.state.t);
        assert.equal(store.dirty, true);
        // the last good record is intact: a failed write left nothing; after a failed sync the record may sit
        // in the page cache (visible, not known durable), in the other slot than the last good one
        const after = MemoryStore.read(path, layer);
        if (op === "write") {
          assert.equal(after.report.seq, good.report.seq);
          assert.equal(after.report.t, good.report.t);
        } else assert.ok(after.report.seq === good.report.seq || after.report.seq === good.report.seq + 1);
        if (good.report.loaded) {
          const slot = good.report.loaded === "a" ? 0 : 1;
          assert.deepEqual(readFileSync(slotPaths(path)[slot]), goodBytes[slot], "the newest record's slot is untouched");
        }
        // more steps while the disk stays broken: still stepping, failures counted
        const again = untilWrite(store);
        assert.equal(again.persistError?.code, code);
        assert.equal(store.health.consecutiveFailures, 2);
        assert.throws(() => store.flush(), (e: unknown) => e instanceof PersistenceError && e.code === code, "an explicit flush reports the failure");
        // the disk recovers: the next gate write persists the current state and health is ok
        fs.plan = null;
        const ok = untilWrite(store);
        assert.equal(ok.persisted, true);
        assert.equal(store.health.ok, true);
        assert.equal(store.health.lastError?.code, code, "the last failure is kept for the log");
        const now = MemoryStore.read(path, layer);
        assert.equal(now.report.t, store.state.t);
        assert.equal(store.stats.failedWrites, 3);
        store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test("a second writer on the same path gets a clear error at open; read-only still works; the lock is released on close", () => {
  const dir = tmp();
  try {
    const layer = layerOf();
    const path = join(dir, "mem");
    const first = MemoryStore.open(path, layer).store;
    untilWrite(first);
    assert.throws(
      () => MemoryStore.open(path, layer),
      (e: unknown) => e instanceof PersistenceError && e.code === "ELOCKED" && /open for writing by another/.test(e.message),
    );
    assert.equal(MemoryStore.read(path, layer).report.seq, first.stats.seq, "read-only open alongside the writer");
    untilWrite(first); // the first writer is unaffected
    first.close();
    const second = MemoryStore.open(path, layer).store;
    assert.equal(second.stats.seq, first.stats.seq);
    second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the lock of a writer that died (SIGKILL) is taken over at once; a live writer in another process keeps it", async () => {
  const dir = tmp();
  try {
    const path = join(dir, "mem");
    const script = join(dir, "holder.mjs");
    const lib = import.meta.resolve("aura-mem/persist/store");
    const layerMod = import.meta.resolve("aura-mem/layer");
    writeFileSync(
      script,
      `import { MemoryStore } from ${JSON.stringify(lib)};
       import { AuraMemLayer } from ${JSON.stringify(layerMod)};
       const layer = new AuraMemLayer(${JSON.stringify(SMALL)}, { backend: "ts" });
       MemoryStore.open(process.argv[2], layer);
       process.send("locked");
       setInterval(() => {}, 1000);`,
    );
    const child = fork(script, [path], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const exited = new Promise((res) => child.once("exit", res));
    await new Promise((res, rej) => {
      child.once("message", res);
      child.once("exit", (c) => rej(new Error(`holder exited ${c}`)));
    });
    const layer = layerOf();
    assert.throws(() => MemoryStore.open(path, layer), (e: unknown) => e instanceof PersistenceError && e.code === "ELOCKED");
    child.kill("SIGKILL");
    await exited;
    const t0 = Date.now();
    const { store } = MemoryStore.open(path, layer); // the holder is dead: no wait for the stale timeout
    assert.ok(Date.now() - t0 < 1000);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("records of another dModel / dAction or of a newer format version are refused with a message saying which; nothing written", () => {
  const dir = tmp();
  try {
    const path = join(dir, "mem");
    const layer = layerOf();
    const s = MemoryStore.open(path, layer).store;
    untilWrite(s);
    s.close();
    const before = slotPaths(path).map((p) => readFileSync(p));
    // same memory dims, another dModel / dAction: the header says which
    assert.throws(() => MemoryStore.open(path, layerOf({ dModel: 16 })), (e: unknown) => e instanceof FormatError && /dModel 8, dAction 2; this aura layer has dModel 16/.test(e.message));
    assert.throws(() => MemoryStore.read(path, layerOf({ dAction: 3 })), (e: unknown) => e instanceof FormatError && /dAction 2; this aura layer has dModel 8, dAction 3/.test(e.message));
    // an intact record of a newer format version (CRC resealed): refused, not skipped and overwritten
    const slot = slotPaths(path).findIndex((_, i) => before[i]!.length > 0);
    const v3 = Buffer.from(before[slot]!);
    v3.writeUInt16LE(3, 8);
    v3.writeUInt32LE(crc32(v3.subarray(0, v3.length - 4)), v3.length - 4);
    writeFileSync(slotPaths(path)[slot]!, v3);
    assert.throws(() => MemoryStore.open(path, layer), (e: unknown) => e instanceof FormatError && /format version 3, newer than this build reads \(1-2\)/.test(e.message));
    assert.deepEqual(readFileSync(slotPaths(path)[slot]!), v3, "the newer record is left as it was");
    // a version-1 record (reserved zeros where version 2 keeps dModel / dAction) still loads
    const v1 = Buffer.from(before[slot]!);
    v1.writeUInt16LE(1, 8);
    v1.writeUInt16LE(0, 14);
    v1.writeUInt32LE(0, 60);
    v1.writeUInt32LE(crc32(v1.subarray(0, v1.length - 4)), v1.length - 4);
    writeFileSync(slotPaths(path)[slot]!, v1);
    const r = MemoryStore.read(path, layer);
    assert.equal(r.report.fresh, false);
    assert.equal(r.report.slots[slot]!.header!.version, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
