import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { AuraMemLayer } from "aura-mem/layer";
import type { MemoryConfigInit } from "aura-mem/config";
import type { ArmName, MemoryState } from "aura-mem/model/model";
import { AuraError, FormatError, ShapeError, NonFiniteError, ConfigError } from "aura-mem/errors";
import { crc32 } from "aura-mem/persist/crc32";
import {
  MemoryStore,
  slotPaths,
  encodeRecord,
  paramsFingerprint,
  recordBytes,
  RECORD_HEADER_BYTES,
} from "aura-mem/persist/store";
import { runCrashBench, crashLayer, crashObservation, stateChecksum } from "../src/bench/crash.js";
import { Rng } from "aura-mem/util/rng";

// ------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------

const SMALL: MemoryConfigInit = { dModel: 8, dAction: 2, dKey: 4, dVal: 4, gateBiasInit: 0, seed: 3 };
/** Record bytes of the small layer's fast-weight state: 64 + (4*4 + 4)*4 + 4. */
const SMALL_RECORD = 148;

function smallLayer(patch: Partial<MemoryConfigInit> = {}, arm: ArmName = "aura"): AuraMemLayer {
  return new AuraMemLayer({ ...SMALL, ...patch }, { backend: "ts", arm });
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "aura-store-test-"));
}

function obs(t: number, dModel = SMALL.dModel, B = 1): Float32Array {
  return new Rng(1000 + t).normals(dModel * B);
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  assert.deepEqual(Buffer.from(bytesOf(a)), Buffer.from(bytesOf(b)), what);
}

function sameState(a: MemoryState, b: MemoryState, what: string): void {
  assert.equal(a.kind, b.kind, `${what}: kind`);
  assert.equal(a.B, b.B, `${what}: B`);
  if (a.kind === "fast-weights" && b.kind === "fast-weights") {
    sameBytes(a.M, b.M, `${what}: M`);
    sameBytes(a.m, b.m, `${what}: m`);
  }
}

/** Step the store `n` times from its current t; returns the outputs. */
function run(store: MemoryStore, n: number, B = 1) {
  const outs = [];
  for (let i = 0; i < n; i++) outs.push(store.step(obs(store.state.t, store.layer.config.dModel, B)));
  return outs;
}

/** A store with two records: slot a = seq 1 (state s1), slot b = seq 2 (state s2). */
function twoRecords(dir: string) {
  const layer = smallLayer();
  const path = join(dir, "mem");
  const { store } = MemoryStore.open(path, layer);
  let s = layer.initState(1);
  s = layer.step(obs(0), s).state;
  store.persist(s);
  const s1 = s;
  s = layer.step(obs(1), s).state;
  store.persist(s);
  const s2 = s;
  store.close();
  const [a, b] = slotPaths(path);
  return { layer, path, a, b, s1, s2, bytesA: readFileSync(a), bytesB: readFileSync(b) };
}

// ------------------------------------------------------------------------------------------------
// CRC-32
// ------------------------------------------------------------------------------------------------

test("crc32: standard check value, empty input, incremental", () => {
  const enc = new TextEncoder();
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(enc.encode("The quick brown fox jumps over the lazy dog")), 0x414fa339);
  const all = enc.encode("hello, flash world");
  assert.equal(crc32(all.subarray(5), crc32(all.subarray(0, 5))), crc32(all));
});

// ------------------------------------------------------------------------------------------------
// format, round trip, accounting
// ------------------------------------------------------------------------------------------------

test("record: 4,292 bytes for the 32x32 fast-weight state (4,224 B + 68 B framing); bit-exact round trip", () => {
  const dir = tmp();
  try {
    const layer = new AuraMemLayer({ dModel: 16, dAction: 3 }, { backend: "ts" });
    assert.equal(layer.memoryBytes(1), 4224);
    assert.equal(recordBytes(layer.memoryBytes(1)), 4292);
    const s0 = layer.initState(1) as Extract<MemoryState, { kind: "fast-weights" }>;
    // awkward values: -0, denormals, extremes
    const M = new Float32Array(s0.M.length).map((_, i) => [(-0), 1e-45, -3.4e38, 1 / 3, 7][i % 5]!);
    const m = new Float32Array(s0.m.length).map((_, i) => (i % 2 ? -1.5e-40 : 2.5));
    const state: MemoryState = { kind: "fast-weights", B: 1, t: 123456789, M, m };
    const path = join(dir, "mem");
    const { store, report } = MemoryStore.open(path, layer);
    assert.equal(report.fresh, true);
    assert.equal(store.persist(state), true);
    assert.equal(readFileSync(slotPaths(path)[0]).length, 4292);
    store.close();
    const back = MemoryStore.read(path, layer);
    assert.equal(back.report.loaded, "a");
    assert.equal(back.state.t, 123456789);
    sameState(back.state, state, "round trip");
    assert.ok(Object.is((back.state as typeof state).M[0], -0), "-0 survives");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("persisted writes == gate writes (+ the flush on close); bytes and syncs accounted", () => {
  const dir = tmp();
  try {
    const layer = smallLayer();
    const { store } = MemoryStore.open(join(dir, "mem"), layer);
    const outs = run(store, 200);
    const gateSteps = outs.filter((o) => o.g[0] === 1).length;
    assert.ok(gateSteps > 20 && gateSteps < 180, `gate should write on some steps only, wrote ${gateSteps}/200`);
    for (const o of outs) assert.equal(o.persisted, o.g[0] === 1);
    let st = store.stats;
    assert.equal(st.steps, 200);
    assert.equal(st.gateWrites, gateSteps);
    assert.equal(st.writes, gateSteps);
    assert.equal(st.forcedWrites, 0);
    assert.equal(st.bytesWritten, gateSteps * SMALL_RECORD);
    assert.equal(st.fsyncs, gateSteps + 1, "one sync per record + one directory sync at creation");
    assert.equal(st.seq, gateSteps);
    const lastG = outs[outs.length - 1]!.g[0];
    assert.equal(store.dirty, lastG !== 1);
    store.close();
    st = store.stats;
    assert.equal(st.forcedWrites, lastG === 1 ? 0 : 1, "close() flushes only when steps ran since the last write");
    assert.equal(st.writes, gateSteps + st.forcedWrites);
    assert.equal(MemoryStore.read(join(dir, "mem"), layer).report.t, 200, "after close the store holds the exact t");
    store.close(); // idempotent
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a store over a WASM aura layer steps on the fused path: same outputs and persisted states as the op path", () => {
  const dir = tmp();
  try {
    const ref = new AuraMemLayer(SMALL, { backend: "wasm", fusedStep: false });
    const layer = AuraMemLayer.fromModel(ref.model);
    assert.equal(layer.stepPath(), "fused");
    const { store } = MemoryStore.open(join(dir, "mem"), layer);
    let s = ref.initState(1);
    let writes = 0;
    for (let t = 0; t < 100; t++) {
      const a = ref.step(obs(t), s);
      const b = store.step(obs(t));
      assert.equal(b.g[0], a.g[0], `g at ${t}`);
      assert.equal(b.persisted, a.g[0] === 1);
      for (let i = 0; i < a.action.length; i++) assert.ok(Math.abs(a.action[i]! - b.action[i]!) <= 1e-5, `action at ${t}`);
      writes += a.g[0]!;
      s = a.state;
    }
    assert.ok(writes > 5 && writes < 95, `the gate should both write and skip (${writes})`);
    store.close();
    const back = MemoryStore.read(join(dir, "mem"), layer).state;
    assert.equal(back.t, 100);
    sameState(back, store.state, "the persisted state is the fused path's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("flush is a no-op when nothing changed; policy every-step writes every step; B = 2 writes when any stream's gate fires", () => {
  const dir = tmp();
  try {
    const layer = smallLayer();
    const { store } = MemoryStore.open(join(dir, "a"), layer);
    assert.equal(store.flush(), false);
    assert.equal(store.stats.writes, 0);
    store.close();
    assert.equal(store.stats.writes, 0, "nothing to flush on close");

    const every = MemoryStore.open(join(dir, "b"), layer, { policy: "every-step" }).store;
    run(every, 30);
    assert.equal(every.stats.writes, 30);
    every.close();
    assert.equal(every.stats.writes, 30);

    const two = MemoryStore.open(join(dir, "c"), layer, { batch: 2 }).store;
    const outs = run(two, 60, 2);
    const any = outs.filter((o) => o.g[0] === 1 || o.g[1] === 1).length;
    assert.equal(two.stats.gateWrites, any);
    assert.ok(outs.some((o) => o.g[0] !== o.g[1]), "streams disagree on some steps");
    two.close();
    const back = MemoryStore.read(join(dir, "c"), layer, { batch: 2 });
    sameState(back.state, two.state, "B = 2 round trip");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writes alternate between the slots; the newest valid record wins", () => {
  const dir = tmp();
  try {
    const { layer, path, s1, s2, bytesA, bytesB } = twoRecords(dir);
    assert.equal(bytesA.length, SMALL_RECORD);
    assert.equal(bytesB.length, SMALL_RECORD);
    const r = MemoryStore.read(path, layer);
    assert.equal(r.report.loaded, "b");
    assert.equal(r.report.seq, 2);
    assert.equal(r.report.invalidSlots, 0);
    sameState(r.state, s2, "newest");
    // a third write goes to a (the older slot) and never touches b
    const { store } = MemoryStore.open(path, layer);
    store.persist(layer.step(obs(2), s2).state);
    store.close();
    sameBytes(readFileSync(slotPaths(path)[1]), bytesB, "slot b untouched by the write into a");
    assert.equal(MemoryStore.read(path, layer).report.loaded, "a");
    void s1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// resume
// ------------------------------------------------------------------------------------------------

test("resume: stop at step t (close), reopen, continue == uninterrupted run, bit-exact", () => {
  const dir = tmp();
  try {
    const layer = smallLayer();
    const T = 80;
    let s = layer.initState(1);
    const ref: Float32Array[] = [];
    for (let t = 0; t < T; t++) {
      const o = layer.step(obs(t), s);
      ref.push(o.action);
      s = o.state;
    }
    for (const stopAt of [1, 29, 50]) {
      const path = join(dir, `close${stopAt}`);
      const first = MemoryStore.open(path, layer).store;
      const got = run(first, stopAt).map((o) => o.action);
      first.close();
      const { store, state, report } = MemoryStore.open(path, layer);
      assert.equal(report.fresh, false);
      assert.equal(state.t, stopAt);
      got.push(...run(store, T - stopAt).map((o) => o.action));
      store.close();
      for (let t = 0; t < T; t++) sameBytes(got[t]!, ref[t]!, `action at t=${t} (stopped at ${stopAt})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("resume after a crash (no flush): the recovered memory equals the memory at the crash step; actions continue bit-exact", () => {
  const dir = tmp();
  try {
    const layer = smallLayer();
    const T = 90;
    let s = layer.initState(1);
    const ref: Float32Array[] = [];
    const refStates: MemoryState[] = [s];
    for (let t = 0; t < T; t++) {
      const o = layer.step(obs(t), s);
      ref.push(o.action);
      s = o.state;
      refStates.push(s);
    }
    let sawLag = false;
    for (const crashAt of [7, 33, 61]) {
      const path = join(dir, `crash${crashAt}`);
      const first = MemoryStore.open(path, layer).store;
      const outs = run(first, crashAt);
      const lastWrite = outs.map((o) => o.g[0]).lastIndexOf(1) + 1; // t of the last persisted state
      first.abandon(); // what a crash leaves: the last durable record only
      const { store, state, report } = MemoryStore.open(path, layer);
      assert.equal(report.t, lastWrite);
      assert.equal(state.t, lastWrite);
      sawLag ||= lastWrite < crashAt;
      // between writes M and m do not change: the recovered memory is the memory at the crash step
      sameState(state, refStates[crashAt]!, `memory at crash step ${crashAt}`);
      // the robot continues with the observations from the crash step on
      for (let t = crashAt; t < T; t++) {
        const o = layer.step(obs(t), store.state);
        store.persist(o.state, o.g);
        sameBytes(o.action, ref[t]!, `action at t=${t} after crash at ${crashAt}`);
      }
      store.close();
    }
    assert.ok(sawLag, "at least one crash landed after steps without a write");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("kv-cache arm: the whole (growing) cache is persisted every step; resume is bit-exact", () => {
  const dir = tmp();
  try {
    const layer = smallLayer({}, "kv-cache");
    const path = join(dir, "kv");
    const { store } = MemoryStore.open(path, layer);
    const outs = run(store, 12);
    assert.equal(store.stats.writes, 12, "dense arms report g = 1 every step");
    let expected = 0;
    for (let n = 1; n <= 12; n++) expected += recordBytes(n * (4 + 4) * 4);
    assert.equal(store.stats.bytesWritten, expected, "record n holds n entries of (dKey + dVal) * 4 bytes");
    store.close();
    const { store: again, state } = MemoryStore.open(path, layer);
    assert.equal(state.kind, "kv");
    assert.equal(state.t, 12);
    // continue and compare with an uninterrupted run
    let s = layer.initState(1);
    const ref: Float32Array[] = [];
    for (let t = 0; t < 20; t++) {
      const o = layer.step(obs(t), s);
      ref.push(o.action);
      s = o.state;
    }
    const got = [...outs.map((o) => o.action), ...run(again, 8).map((o) => o.action)];
    again.close();
    for (let t = 0; t < 20; t++) sameBytes(got[t]!, ref[t]!, `kv action at t=${t}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lstm and no-memory states round trip", () => {
  const dir = tmp();
  try {
    for (const arm of ["lstm", "gru", "no-memory"] as const) {
      const layer = smallLayer({}, arm);
      const path = join(dir, arm);
      const { store } = MemoryStore.open(path, layer);
      run(store, 5);
      const want = store.state;
      store.close();
      const back = MemoryStore.read(path, layer);
      assert.equal(back.state.kind, want.kind);
      assert.equal(back.state.t, 5);
      if (back.state.kind === "rnn" && want.kind === "rnn") {
        sameBytes(back.state.h, want.h, `${arm} h`);
        if (arm === "lstm") sameBytes(back.state.c!, want.c!, "lstm c");
        else assert.equal(back.state.c, undefined);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// corruption: never load a bad record
// ------------------------------------------------------------------------------------------------

test("a flipped byte anywhere in a slot (every field: magic, version, kind, seq, t, dims, length, payload, CRC) is skipped; the other slot loads", () => {
  const dir = tmp();
  try {
    const { layer, path, a, b, s1, s2, bytesA, bytesB } = twoRecords(dir);
    for (const [victim, orig, survivor, seq] of [
      [b, bytesB, s1, 1],
      [a, bytesA, s2, 2],
    ] as const) {
      for (let i = 0; i < orig.length; i++) {
        for (const mask of [0xff, 0x01]) {
          const bad = Buffer.from(orig);
          bad[i] = bad[i]! ^ mask;
          writeFileSync(victim, bad);
          const r = MemoryStore.read(path, layer);
          assert.equal(r.report.seq, seq, `flip byte ${i} (mask ${mask}) of ${victim}: loaded seq ${r.report.seq}`);
          assert.equal(r.report.invalidSlots, 1);
          const rep = r.report.slots.find((x) => x.path === victim)!;
          assert.ok(rep.status === "torn" || rep.status === "corrupt", `status ${rep.status}`);
          assert.ok(rep.reason && rep.reason.length > 0);
          sameState(r.state, survivor, `flip byte ${i}`);
        }
      }
      writeFileSync(victim, orig);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("truncation at every offset, and a torn overwrite (new prefix over the old record), are skipped", () => {
  const dir = tmp();
  try {
    const { layer, path, a, b, s1, s2, bytesA, bytesB } = twoRecords(dir);
    for (let n = 0; n < bytesB.length; n++) {
      writeFileSync(b, bytesB.subarray(0, n));
      const r = MemoryStore.read(path, layer);
      assert.equal(r.report.seq, 1, `b truncated to ${n}`);
      assert.equal(r.report.slots[1].status, n === 0 ? "empty" : "torn");
      sameState(r.state, s1, `b truncated to ${n}`);
    }
    writeFileSync(b, bytesB);
    // power cut while overwriting a (seq 1) with seq 3: the first k bytes are new, the rest old
    const s3 = layer.step(obs(2), s2).state;
    const rec3 = encodeRecord(s3, 3, paramsFingerprint(layer));
    for (let k = 1; k < rec3.length; k++) {
      const torn = Buffer.from(bytesA);
      torn.set(rec3.subarray(0, k), 0);
      writeFileSync(a, torn);
      const r = MemoryStore.read(path, layer);
      assert.equal(r.report.seq, 2, `torn at ${k}`);
      sameState(r.state, s2, `torn at ${k}`);
    }
    writeFileSync(a, Buffer.concat([Buffer.from(rec3)]));
    assert.equal(MemoryStore.read(path, layer).report.seq, 3, "the completed write wins");
    // truncate a at every offset: b wins
    for (let n = 0; n < rec3.length; n++) {
      writeFileSync(a, rec3.subarray(0, n));
      assert.equal(MemoryStore.read(path, layer).report.seq, 2, `a truncated to ${n}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("both slots corrupt: fresh state, reported (or FormatError with requireExisting); the next write goes to a slot and recovers", () => {
  const dir = tmp();
  try {
    const { layer, path, a, b, bytesA, bytesB } = twoRecords(dir);
    const badA = Buffer.from(bytesA);
    badA[100] = badA[100]! ^ 0x10;
    const badB = Buffer.from(bytesB);
    badB[0] = 0x00; // wrong magic
    writeFileSync(a, badA);
    writeFileSync(b, badB);
    const r = MemoryStore.read(path, layer);
    assert.equal(r.report.fresh, true);
    assert.equal(r.report.loaded, null);
    assert.equal(r.report.seq, 0);
    assert.equal(r.report.invalidSlots, 2);
    assert.match(r.report.message, /no valid record/);
    sameState(r.state, layer.initState(1), "fresh");
    assert.equal(r.state.t, 0);
    assert.throws(() => MemoryStore.read(path, layer, { requireExisting: true }), FormatError);
    assert.throws(() => MemoryStore.open(path, layer, { requireExisting: true }), FormatError);
    // open + one step that writes: a valid record again
    const { store } = MemoryStore.open(path, layer);
    let wrote = false;
    while (!wrote) wrote = store.step(obs(store.state.t)).persisted;
    store.close();
    const back = MemoryStore.read(path, layer);
    assert.equal(back.report.fresh, false);
    assert.equal(back.report.seq, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wrong magic / version 0 / missing and empty slots / a directory as a slot are skipped, not thrown", () => {
  const dir = tmp();
  try {
    const { layer, path, a, b, bytesA, bytesB } = twoRecords(dir);
    const v0 = Buffer.from(bytesB);
    v0.writeUInt16LE(0, 8);
    // re-seal the CRC so that only the version is wrong
    v0.writeUInt32LE(crc32(v0.subarray(0, v0.length - 4)), v0.length - 4);
    writeFileSync(b, v0);
    let r = MemoryStore.read(path, layer);
    assert.equal(r.report.seq, 1);
    assert.equal(r.report.slots[1].status, "corrupt");
    assert.match(r.report.slots[1].reason!, /version 0/);
    writeFileSync(b, Buffer.from("not an aura memory record, just some text that is long enough to have a header......"));
    r = MemoryStore.read(path, layer);
    assert.equal(r.report.seq, 1);
    assert.match(r.report.slots[1].reason!, /magic/);
    rmSync(b);
    r = MemoryStore.read(path, layer);
    assert.equal(r.report.slots[1].status, "missing");
    assert.equal(r.report.seq, 1);
    writeFileSync(b, "");
    assert.equal(MemoryStore.read(path, layer).report.slots[1].status, "empty");
    rmSync(b);
    mkdirSync(b);
    r = MemoryStore.read(path, layer);
    assert.equal(r.report.slots[1].status, "corrupt");
    assert.equal(r.report.seq, 1);
    assert.throws(() => MemoryStore.open(path, layer), FormatError, "open refuses a directory in a slot's place");
    rmSync(b, { recursive: true });
    // a FIFO in a slot's place: no hang
    if (spawnSync("mkfifo", [b]).status === 0) {
      r = MemoryStore.read(path, layer);
      assert.equal(r.report.slots[1].status, "corrupt");
      assert.equal(r.report.seq, 1);
      assert.throws(() => MemoryStore.open(path, layer), FormatError);
      rmSync(b);
    }
    writeFileSync(b, bytesB);
    void a;
    void bytesA;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("huge or inconsistent length fields: rejected before reading, bounded memory, no hang", () => {
  const dir = tmp();
  try {
    const { layer, path, b, bytesB } = twoRecords(dir);
    const reseal = (buf: Buffer): Buffer => {
      buf.writeUInt32LE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
      return buf;
    };
    const cases: [string, (h: Buffer) => void][] = [
      ["payload length 2^62", (h) => h.writeBigUInt64LE(2n ** 62n, 48)],
      ["payload length 2^64 - 1", (h) => h.writeBigUInt64LE(2n ** 64n - 1n, 48)],
      ["B = 2^32 - 1 with a matching length", (h) => {
        h.writeUInt32LE(0xffffffff, 32);
        h.writeBigUInt64LE(BigInt(0xffffffff) * 20n * 4n, 48);
      }],
      ["dKey = dVal = 2^32 - 1 with a matching length", (h) => {
        h.writeUInt32LE(0xffffffff, 36);
        h.writeUInt32LE(0xffffffff, 40);
      }],
      ["kv with n = 2^32 - 1", (h) => {
        h.writeUInt8(3, 12);
        h.writeUInt32LE(0xffffffff, 44);
        h.writeBigUInt64LE(BigInt(0xffffffff) * 8n * 4n, 48);
      }],
      ["seq above 2^53", (h) => h.writeBigUInt64LE(2n ** 60n, 16)],
      ["seq 0", (h) => h.writeBigUInt64LE(0n, 16)],
      ["t above 2^53", (h) => h.writeBigUInt64LE(2n ** 63n, 24)],
      ["B = 0", (h) => h.writeUInt32LE(0, 32)],
      ["unknown kind", (h) => h.writeUInt8(9, 12)],
      ["unknown flags", (h) => h.writeUInt8(4, 13)],
      ["header size field", (h) => h.writeUInt16LE(128, 10)],
    ];
    const before = process.memoryUsage().arrayBuffers;
    for (const [name, edit] of cases) {
      const buf = Buffer.from(bytesB);
      edit(buf);
      writeFileSync(b, reseal(buf)); // even with a matching CRC the header must not be trusted
      const t0 = Date.now();
      const r = MemoryStore.read(path, layer);
      assert.ok(Date.now() - t0 < 5000, `${name}: returned promptly`);
      assert.equal(r.report.seq, 1, `${name}: falls back to slot a`);
      assert.ok(["torn", "corrupt"].includes(r.report.slots[1].status), `${name}: ${r.report.slots[1].status}`);
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, "no large allocation");
    // a record above maxRecordBytes is corrupt (not read)
    writeFileSync(b, bytesB);
    const r = MemoryStore.read(path, layer, { maxRecordBytes: 100 });
    assert.equal(r.report.slots[1].status, "corrupt");
    assert.match(r.report.slots[1].reason!, /maxRecordBytes/);
    // a file much longer than its record: the record is read, the tail ignored
    writeFileSync(b, Buffer.concat([bytesB, Buffer.alloc(10_000, 0xab)]));
    assert.equal(MemoryStore.read(path, layer).report.seq, 2);
    // a short slot: fewer bytes than the header
    truncateSync(b, 10);
    assert.equal(MemoryStore.read(path, layer).report.slots[1].status, "torn");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// another configuration: typed errors, files untouched
// ------------------------------------------------------------------------------------------------

test("a valid record of another configuration: ShapeError (dims, B, kind) / FormatError (parameters); nothing written", () => {
  const dir = tmp();
  try {
    const { path, a, b, bytesA, bytesB, s2 } = twoRecords(dir);
    const untouched = (): void => {
      sameBytes(readFileSync(a), bytesA, "slot a untouched");
      sameBytes(readFileSync(b), bytesB, "slot b untouched");
    };
    assert.throws(() => MemoryStore.open(path, smallLayer({ dKey: 8 })), (e: unknown) => e instanceof ShapeError && /dKey=4/.test(e.message));
    assert.throws(() => MemoryStore.open(path, smallLayer({ dVal: 5 })), ShapeError);
    assert.throws(() => MemoryStore.open(path, smallLayer(), { batch: 2 }), ShapeError);
    assert.throws(() => MemoryStore.open(path, smallLayer({}, "gru")), ShapeError);
    assert.throws(() => MemoryStore.open(path, smallLayer({}, "kv-cache")), ShapeError);
    untouched();
    // same shapes, other weights
    assert.throws(() => MemoryStore.open(path, smallLayer({ seed: 4 })), FormatError);
    untouched();
    const other = MemoryStore.read(path, smallLayer({ seed: 4 }), { allowParamMismatch: true });
    sameState(other.state, s2, "allowParamMismatch loads the newest");
    // nothing created for a store whose open failed
    const fresh = join(dir, "other");
    const rA = slotPaths(fresh)[0];
    writeFileSync(rA, readFileSync(a));
    assert.throws(() => MemoryStore.open(fresh, smallLayer({ dKey: 8 })), ShapeError);
    assert.equal(existsSync(slotPaths(fresh)[1]), false, "no slot file created on error");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad input leaves state, accounting and files untouched; a closed store throws", () => {
  const dir = tmp();
  try {
    const { layer, path, a, b, bytesA, bytesB } = twoRecords(dir);
    const { store } = MemoryStore.open(path, layer);
    const before = store.state;
    const stats = store.stats;
    assert.throws(() => store.step(new Float32Array(3)), ShapeError);
    assert.throws(() => store.step(new Float32Array(8).fill(NaN)), NonFiniteError);
    assert.throws(() => store.persist(smallLayer({ dKey: 8 }).initState(1)), ShapeError);
    assert.throws(() => store.persist(layer.initState(2)), ShapeError);
    assert.throws(() => store.persist({ ...layer.initState(1), t: -1 } as MemoryState), ShapeError);
    assert.throws(() => store.persist(layer.initState(1), new Float32Array(2)), ShapeError);
    assert.throws(() => store.persist(null as unknown as MemoryState), ShapeError);
    assert.equal(store.state, before);
    assert.deepEqual(store.stats, stats);
    assert.equal(store.dirty, false);
    sameBytes(readFileSync(a), bytesA, "a");
    sameBytes(readFileSync(b), bytesB, "b");
    // g = 0: state tracked, nothing written
    const s = layer.step(obs(9), before).state;
    assert.equal(store.persist(s, new Float32Array([0])), false);
    assert.equal(store.state, s);
    assert.equal(store.dirty, true);
    assert.equal(store.stats.writes, 0);
    store.close();
    assert.equal(store.stats.forcedWrites, 1);
    assert.throws(() => store.step(obs(0)), AuraError);
    assert.throws(() => store.flush(), AuraError);
    assert.throws(() => store.persist(s), AuraError);
    assert.throws(() => MemoryStore.open(path, layer, { policy: "sometimes" as "gate" }), ConfigError);
    assert.throws(() => MemoryStore.open(path, layer, { batch: 0 }), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sector-emulation writes (write + sync per sector) produce the same records", () => {
  const dir = tmp();
  try {
    const layer = smallLayer();
    const p1 = join(dir, "whole");
    const p2 = join(dir, "sector");
    const s1 = MemoryStore.open(p1, layer).store;
    const s2 = MemoryStore.open(p2, layer, { sectorBytes: 64 }).store;
    run(s1, 40);
    run(s2, 40);
    assert.equal(s2.stats.writes, s1.stats.writes);
    assert.equal(s2.stats.fsyncs - 1, s2.stats.writes * Math.ceil(SMALL_RECORD / 64));
    s1.close();
    s2.close();
    for (let i = 0; i < 2; i++) sameBytes(readFileSync(slotPaths(p1)[i]!), readFileSync(slotPaths(p2)[i]!), `slot ${i}`);
    assert.equal(RECORD_HEADER_BYTES, 64);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// crash loop (the full harness is `npm run bench:crash`)
// ------------------------------------------------------------------------------------------------

test("crash harness helpers: the observation stream is a pure function of (seed, t)", () => {
  const a = crashObservation(5, 123);
  const b = crashObservation(5, 123);
  sameBytes(a, b, "same (seed, t)");
  assert.notDeepEqual(Buffer.from(bytesOf(crashObservation(5, 124))), Buffer.from(bytesOf(a)));
  const layer = crashLayer(0);
  assert.equal(typeof stateChecksum(layer.initState(1)), "number");
});

test("crash loop: 20 SIGKILLs of a persisting child, every recovery valid, up to date and bit-exact", async () => {
  const r = await runCrashBench({ kills: 20, seed: 11, jobs: 2, maxDelayMs: 150 });
  assert.equal(r.kills, 20);
  assert.equal(r.losses, 0, r.lossDetails.join("\n"));
  assert.equal(r.recoveries + r.freshStarts, 20, "every check either recovered the newest write or (before any write) started fresh");
  assert.ok(r.durableWrites > 0 && r.recoveries > 0, `writes ${r.durableWrites}, recoveries ${r.recoveries}`);
  assert.equal(r.sectorKills, 10);
});
