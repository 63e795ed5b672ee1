import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodeSafetensors,
  decodeSafetensors,
  readSafetensors,
  writeSafetensors,
  int64ToInt32,
  int64ToFloat64,
  MAX_HEADER_BYTES,
  type TensorEntry,
} from "aura-mem/io/safetensors";
import { FormatError, ShapeError, NonFiniteError, ConfigError } from "aura-mem/errors";
import { saveCheckpoint, loadCheckpoint, checkpointPaths, type Checkpoint } from "aura-mem/io/checkpoint";
import { loadDataset, saveDataset, validateDataset, splitDataset, datasetFromTensors, type Dataset } from "aura-mem/io/dataset";
import { Rng } from "aura-mem/util/rng";

// ------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function assertSameBytes(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  assert.equal(a.byteLength, b.byteLength, `${what}: byte length`);
  assert.deepEqual(Array.from(bytesOf(a)), Array.from(bytesOf(b)), `${what}: bytes differ`);
}

/** Build a raw safetensors file from a header (object or literal JSON text) and a data buffer. */
function raw(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const buf = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + buf.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(buf, 8 + h.length);
  return out;
}

/** Assert that decoding throws a FormatError (and nothing else), optionally matching the message. */
function assertFormatError(bytes: Uint8Array, re?: RegExp, what = ""): void {
  let err: unknown = null;
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  assert.ok(err !== null, `${what}: expected a FormatError, decoding succeeded`);
  assert.ok(err instanceof FormatError, `${what}: expected FormatError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
  assert.ok(!/unexpected/.test(err.message), `${what}: safety net caught an internal error: ${err.message}`);
  if (re) assert.match(err.message, re, what);
}

function f32bits(...bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

function allDtypes(): Record<string, TensorEntry> {
  // Float specials by bit pattern: +0, -0, min denormal, max denormal, 1, inf, -inf, qNaN, NaN with
  // payload, signalling-NaN pattern, negative NaN.
  const f32 = f32bits(0x00000000, 0x80000000, 0x00000001, 0x007fffff, 0x3f800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc12345, 0x7fa00001, 0xffc00001);
  const f64 = new Float64Array(
    new BigUint64Array([0n, 0x8000000000000000n, 1n, 0x000fffffffffffffn, 0x3ff0000000000000n, 0x7ff0000000000000n, 0x7ff8000000000000n, 0x7ff8000000abcdefn, 0xfff0000000000001n]).buffer,
  );
  return {
    "w.f32": { dtype: "F32", shape: [f32.length], data: f32 },
    "w.f64": { dtype: "F64", shape: [3, 3], data: f64 },
    "i32": { dtype: "I32", shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -1]) },
    "i64": { dtype: "I64", shape: [4], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]) },
    "u8": { dtype: "U8", shape: [1, 256], data: Uint8Array.from({ length: 256 }, (_, i) => i) },
    "empty": { dtype: "F32", shape: [0], data: new Float32Array(0) },
    "empty2d": { dtype: "F64", shape: [3, 0], data: new Float64Array(0) },
    "scalar": { dtype: "F32", shape: [], data: new Float32Array([2.5]) },
    "odd.u8": { dtype: "U8", shape: [3], data: new Uint8Array([7, 8, 9]) }, // misaligns what follows
    "z.after.odd": { dtype: "F64", shape: [1], data: new Float64Array([-0]) },
  };
}

function assertSameTensors(a: Record<string, TensorEntry>, b: Record<string, TensorEntry>): void {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    assert.equal(b[k]!.dtype, a[k]!.dtype, `${k} dtype`);
    assert.deepEqual(b[k]!.shape, a[k]!.shape, `${k} shape`);
    assert.equal(b[k]!.data.constructor, a[k]!.data.constructor, `${k} array type`);
    assertSameBytes(a[k]!.data, b[k]!.data, k);
  }
}

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), "aura-io-"));
}

// ------------------------------------------------------------------------------------------------
// safetensors: round trips
// ------------------------------------------------------------------------------------------------

test("safetensors round trip is bit-exact for every dtype, specials, empty and scalar tensors", () => {
  const t = allDtypes();
  const meta = { arm: "aura", note: "ünïcødé ✓", empty: "" };
  const bytes = encodeSafetensors(t, meta);
  const back = decodeSafetensors(bytes);
  assertSameTensors(t, back.tensors);
  assert.deepEqual(back.metadata, meta);
  // Re-encoding the decoded contents reproduces the same bytes.
  assertSameBytes(encodeSafetensors(back.tensors, back.metadata), bytes, "re-encode");
});

test("safetensors writer is deterministic and aligned", () => {
  const t = allDtypes();
  const reversed: Record<string, TensorEntry> = {};
  for (const k of Object.keys(t).reverse()) reversed[k] = t[k]!;
  const a = encodeSafetensors(t, { b: "2", a: "1" });
  const b = encodeSafetensors(reversed, { a: "1", b: "2" });
  assertSameBytes(a, b, "insertion order must not matter");
  const n = Number(new DataView(a.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0, "data buffer starts on an 8-byte boundary");
  const header = new TextDecoder().decode(a.subarray(8, 8 + n));
  assert.ok(header.startsWith('{"__metadata__":{"a":"1","b":"2"}'), header);
  assert.match(header, /^[^ ]*} *$/, "padding is trailing spaces only");
  // Empty metadata and no metadata give the same bytes; decoding yields {}.
  assertSameBytes(encodeSafetensors(t, {}), encodeSafetensors(t), "empty metadata");
  assert.deepEqual(decodeSafetensors(encodeSafetensors(t)).metadata, {});
  // Empty file: no tensors.
  const e = decodeSafetensors(encodeSafetensors({}));
  assert.deepEqual(e, { tensors: {}, metadata: {} });
});

test("safetensors reads a file written the reference way (whitespace, key order, unaligned header)", () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
  const i32 = new Uint8Array(new Int32Array([5]).buffer);
  const buf = new Uint8Array(16);
  buf.set(i32, 0);
  buf.set(data, 4);
  const text = '{ "b" : {"dtype":"F32","shape":[3],"data_offsets":[4,16]},\n "__metadata__": {"format":"pt"}, "a": {"shape":[1],"dtype":"I32","data_offsets":[0,4]}}';
  const out = decodeSafetensors(raw(text, buf)); // header length 126, not a multiple of 8
  assert.deepEqual(Array.from(out.tensors.b!.data as Float32Array), [1, 2, 3]);
  assert.deepEqual(Array.from(out.tensors.a!.data as Int32Array), [5]);
  assert.deepEqual(out.metadata, { format: "pt" });
  // Several empty tensors at the same offset are fine.
  const z = decodeSafetensors(
    raw({ x: { dtype: "F32", shape: [0], data_offsets: [0, 0] }, y: { dtype: "U8", shape: [0, 2], data_offsets: [0, 0] }, w: { dtype: "U8", shape: [2], data_offsets: [0, 2] } }, 2),
  );
  assert.deepEqual(Object.keys(z.tensors).sort(), ["w", "x", "y"]);
});

test("safetensors names are data, not keys of the prototype", () => {
  const t: Record<string, TensorEntry> = JSON.parse('{"__proto__": 1}');
  t["__proto__"] = { dtype: "U8", shape: [1], data: new Uint8Array([3]) };
  t["constructor"] = { dtype: "U8", shape: [1], data: new Uint8Array([4]) };
  const back = decodeSafetensors(encodeSafetensors(t, JSON.parse('{"__proto__":"m"}')));
  assert.deepEqual(Object.keys(back.tensors).sort(), ["__proto__", "constructor"]);
  assert.equal((back.tensors["__proto__"]!.data as Uint8Array)[0], 3);
  assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
  assert.equal(back.metadata["__proto__"], "m");
});

test("decoded tensors own their memory (Buffer input, misaligned offsets)", () => {
  const bytes = encodeSafetensors(allDtypes());
  const buf = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(bytes)]).subarray(3); // misaligned view
  const back = decodeSafetensors(buf);
  for (const [k, e] of Object.entries(back.tensors)) {
    assert.equal(e.data.byteOffset, 0, k);
    assert.equal(e.data.buffer.byteLength, e.data.byteLength, `${k} has its own buffer`);
  }
  assertSameTensors(allDtypes(), back.tensors);
});

test("encodeSafetensors rejects bad input with typed errors", () => {
  assert.throws(() => encodeSafetensors({ a: { dtype: "F32", shape: [3], data: new Float32Array(2) } }), ShapeError);
  assert.throws(() => encodeSafetensors({ a: { dtype: "F32", shape: [-1], data: new Float32Array(0) } }), ShapeError);
  assert.throws(() => encodeSafetensors({ a: { dtype: "F32", shape: [2], data: new Float64Array(2) } as unknown as TensorEntry }), FormatError);
  assert.throws(() => encodeSafetensors({ a: { dtype: "F16", shape: [2], data: new Uint8Array(4) } as unknown as TensorEntry }), FormatError);
  assert.throws(() => encodeSafetensors({ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } }), FormatError);
  assert.throws(() => encodeSafetensors({}, { a: 1 } as unknown as Record<string, string>), FormatError);
});

test("I64 conversion helpers", () => {
  assert.deepEqual(Array.from(int64ToInt32(new BigInt64Array([-1n, 5n, 2147483647n]))), [-1, 5, 2147483647]);
  assert.throws(() => int64ToInt32(new BigInt64Array([2147483648n]), "label"), /label\[0\]/);
  assert.deepEqual(Array.from(int64ToFloat64(new BigInt64Array([-(2n ** 53n) + 1n, 3n]))), [-(2 ** 53) + 1, 3]);
  assert.throws(() => int64ToFloat64(new BigInt64Array([0n, 2n ** 53n])), FormatError);
});

// ------------------------------------------------------------------------------------------------
// safetensors: malformed files
// ------------------------------------------------------------------------------------------------

function smallValid(): Uint8Array {
  return encodeSafetensors(
    {
      a: { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) },
      b: { dtype: "I64", shape: [1], data: new BigInt64Array([7n]) },
      c: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) },
    },
    { k: "v" },
  );
}

test("truncation at every byte offset -> FormatError", () => {
  const good = smallValid();
  decodeSafetensors(good);
  for (let len = 0; len < good.length; len++) assertFormatError(good.subarray(0, len), undefined, `truncated to ${len}`);
  // Appending any byte is also rejected (trailing bytes).
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assertFormatError(longer, /trailing/);
});

test("random byte corruption -> success or FormatError, never another exception", () => {
  const good = smallValid();
  const rng = new Rng(1234);
  let rejected = 0;
  for (let it = 0; it < 3000; it++) {
    const b = good.slice();
    const flips = 1 + rng.int(3);
    for (let f = 0; f < flips; f++) {
      // bias towards the header, where the interesting structure is
      const pos = rng.uniform() < 0.8 ? rng.int(Math.min(b.length, 8 + 160)) : rng.int(b.length);
      b[pos] = rng.uniform() < 0.5 ? rng.int(256) : b[pos]! ^ (1 << rng.int(8));
    }
    try {
      decodeSafetensors(b);
    } catch (e) {
      assert.ok(e instanceof FormatError, `iteration ${it}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
      assert.ok(!/unexpected/.test(e.message), `iteration ${it}: ${e.message}`);
      rejected++;
    }
  }
  assert.ok(rejected > 1000, `most corruptions should be detected, got ${rejected}`);
});

test("malformed headers -> FormatError naming the problem", () => {
  const T = (o: object = {}) => ({ dtype: "F32", shape: [2], data_offsets: [0, 8], ...o });
  // header length
  assertFormatError(new Uint8Array(0), /too short/, "empty file");
  assertFormatError(new Uint8Array(7), /too short/, "7 bytes");
  assertFormatError(raw({ a: T() }, 8, 1000n), /exceeds/, "header length beyond file");
  assertFormatError(raw({}, 0, 2n ** 64n - 1n), /limit/, "u64 max header length");
  assertFormatError(raw({}, 0, 2n ** 63n), /limit/, "2^63 header length");
  assertFormatError(raw({}, 0, BigInt(MAX_HEADER_BYTES) + 1n), /limit/, "100MB + 1");
  assertFormatError(raw("{}", 0, 0n), /too small/, "zero header length");
  // JSON
  assertFormatError(raw('{"a": {"dtype": "F32",', 0), /JSON/, "invalid JSON");
  assertFormatError(raw("[1, 2]", 0), /\{/, "array header");
  assertFormatError(raw("{} x", 0), /JSON/, "garbage after JSON");
  assertFormatError(raw(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) as unknown as string, 0), /./, "binary header");
  {
    const b = raw("{}    ", 0);
    b[10] = 0xc3; // invalid UTF-8 lead byte followed by a space
    assertFormatError(b, /UTF-8/, "non-UTF-8 header");
  }
  assertFormatError(raw('{"a": ' + JSON.stringify(T()) + ', "a": ' + JSON.stringify(T()) + "}", 8), /duplicate key "a"/, "duplicate tensor");
  assertFormatError(raw('{"a": ' + JSON.stringify(T()) + ', "\\u0061": ' + JSON.stringify(T()) + "}", 8), /duplicate key "a"/, "duplicate via escape");
  assertFormatError(raw('{"__metadata__": {"x": "1", "x": "2"}}', 0), /duplicate key "x"/, "duplicate metadata key");
  assertFormatError(raw('{"a": {"dtype": "F32", "dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', 0), /duplicate key "dtype"/, "duplicate field");
  // metadata
  assertFormatError(raw({ __metadata__: { x: 1 } }), /__metadata__.*"x"/, "non-string metadata");
  assertFormatError(raw({ __metadata__: ["x"] }), /__metadata__/, "array metadata");
  assertFormatError(raw({ __metadata__: null }), /__metadata__/, "null metadata");
  // entries
  assertFormatError(raw({ a: 5 }, 8), /"a"/, "entry not an object");
  assertFormatError(raw({ a: T({ dtype: "Q7" }) }, 8), /"a".*unknown dtype/, "unknown dtype");
  assertFormatError(raw({ a: T({ dtype: "F16", shape: [4] }) }, 8), /"a".*F16.*not supported/, "F16 unsupported");
  assertFormatError(raw({ a: T({ dtype: "f32" }) }, 8), /dtype/, "lowercase dtype");
  assertFormatError(raw({ a: T({ dtype: undefined }) }, 8), /dtype/, "missing dtype");
  assertFormatError(raw({ a: T({ shape: [-2] }) }, 8), /"a" shape\[0\]/, "negative dim");
  assertFormatError(raw({ a: T({ shape: [2.5] }) }, 8), /shape\[0\]/, "fractional dim");
  assertFormatError(raw({ a: T({ shape: ["2"] }) }, 8), /shape\[0\]/, "string dim");
  assertFormatError(raw({ a: T({ shape: 2 }) }, 8), /shape must be an array/, "shape not array");
  assertFormatError(raw({ a: T({ shape: [1e300, 1e300] }) }, 8), /shape/, "astronomical shape");
  assertFormatError(raw({ a: T({ shape: [2 ** 40, 2 ** 40] }) }, 8), /"a"/, "overflowing shape");
  assertFormatError(raw({ a: T({ data_offsets: [0] }) }, 8), /data_offsets/, "one offset");
  assertFormatError(raw({ a: T({ data_offsets: [0, 4, 8] }) }, 8), /data_offsets/, "three offsets");
  assertFormatError(raw({ a: T({ data_offsets: ["0", 8] }) }, 8), /data_offsets/, "string offset");
  assertFormatError(raw({ a: T({ data_offsets: [0, 8.5] }) }, 8), /data_offsets/, "fractional offset");
  assertFormatError(raw({ a: T({ data_offsets: [-8, 0] }) }, 8), /data_offsets/, "negative offset");
  assertFormatError(raw({ a: T({ data_offsets: [8, 0] }) }, 8), /end 0 < begin 8/, "end < begin");
  assertFormatError(raw({ a: T({ data_offsets: [0, 16] }) }, 8), /"a".*exceed/, "out of range");
  assertFormatError(raw({ a: T({ data_offsets: [0, 2 ** 60] }) }, 8), /data_offsets/, "huge offset");
  assertFormatError(raw({ a: T({ data_offsets: [0, 2 ** 50] }) }, 8), /exceed/, "large offset");
  assertFormatError(raw({ a: T({ shape: [3] }) }, 8), /"a".*12 bytes.*8/, "size mismatch");
  assertFormatError(raw({ a: T({ dtype: "F64" }) }, 8), /"a"/, "dtype size mismatch");
  // layout
  assertFormatError(raw({ a: T(), b: T({ data_offsets: [4, 12] }) }, 12), /overlaps/, "overlap");
  assertFormatError(raw({ a: T(), b: T() }, 8), /overlaps/, "identical ranges");
  assertFormatError(raw({ a: T(), b: T({ data_offsets: [12, 20] }) }, 20), /gap of 4 bytes before tensor "b"/, "gap");
  assertFormatError(raw({ a: T({ data_offsets: [4, 12] }) }, 12), /gap/, "hole at start");
  assertFormatError(raw({ a: T() }, 9), /1 trailing bytes/, "trailing byte");
  assertFormatError(raw({}, 4), /trailing/, "data with no tensors");
});

// ------------------------------------------------------------------------------------------------
// safetensors: files
// ------------------------------------------------------------------------------------------------

test("writeSafetensors/readSafetensors: atomic write, round trip, clear errors", async () => {
  const dir = await tmp();
  try {
    const p = join(dir, "t.safetensors");
    await writeSafetensors(p, allDtypes(), { a: "b" });
    const back = await readSafetensors(p);
    assertSameTensors(allDtypes(), back.tensors);
    assert.deepEqual(await readdir(dir), ["t.safetensors"], "no temporary files left behind");
    // A failing encode leaves the existing file untouched.
    const before = await readFile(p);
    await assert.rejects(writeSafetensors(p, { a: { dtype: "F32", shape: [9], data: new Float32Array(1) } }), ShapeError);
    assertSameBytes(await readFile(p), before, "file untouched");
    assert.deepEqual(await readdir(dir), ["t.safetensors"]);
    // Missing file / directory / malformed file.
    await assert.rejects(readSafetensors(join(dir, "missing.safetensors")), (e: unknown) => e instanceof FormatError && /not found/.test(e.message) && /missing\.safetensors/.test(e.message));
    await assert.rejects(readSafetensors(dir), FormatError);
    await writeFile(join(dir, "bad.safetensors"), "not a safetensors file");
    await assert.rejects(readSafetensors(join(dir, "bad.safetensors")), FormatError);
    // Writing into a missing directory fails with the system error and leaves nothing behind.
    await assert.rejects(writeSafetensors(join(dir, "nope", "x.safetensors"), {}));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// checkpoints
// ------------------------------------------------------------------------------------------------

function sampleCheckpoint(): Checkpoint {
  const rng = new Rng(7);
  const W = rng.normals(12, 0.1);
  W[0] = -0;
  W[1] = f32bits(0x00000001)[0]!; // denormal
  return {
    arm: "aura",
    config: { dModel: 4, dKey: 3, lr: 1e-3, gate: { kind: "action", tau: 0.5 }, tags: ["a", 1, null, true] },
    params: {
      "encoder.W": { shape: [3, 4], data: W },
      "encoder.b": { shape: [3], data: new Float32Array([0, 1, -1]) },
      "head.empty": { shape: [0, 4], data: new Float32Array(0) },
      "scale": { shape: [], data: new Float32Array([2]) },
    },
    extra: { step: 100, note: "x" },
  };
}

test("checkpoint round trip is bit-exact; path with or without extension", async () => {
  const dir = await tmp();
  try {
    const ck = sampleCheckpoint();
    const paths = await saveCheckpoint(join(dir, "ck"), ck);
    assert.deepEqual(paths, { safetensorsPath: join(dir, "ck.safetensors"), jsonPath: join(dir, "ck.json") });
    for (const p of [join(dir, "ck"), join(dir, "ck.json"), join(dir, "ck.safetensors")]) {
      const back = await loadCheckpoint(p);
      assert.equal(back.arm, ck.arm);
      assert.deepEqual(back.config, ck.config);
      assert.deepEqual(back.extra, ck.extra);
      assert.ok(!Number.isNaN(Date.parse(back.createdAt)));
      assert.deepEqual(Object.keys(back.params).sort(), Object.keys(ck.params).sort());
      for (const [k, v] of Object.entries(ck.params)) {
        assert.deepEqual(back.params[k]!.shape, v.shape, k);
        assertSameBytes(back.params[k]!.data, v.data, k);
      }
    }
    const json = JSON.parse(await readFile(join(dir, "ck.json"), "utf8"));
    assert.equal(json.format, "aura-mem-checkpoint");
    assert.equal(json.version, 1);
    assert.deepEqual(json.params["encoder.W"], [3, 4]);
    // Saving with an extension writes the same pair.
    await saveCheckpoint(join(dir, "ck2.safetensors"), ck);
    assert.deepEqual((await readdir(dir)).sort(), ["ck.json", "ck.safetensors", "ck2.json", "ck2.safetensors"]);
    assert.deepEqual(checkpointPaths("a/b.json"), { base: "a/b", safetensorsPath: "a/b.safetensors", jsonPath: "a/b.json" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("saveCheckpoint validates before writing anything", async () => {
  const dir = await tmp();
  try {
    const p = join(dir, "ck");
    const bad = (mod: (c: Checkpoint) => void) => {
      const c = sampleCheckpoint();
      mod(c);
      return saveCheckpoint(p, c);
    };
    await assert.rejects(bad((c) => (c.params["encoder.b"]!.data = new Float32Array(2))), ShapeError);
    await assert.rejects(bad((c) => (c.params["encoder.b"]!.data[1] = NaN)), (e: unknown) => e instanceof NonFiniteError && /encoder\.b.*\[1\]/.test(e.message));
    await assert.rejects(bad((c) => (c.params["encoder.b"]!.data[2] = -Infinity)), NonFiniteError);
    await assert.rejects(bad((c) => (c.arm = "")), ConfigError);
    await assert.rejects(bad((c) => (c.config["lr"] = NaN)), (e: unknown) => e instanceof ConfigError && /config\.lr/.test(e.message));
    await assert.rejects(bad((c) => (c.config["table"] = new Float32Array(2))), ConfigError);
    await assert.rejects(bad((c) => ((c.params["x"] as unknown) = { shape: [1], data: [1] })), ShapeError);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("loadCheckpoint rejects inconsistent or corrupted pairs", async () => {
  const dir = await tmp();
  try {
    const p = join(dir, "ck");
    const fresh = async () => {
      await saveCheckpoint(p, sampleCheckpoint());
      return JSON.parse(await readFile(`${p}.json`, "utf8"));
    };
    const withJson = async (mod: (j: Record<string, any>) => void, re: RegExp, Err: Function = FormatError) => {
      const j = await fresh();
      mod(j);
      await writeFile(`${p}.json`, JSON.stringify(j));
      await assert.rejects(loadCheckpoint(p), (e: unknown) => e instanceof Err && re.test((e as Error).message));
    };
    await withJson((j) => (j.format = "other"), /format/);
    await withJson((j) => (j.version = 2), /unsupported version 2/);
    await withJson((j) => delete j.arm, /arm/);
    await withJson((j) => (j.config = [1]), /config/);
    await withJson((j) => (j.params["encoder.W"] = [4, 3]), /"encoder\.W" has shape \[3, 4\].*\[4, 3\]/);
    await withJson((j) => (j.params["missing.p"] = [1]), /"missing\.p" is listed/);
    await withJson((j) => delete j.params["encoder.b"], /"encoder\.b" .*not listed/);
    await withJson((j) => (j.params["scale"] = [-1]), /shape/);
    await withJson((j) => (j.sha256 = "00"), /sha256/);
    // Without the checksum, the tensor file alone is validated.
    await withJson((j) => {
      delete j.sha256;
      j.params["encoder.b"] = [1, 3];
    }, /encoder\.b/);
    // Invalid JSON, missing files.
    await fresh();
    await writeFile(`${p}.json`, "{ not json");
    await assert.rejects(loadCheckpoint(p), FormatError);
    await assert.rejects(loadCheckpoint(join(dir, "nothing")), (e: unknown) => e instanceof FormatError && /not found/.test((e as Error).message));
    const j = await fresh();
    await rm(`${p}.safetensors`);
    await assert.rejects(loadCheckpoint(p), (e: unknown) => e instanceof FormatError && /ck\.safetensors/.test((e as Error).message));
    // A tensor file with a wrong dtype or a NaN parameter (checksum removed to get past it).
    delete j.sha256;
    await writeFile(`${p}.json`, JSON.stringify(j));
    const t = sampleCheckpoint();
    const tensors: Record<string, TensorEntry> = {};
    for (const [k, v] of Object.entries(t.params)) tensors[k] = { dtype: "F32", shape: v.shape, data: v.data };
    tensors["encoder.b"] = { dtype: "F64", shape: [3], data: new Float64Array(3) };
    await writeSafetensors(`${p}.safetensors`, tensors);
    await assert.rejects(loadCheckpoint(p), (e: unknown) => e instanceof FormatError && /"encoder\.b" has dtype F64/.test((e as Error).message));
    tensors["encoder.b"] = { dtype: "F32", shape: [3], data: new Float32Array([0, NaN, 0]) };
    await writeSafetensors(`${p}.safetensors`, tensors);
    await assert.rejects(loadCheckpoint(p), (e: unknown) => e instanceof NonFiniteError && /encoder\.b/.test((e as Error).message));
    await writeFile(`${p}.safetensors`, new Uint8Array(20));
    await assert.rejects(loadCheckpoint(p), FormatError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------------
// datasets
// ------------------------------------------------------------------------------------------------

function discreteDs(E = 5, T = 4, dModel = 3): Dataset {
  const rng = new Rng(11);
  const label = new Int32Array(E * T);
  for (let i = 0; i < label.length; i++) label[i] = rng.int(4) - 1; // -1..2
  label[0] = 2;
  const mask = new Float32Array(E * T).fill(1);
  mask[E * T - 1] = 0; // last episode is one step shorter
  return { E, T, dModel, kind: "discrete", dAction: 3, z: rng.normals(E * T * dModel), action: null, label, mask, stepType: Uint8Array.from({ length: E * T }, (_, i) => (i % T === 0 ? 1 : i % T === T - 1 ? 3 : 2)) };
}

function continuousDs(E = 4, T = 3, dModel = 2, dAction = 2): Dataset {
  const rng = new Rng(12);
  return { E, T, dModel, kind: "continuous", dAction, z: rng.normals(E * T * dModel), action: rng.normals(E * T * dAction), label: null, mask: new Float32Array(E * T).fill(1), stepType: null };
}

function assertSameDataset(a: Dataset, b: Dataset): void {
  for (const k of ["E", "T", "dModel", "kind", "dAction"] as const) assert.equal(b[k], a[k], k);
  for (const k of ["z", "action", "label", "mask", "stepType"] as const) {
    const x = a[k];
    const y = b[k];
    if (x === null) assert.equal(y, null, k);
    else {
      assert.ok(y !== null, k);
      assert.equal(y.constructor, x.constructor, k);
      assertSameBytes(x, y, k);
    }
  }
}

test("dataset save/load round trip (discrete and continuous), defaults", async () => {
  const dir = await tmp();
  try {
    for (const ds of [discreteDs(), continuousDs()]) {
      const p = join(dir, `${ds.kind}.safetensors`);
      await saveDataset(p, ds);
      const back = await loadDataset(p);
      assertSameDataset(ds, back);
      assert.equal(back.metadata?.["format"], "aura-mem-dataset");
    }
    // Minimal file: z + label, no mask (all ones), I64 labels, classes = max + 1.
    const p = join(dir, "min.safetensors");
    await writeSafetensors(p, {
      z: { dtype: "F32", shape: [2, 2, 1], data: new Float32Array([1, 2, 3, 4]) },
      label: { dtype: "I64", shape: [2, 2], data: new BigInt64Array([0n, -1n, 4n, 1n]) },
    });
    const m = await loadDataset(p);
    assert.equal(m.kind, "discrete");
    assert.equal(m.dAction, 5);
    assert.deepEqual(Array.from(m.label!), [0, -1, 4, 1]);
    assert.deepEqual(Array.from(m.mask), [1, 1, 1, 1]);
    assert.equal(m.stepType, null);
    // num_classes metadata wins over max + 1; U8 mask converts.
    const q = join(dir, "nc.safetensors");
    await writeSafetensors(
      q,
      {
        z: { dtype: "F32", shape: [1, 2, 1], data: new Float32Array([1, 2]) },
        label: { dtype: "I32", shape: [1, 2], data: new Int32Array([-1, -1]) },
        mask: { dtype: "U8", shape: [1, 2], data: new Uint8Array([1, 0]) },
      },
      { num_classes: "7" },
    );
    const n = await loadDataset(q);
    assert.equal(n.dAction, 7);
    assert.deepEqual(Array.from(n.mask), [1, 0]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("dataset validation errors name the tensor and index", () => {
  const z = (E: number, T: number, D: number, fill = 0) => ({ dtype: "F32" as const, shape: [E, T, D], data: new Float32Array(E * T * D).fill(fill) });
  const lab = (E: number, T: number, vals?: number[]) => ({ dtype: "I32" as const, shape: [E, T], data: vals ? Int32Array.from(vals) : new Int32Array(E * T) });
  const bad = (t: Record<string, TensorEntry>, re: RegExp, Err: Function = FormatError, meta: Record<string, string> = {}) =>
    assert.throws(() => datasetFromTensors(t, meta), (e: unknown) => e instanceof Err && re.test((e as Error).message), re.source);
  bad({}, /missing required tensor "z"/);
  bad({ label: lab(1, 1) }, /"z"/);
  bad({ z: { dtype: "F64", shape: [1, 1, 1], data: new Float64Array(1) }, label: lab(1, 1) }, /"z" must be F32/);
  bad({ z: { dtype: "F32", shape: [2, 2], data: new Float32Array(4) }, label: lab(2, 2) }, /"z" must have rank 3/);
  bad({ z: z(0, 2, 2), label: lab(0, 2) }, /empty dimension/);
  bad({ z: z(2, 2, 1) }, /needs a target tensor/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), action: z(2, 2, 1) }, /both "action" and "label"/);
  bad({ z: z(2, 2, 1), label: lab(2, 3) }, /"label" has shape \[2, 3\]/);
  bad({ z: z(2, 2, 1), label: { dtype: "F32", shape: [2, 2], data: new Float32Array(4) } }, /"label" must be I32 or I64/);
  bad({ z: z(2, 2, 1), action: z(2, 3, 1) }, /"action" has shape/);
  bad({ z: z(2, 2, 1), action: z(2, 2, 0) }, /dAction = 0/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), mask: { dtype: "F32", shape: [2, 1], data: new Float32Array(2) } }, /"mask" has shape/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), mask: { dtype: "I32", shape: [2, 2], data: new Int32Array(4) } }, /"mask" must be F32 or U8/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), step_type: { dtype: "I32", shape: [2, 2], data: new Int32Array(4) } }, /"step_type" must be U8/);
  // values
  const nanZ = z(2, 2, 3);
  (nanZ.data as Float32Array)[3 * 3 + 2] = NaN; // e=1, t=1, d=2
  bad({ z: nanZ, label: lab(2, 2) }, /z\[1, 1, 2\] is NaN/, NonFiniteError);
  const infA = z(2, 2, 2);
  (infA.data as Float32Array)[5] = Infinity; // e=1, t=0, d=1
  bad({ z: z(2, 2, 1), action: infA }, /action\[1, 0, 1\] is Infinity/, NonFiniteError);
  bad({ z: z(2, 2, 1), label: lab(2, 2, [0, 1, -2, 0]) }, /label\[1, 0\] is -2/);
  bad({ z: z(2, 2, 1), label: lab(2, 2, [0, 1, 5, 0]) }, /label\[1, 0\] is 5.*\[0, 3\)/, FormatError, { num_classes: "3" });
  bad({ z: z(2, 2, 1), label: lab(2, 2, [-1, -1, -1, -1]) }, /num_classes/);
  bad({ z: z(2, 2, 1), label: lab(2, 2) }, /num_classes/, FormatError, { num_classes: "2.5" });
  bad({ z: z(2, 2, 1), label: { dtype: "I64", shape: [2, 2], data: new BigInt64Array([0n, 2n ** 40n, 0n, 0n]) } }, /label\[1\]/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), mask: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 0.5, 1, 1]) } }, /mask\[0, 1\] is 0.5/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), mask: { dtype: "U8", shape: [2, 2], data: new Uint8Array([1, 1, 2, 1]) } }, /mask\[1, 0\] is 2/);
  bad({ z: z(2, 2, 1), label: lab(2, 2), step_type: { dtype: "U8", shape: [2, 2], data: new Uint8Array([0, 4, 5, 1]) } }, /step_type\[1, 0\] is 5/);

  // In-memory validation: ShapeError / ConfigError for structure.
  const ds = discreteDs();
  validateDataset(ds);
  assert.throws(() => validateDataset({ ...ds, z: new Float32Array(3) }), ShapeError);
  assert.throws(() => validateDataset({ ...ds, E: 0 }), ConfigError);
  assert.throws(() => validateDataset({ ...ds, kind: "other" as "discrete" }), ConfigError);
  assert.throws(() => validateDataset({ ...ds, action: new Float32Array(ds.E * ds.T * 3) }), ShapeError);
  assert.throws(() => validateDataset({ ...ds, mask: new Float64Array(ds.E * ds.T) as unknown as Float32Array }), ShapeError);
  assert.throws(() => validateDataset({ ...continuousDs(), label: new Int32Array(12) }), ShapeError);
});

test("loadDataset: missing file and malformed safetensors -> FormatError", async () => {
  const dir = await tmp();
  try {
    await assert.rejects(loadDataset(join(dir, "none.safetensors")), (e: unknown) => e instanceof FormatError && /not found/.test((e as Error).message));
    await writeFile(join(dir, "bad.safetensors"), new Uint8Array([1, 2, 3]));
    await assert.rejects(loadDataset(join(dir, "bad.safetensors")), FormatError);
    await writeSafetensors(join(dir, "noz.safetensors"), { x: { dtype: "U8", shape: [1], data: new Uint8Array(1) } });
    await assert.rejects(loadDataset(join(dir, "noz.safetensors")), (e: unknown) => e instanceof FormatError && /noz\.safetensors.*"z"/.test((e as Error).message));
    await assert.rejects(saveDataset(join(dir, "x.safetensors"), { ...discreteDs(), dAction: 2 }), FormatError); // label 2 out of range
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("splitDataset: by episode, seeded, disjoint, complete", () => {
  const ds = discreteDs(10, 4, 3);
  const a = splitDataset(ds, { valFraction: 0.3, seed: 1 });
  const b = splitDataset(ds, { valFraction: 0.3, seed: 1 });
  const c = splitDataset(ds, { valFraction: 0.3, seed: 2 });
  assert.deepEqual(a.valEpisodes, b.valEpisodes);
  assert.equal(a.valEpisodes.length, 3);
  assert.equal(a.val.E, 3);
  assert.equal(a.train.E, 7);
  assert.deepEqual([...a.trainEpisodes, ...a.valEpisodes].sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => i));
  assert.ok(a.valEpisodes.every((e) => !a.trainEpisodes.includes(e)));
  assert.notDeepEqual(a.valEpisodes, c.valEpisodes, "a different seed gives a different split (for this seed pair)");
  // Episodes are copied intact.
  const { T, dModel } = ds;
  a.valEpisodes.forEach((e, j) => {
    assertSameBytes(a.val.z.subarray(j * T * dModel, (j + 1) * T * dModel), ds.z.subarray(e * T * dModel, (e + 1) * T * dModel), `z episode ${e}`);
    assertSameBytes(a.val.label!.subarray(j * T, (j + 1) * T), ds.label!.subarray(e * T, (e + 1) * T), `label episode ${e}`);
    assertSameBytes(a.val.mask.subarray(j * T, (j + 1) * T), ds.mask.subarray(e * T, (e + 1) * T), `mask episode ${e}`);
  });
  validateDataset(a.train);
  validateDataset(a.val);
  assert.equal(a.val.dAction, ds.dAction);
  // Extremes: at least one episode on each side; bad options.
  assert.equal(splitDataset(ds, { valFraction: 0.01, seed: 0 }).val.E, 1);
  assert.equal(splitDataset(ds, { valFraction: 0.99, seed: 0 }).train.E, 1);
  assert.throws(() => splitDataset(ds, { valFraction: 0, seed: 0 }), ConfigError);
  assert.throws(() => splitDataset(ds, { valFraction: 1, seed: 0 }), ConfigError);
  assert.throws(() => splitDataset(continuousDs(1), { valFraction: 0.5, seed: 0 }), ConfigError);
  const cs = splitDataset(continuousDs(6), { valFraction: 0.5, seed: 3 });
  assert.equal(cs.val.E + cs.train.E, 6);
  assert.equal(cs.val.label, null);
  validateDataset(cs.val);
});
