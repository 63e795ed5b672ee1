/**
 * `MemoryStore`: crash-safe, flash-friendly persistence of an {@link AuraMemLayer}'s memory state.
 *
 * A robot runs one long episode; its memory must survive a power cut, but flash wears out with every
 * write. The store therefore writes the state **only when the gate writes** (g = 1 for any stream at
 * that step; between writes M and m do not change) and on an explicit {@link MemoryStore.flush} /
 * {@link MemoryStore.close}, so the bytes sent to flash track the gate.
 *
 * ```ts
 * const { store, state, report } = MemoryStore.open("/data/aura/memory", layer);
 * if (report.fresh) console.warn(report.message);   // no valid record: started from initState()
 * for (;;) {
 *   const { action } = store.step(backbone(observation()));   // persists iff the gate wrote
 *   act(action);
 * }
 * store.close();                                               // flushes the last steps
 * ```
 *
 * **Files.** Two slot files, `<path>.a` and `<path>.b` (A/B double buffering). Each holds at most one
 * record, written in place at offset 0. A write goes to the slot that does *not* hold the newest valid
 * record, is followed by `fsync` (`fdatasync` when the file does not grow, which skips the mtime-only
 * inode update), and only when that returns does the record count as the newest. A crash at any moment
 * therefore leaves the previous newest record intact, and the new one either complete or detectably torn.
 * The directory is fsynced once when a slot file is created. One writer per store: open takes an
 * exclusive lock (`<path>.lock`, proper-lockfile), so a second writer gets a clear error instead of
 * interleaving records. Every file operation goes through one {@link StoreFs} (node:fs by default; a
 * simulated power-cutting disk in the tests and `aura bench-crash --mode power`).
 *
 * **Record** (little-endian; byte layout in docs/edge.md): a 64-byte header (magic `AURAMEM\0`, format
 * version 2, kind, dAction, sequence number, step counter t, B and dims, payload length, parameter
 * fingerprint, dModel),
 * the payload (the state's fp32 tensors), and a CRC-32 over header + payload. 4,292 bytes for the
 * fast-weight state at dKey = dVal = 32, B = 1 (4,224 B of state + 68 B of framing).
 *
 * **Recovery rule.** On open both slots are read and validated (magic, version, header fields, length
 * against the file size and `maxRecordBytes`, CRC). The valid record with the highest sequence number
 * wins. Torn or corrupt records are skipped and reported in the {@link OpenReport}, never loaded, never
 * thrown. If no record is valid the store starts from `layer.initState(batch)` and says so
 * (`report.fresh`), unless `requireExisting` is set. A *valid* record of another configuration (kind, B
 * or dims differ: {@link ShapeError}), of another dModel / dAction or written by other parameters
 * ({@link FormatError}, unless `allowParamMismatch` for the parameters), or a record of a newer format
 * version ({@link FormatError}) is an error, and nothing is written.
 *
 * **State kinds.** Every {@link MemoryState} kind is stored: `fast-weights` (aura, always-write, random,
 * periodic, recon-gate; constant size), `rnn` (gru, lstm: h and c), `kv` (kv-cache, kv-window: the live
 * keys and values, so the record grows with t for kv-cache — dense arms report g = 1 every step, so the
 * store rewrites the whole cache every step; this is the wear baseline of docs/edge.md) and `none`.
 */
import { dirname, resolve } from "node:path";
import type { AuraMemLayer, LayerStepOutput } from "../layer.js";
import type { MemoryState } from "../model/model.js";
import { cloneKvCache, emptyKvCache, checkKvCache } from "../ops/attention/index.js";
import { AuraError, ConfigError, FormatError, PersistenceError, ShapeError, checkInt, type PersistenceFault } from "../errors.js";
import { crc32 } from "./crc32.js";
import { nodeStoreFs, type StoreFs } from "./io.js";

// ------------------------------------------------------------------------------------------------
// Format constants
// ------------------------------------------------------------------------------------------------

/** First 8 bytes of every record: ASCII "AURAMEM" + NUL. */
export const RECORD_MAGIC = new Uint8Array([0x41, 0x55, 0x52, 0x41, 0x4d, 0x45, 0x4d, 0x00]);
/**
 * Record format version written. Version 2 adds the writing layer's dModel and dAction to the header
 * (bytes 14 and 60, reserved zeros in version 1); versions 1 and 2 are read, a newer one is refused.
 */
export const RECORD_VERSION = 2;
/** Oldest record format version read. */
export const RECORD_MIN_VERSION = 1;
/** Header size in bytes. */
export const RECORD_HEADER_BYTES = 64;
/** Trailer size in bytes (the CRC-32). */
export const RECORD_TRAILER_BYTES = 4;
/** Default bound on a record's size when reading (1 GiB): a length field above it is treated as corrupt. */
export const DEFAULT_MAX_RECORD_BYTES = 2 ** 30;

/** Kind codes of the header's `kind` byte. */
export const KIND_CODES = { "fast-weights": 1, rnn: 2, kv: 3, none: 4 } as const;
type KindName = keyof typeof KIND_CODES;
const KIND_NAMES: Record<number, KindName> = { 1: "fast-weights", 2: "rnn", 3: "kv", 4: "none" };
/** Header flag: the rnn state carries a cell state c (lstm). */
const FLAG_RNN_C = 1;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The two slot files of a store at `path`: `<path>.a` and `<path>.b`. */
export function slotPaths(path: string): [string, string] {
  return [`${path}.a`, `${path}.b`];
}

/** Bytes of one record with a payload of `payloadBytes`: 64 + payload + 4. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes + RECORD_TRAILER_BYTES;
}

// ------------------------------------------------------------------------------------------------
// Header
// ------------------------------------------------------------------------------------------------

/** Decoded record header (field meanings in docs/edge.md). */
export interface RecordHeader {
  version: number;
  kind: KindName;
  flags: number;
  /** Sequence number: 1 for the first record of a store, +1 per write. */
  seq: number;
  /** The state's step counter `state.t`. */
  t: number;
  B: number;
  /** fast-weights / kv: dKey; rnn: H; none: 0. */
  d1: number;
  /** fast-weights / kv: dVal; else 0. */
  d2: number;
  /** kv: live entries L per stream; else 0. */
  n: number;
  payloadBytes: number;
  /** CRC-32 fingerprint of the writing layer's arm and parameters ({@link paramsFingerprint}). */
  paramsCrc: number;
  /** The writing layer's dModel (0: not recorded, a version-1 record). */
  dModel: number;
  /** The writing layer's dAction (0: not recorded, a version-1 record). */
  dAction: number;
}

/** Payload bytes implied by the header's kind, flags and dims, or -1 if out of range. */
function expectedPayload(h: Pick<RecordHeader, "kind" | "flags" | "B" | "d1" | "d2" | "n">): number {
  const { B, d1, d2, n } = h;
  let floats: number;
  switch (h.kind) {
    case "fast-weights":
      floats = B * (d1 * d2 + d2);
      break;
    case "rnn":
      floats = B * d1 * ((h.flags & FLAG_RNN_C) !== 0 ? 2 : 1);
      break;
    case "kv":
      floats = B * n * (d1 + d2);
      break;
    case "none":
      floats = 0;
      break;
  }
  const bytes = floats * 4;
  return Number.isSafeInteger(bytes) ? bytes : -1;
}

function writeHeader(dv: DataView, h: RecordHeader): void {
  for (let i = 0; i < 8; i++) dv.setUint8(i, RECORD_MAGIC[i]!);
  dv.setUint16(8, h.version, true);
  dv.setUint16(10, RECORD_HEADER_BYTES, true);
  dv.setUint8(12, KIND_CODES[h.kind]);
  dv.setUint8(13, h.flags);
  dv.setUint16(14, h.dAction, true);
  dv.setBigUint64(16, BigInt(h.seq), true);
  dv.setBigUint64(24, BigInt(h.t), true);
  dv.setUint32(32, h.B, true);
  dv.setUint32(36, h.d1, true);
  dv.setUint32(40, h.d2, true);
  dv.setUint32(44, h.n, true);
  dv.setBigUint64(48, BigInt(h.payloadBytes), true);
  dv.setUint32(56, h.paramsCrc >>> 0, true);
  dv.setUint32(60, h.dModel, true);
}

/**
 * Parse and sanity-check a header; returns the header or the reason it is invalid. A record of a newer
 * format version has status "newer": the store refuses it (it may be intact, written by a newer build)
 * rather than skipping it as corrupt and overwriting it.
 */
function parseHeader(b: Uint8Array): RecordHeader | { reason: string; status: "corrupt" | "newer" } {
  const bad = (reason: string) => ({ reason, status: "corrupt" as const });
  for (let i = 0; i < 8; i++) if (b[i] !== RECORD_MAGIC[i]) return bad("bad magic");
  const dv = new DataView(b.buffer, b.byteOffset, RECORD_HEADER_BYTES);
  const version = dv.getUint16(8, true);
  if (version > RECORD_VERSION) {
    return { status: "newer", reason: `record format version ${version}, newer than this build reads (${RECORD_MIN_VERSION}-${RECORD_VERSION})` };
  }
  if (version < RECORD_MIN_VERSION) return bad(`unsupported format version ${version} (this build reads ${RECORD_MIN_VERSION}-${RECORD_VERSION})`);
  const hb = dv.getUint16(10, true);
  if (hb !== RECORD_HEADER_BYTES) return bad(`header size ${hb}, expected ${RECORD_HEADER_BYTES}`);
  const kind = KIND_NAMES[dv.getUint8(12)];
  if (!kind) return bad(`unknown state kind code ${dv.getUint8(12)}`);
  const flags = dv.getUint8(13);
  if (flags & ~(kind === "rnn" ? FLAG_RNN_C : 0)) return bad(`unknown flags 0x${flags.toString(16)} for kind ${kind}`);
  if (version === 1 && (dv.getUint16(14, true) !== 0 || dv.getUint32(60, true) !== 0)) return bad("reserved header bytes are not zero");
  const u64 = (off: number): number => {
    const v = dv.getBigUint64(off, true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : -1;
  };
  const seq = u64(16);
  const t = u64(24);
  const payloadBytes = u64(48);
  if (seq < 1) return bad("sequence number is 0 or above 2^53 - 1");
  if (t < 0) return bad("step counter above 2^53 - 1");
  if (payloadBytes < 0) return bad("payload length above 2^53 - 1");
  const h: RecordHeader = {
    version,
    kind,
    flags,
    seq,
    t,
    B: dv.getUint32(32, true),
    d1: dv.getUint32(36, true),
    d2: dv.getUint32(40, true),
    n: dv.getUint32(44, true),
    payloadBytes,
    paramsCrc: dv.getUint32(56, true),
    dAction: version >= 2 ? dv.getUint16(14, true) : 0,
    dModel: version >= 2 ? dv.getUint32(60, true) : 0,
  };
  if (h.B < 1) return bad("batch B is 0");
  const want = expectedPayload(h);
  if (want !== payloadBytes) return bad(`payload length ${payloadBytes} does not match kind ${kind} with B=${h.B}, dims ${h.d1}x${h.d2}, n=${h.n}`);
  return h;
}

// ------------------------------------------------------------------------------------------------
// Payload encoding (raw fp32 bytes, little-endian; bit-exact)
// ------------------------------------------------------------------------------------------------

function swap4(b: Uint8Array): void {
  for (let i = 0; i + 4 <= b.length; i += 4) {
    let t = b[i]!;
    b[i] = b[i + 3]!;
    b[i + 3] = t;
    t = b[i + 1]!;
    b[i + 1] = b[i + 2]!;
    b[i + 2] = t;
  }
}

function putF32(out: Uint8Array, off: number, a: Float32Array): number {
  out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
  if (!LITTLE_ENDIAN) swap4(out.subarray(off, off + a.byteLength));
  return off + a.byteLength;
}

function getF32(b: Uint8Array, off: number, n: number): Float32Array {
  const copy = b.slice(off, off + n * 4); // own, aligned buffer
  if (!LITTLE_ENDIAN) swap4(copy);
  return new Float32Array(copy.buffer, 0, n);
}

/** Header fields (minus seq / t / crc) describing a state. */
function describeState(s: MemoryState): Pick<RecordHeader, "kind" | "flags" | "B" | "d1" | "d2" | "n"> {
  switch (s.kind) {
    case "fast-weights": {
      const d2 = s.m.length / s.B;
      return { kind: s.kind, flags: 0, B: s.B, d1: s.M.length / s.B / d2, d2, n: 0 };
    }
    case "rnn":
      return { kind: s.kind, flags: s.c ? FLAG_RNN_C : 0, B: s.B, d1: s.h.length / s.B, d2: 0, n: 0 };
    case "kv":
      return { kind: s.kind, flags: 0, B: s.B, d1: s.cache.dK, d2: s.cache.dV, n: s.cache.length };
    case "none":
      return { kind: s.kind, flags: 0, B: s.B, d1: 0, d2: 0, n: 0 };
  }
}

/**
 * Serialise a state into one record (header + payload + CRC-32), format {@link RECORD_VERSION}.
 * @param state a state already validated against its layer ({@link checkStateFor}).
 * @param seq sequence number (integer >= 1).
 * @param paramsCrc the writing layer's {@link paramsFingerprint}.
 * @param dims the writing layer's dModel (< 2^32) and dAction (< 2^16); 0 = not recorded.
 * @returns the record bytes, 68 + payload bytes long.
 * @throws ConfigError on a seq, t or dims out of range.
 */
export function encodeRecord(state: MemoryState, seq: number, paramsCrc: number, dims: { dModel: number; dAction: number } = { dModel: 0, dAction: 0 }): Uint8Array {
  checkInt("seq", seq, 1);
  checkInt("state.t", state.t, 0);
  checkInt("dModel", dims.dModel, 0, 0xffffffff);
  checkInt("dAction", dims.dAction, 0, 0xffff);
  const d = describeState(state);
  const payloadBytes = expectedPayload(d);
  const out = new Uint8Array(recordBytes(payloadBytes));
  const dv = new DataView(out.buffer);
  writeHeader(dv, { version: RECORD_VERSION, ...d, seq, t: state.t, payloadBytes, paramsCrc, dModel: dims.dModel, dAction: dims.dAction });
  let off = RECORD_HEADER_BYTES;
  switch (state.kind) {
    case "fast-weights":
      off = putF32(out, off, state.M);
      off = putF32(out, off, state.m);
      break;
    case "rnn":
      off = putF32(out, off, state.h);
      if (state.c) off = putF32(out, off, state.c);
      break;
    case "kv": {
      const { B, dK, dV, length: L, capacity: cap, keys, values } = state.cache;
      for (let b = 0; b < B; b++) off = putF32(out, off, keys.subarray(b * cap * dK, (b * cap + L) * dK));
      for (let b = 0; b < B; b++) off = putF32(out, off, values.subarray(b * cap * dV, (b * cap + L) * dV));
      break;
    }
    case "none":
      break;
  }
  dv.setUint32(off, crc32(out.subarray(0, off)), true);
  return out;
}

/** Rebuild the state of a CRC-valid record. */
function decodeState(h: RecordHeader, rec: Uint8Array): MemoryState {
  const off = RECORD_HEADER_BYTES;
  const { B, d1, d2, n, t } = h;
  switch (h.kind) {
    case "fast-weights":
      return { kind: "fast-weights", B, t, M: getF32(rec, off, B * d1 * d2), m: getF32(rec, off + B * d1 * d2 * 4, B * d2) };
    case "rnn": {
      const hh = getF32(rec, off, B * d1);
      return (h.flags & FLAG_RNN_C) !== 0 ? { kind: "rnn", B, t, h: hh, c: getF32(rec, off + B * d1 * 4, B * d1) } : { kind: "rnn", B, t, h: hh };
    }
    case "kv": {
      const c = emptyKvCache(B, d1, d2, n);
      c.keys.set(getF32(rec, off, B * n * d1));
      c.values.set(getF32(rec, off + B * n * d1 * 4, B * n * d2));
      return { kind: "kv", B, t, cache: cloneKvCache({ ...c, length: n }) };
    }
    case "none":
      return { kind: "none", B, t };
  }
}

// ------------------------------------------------------------------------------------------------
// Layer compatibility
// ------------------------------------------------------------------------------------------------

/**
 * CRC-32 fingerprint of a layer's arm name and parameters (names in sorted order, then the raw fp32
 * bytes). Stored in every record, so that memory written under other weights is not silently loaded.
 * Computed when the store opens: parameters updated afterwards are not re-fingerprinted.
 */
export function paramsFingerprint(layer: AuraMemLayer): number {
  const enc = new TextEncoder();
  let c = crc32(enc.encode(layer.arm));
  const params = layer.model.params;
  for (const k of Object.keys(params).sort()) {
    c = crc32(enc.encode(k), c);
    const d = params[k]!.data;
    if (LITTLE_ENDIAN) c = crc32(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), c);
    else {
      const b = new Uint8Array(d.byteLength);
      putF32(b, 0, d);
      c = crc32(b, c);
    }
  }
  return c >>> 0;
}

/** What a layer's state looks like, for validating records and states against it. */
export interface LayerShape {
  kind: KindName;
  arm: string;
  B: number;
  d1: number;
  d2: number;
  flags: number;
  /** kv-window: most entries a state can hold; 0 = unbounded. */
  window: number;
}

function layerShape(layer: AuraMemLayer, B: number): LayerShape {
  const s = layer.initState(B);
  const d = describeState(s);
  const window = layer.arm === "kv-window" ? layer.model.spec.window : 0;
  return { kind: d.kind, arm: layer.arm, B, d1: d.d1, d2: d.d2, flags: d.flags, window };
}

function shapeText(x: { kind: string; B: number; d1: number; d2: number; flags: number }): string {
  switch (x.kind) {
    case "fast-weights":
    case "kv":
      return `${x.kind} B=${x.B} dKey=${x.d1} dVal=${x.d2}`;
    case "rnn":
      return `rnn B=${x.B} H=${x.d1}${x.flags & FLAG_RNN_C ? " (with c)" : ""}`;
    default:
      return `${x.kind} B=${x.B}`;
  }
}

/** ShapeError unless a (CRC-valid) record header fits the layer. */
function checkHeaderFor(h: RecordHeader, want: LayerShape, where: string): void {
  if (h.kind !== want.kind || h.B !== want.B || h.d1 !== want.d1 || h.d2 !== want.d2 || h.flags !== want.flags) {
    throw new ShapeError(`${where} holds ${shapeText(h)} memory, but the ${want.arm} layer needs ${shapeText(want)}; refusing to load or overwrite it`);
  }
  if (want.window > 0 && h.n > want.window) {
    throw new ShapeError(`${where} holds ${h.n} kv entries, more than the kv-window W = ${want.window} of the layer`);
  }
}

/**
 * Throw a ShapeError unless `state` is a well-formed state of `layer` for `B` streams (kind, B, tensor
 * lengths, t a non-negative integer). `want` is the layer's shape when the caller already has it (an
 * open store keeps it, so that persist() builds no state per tick).
 */
export function checkStateFor(state: MemoryState, layer: AuraMemLayer, B: number, want: LayerShape = layerShape(layer, B)): void {
  if (!state || typeof state !== "object") throw new ShapeError("state must be a MemoryState from initState() or step()");
  if (state.kind !== want.kind) throw new ShapeError(`state kind ${String(state.kind)} does not match the ${want.arm} layer (${want.kind})`);
  if (state.B !== B) throw new ShapeError(`state is for batch ${state.B}, the store holds batch ${B}`);
  // shapes, t and cache invariants: the model's one validator
  layer.model.checkState(state, B, false);
  if (state.kind === "kv" && want.window > 0 && state.cache.length > want.window) throw new ShapeError(`kv cache holds ${state.cache.length} entries > window ${want.window}`);
}

// ------------------------------------------------------------------------------------------------
// Reading slots
// ------------------------------------------------------------------------------------------------

/** Outcome of reading one slot file. */
export type SlotStatus =
  /** a complete record with a matching CRC */
  | "valid"
  /** no file */
  | "missing"
  /** a 0-byte file (created, never written) */
  | "empty"
  /** shorter than its header says, or CRC mismatch: what an interrupted write leaves */
  | "torn"
  /** bad magic / version / header fields / lengths, or not a regular file */
  | "corrupt"
  /** a record of a newer format version than this build reads: refused by open / read, never overwritten */
  | "newer";

/** What was found in one slot. */
export interface SlotReport {
  slot: "a" | "b";
  path: string;
  status: SlotStatus;
  /** Why the slot is not valid (absent when valid). */
  reason?: string;
  /** Size of the slot file in bytes (0 when missing). */
  fileBytes: number;
  /** Header of the record: set when valid (and when torn with a readable header). */
  header?: RecordHeader;
}

interface SlotRead extends SlotReport {
  state?: MemoryState;
}

/**
 * Read and validate the record in one slot file. Never throws for file contents (problems come back as
 * `status` + `reason`); reads at most `min(fileSize, maxRecordBytes)` bytes.
 */
function readSlot(fs: StoreFs, path: string, slot: "a" | "b", maxRecordBytes: number): SlotRead {
  let fd: number;
  try {
    fd = fs.open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { slot, path, status: "missing", reason: "no such file", fileBytes: 0 };
    return { slot, path, status: "corrupt", reason: `cannot open: ${code ?? (e as Error).message}`, fileBytes: 0 };
  }
  try {
    const st = fs.stat(fd);
    if (!st.isFile) return { slot, path, status: "corrupt", reason: "not a regular file", fileBytes: 0 };
    const size = st.size;
    if (size === 0) return { slot, path, status: "empty", reason: "0-byte file", fileBytes: 0 };
    if (size < RECORD_HEADER_BYTES) {
      const head = readExactly(fs, fd, size, 0);
      const magicOk = head.every((v, i) => i >= 8 || v === RECORD_MAGIC[i]);
      return { slot, path, status: magicOk ? "torn" : "corrupt", reason: `${size} bytes, shorter than the ${RECORD_HEADER_BYTES}-byte header`, fileBytes: size };
    }
    const head = readExactly(fs, fd, RECORD_HEADER_BYTES, 0);
    const h = parseHeader(head);
    if ("reason" in h) {
      if (h.status === "newer" && !intactUnderFraming(fs, fd, head, size, maxRecordBytes)) {
        // a version field that only looks newer (a flipped bit): corrupt, like any other bad field
        return { slot, path, status: "corrupt", reason: `${h.reason}, but no intact record under that header (CRC)`, fileBytes: size };
      }
      return { slot, path, status: h.status, reason: h.reason, fileBytes: size };
    }
    const total = recordBytes(h.payloadBytes);
    if (total > maxRecordBytes) {
      return { slot, path, status: "corrupt", reason: `record of ${total} bytes exceeds maxRecordBytes ${maxRecordBytes}`, fileBytes: size, header: h };
    }
    if (total > size) return { slot, path, status: "torn", reason: `record needs ${total} bytes, file has ${size}`, fileBytes: size, header: h };
    const rec = new Uint8Array(total);
    rec.set(head, 0);
    rec.set(readExactly(fs, fd, total - RECORD_HEADER_BYTES, RECORD_HEADER_BYTES), RECORD_HEADER_BYTES);
    const stored = new DataView(rec.buffer).getUint32(total - RECORD_TRAILER_BYTES, true);
    const actual = crc32(rec.subarray(0, total - RECORD_TRAILER_BYTES));
    if (stored !== actual) {
      return { slot, path, status: "torn", reason: `CRC mismatch (stored 0x${hex(stored)}, computed 0x${hex(actual)})`, fileBytes: size, header: h };
    }
    return { slot, path, status: "valid", fileBytes: size, header: h, state: decodeState(h, rec) };
  } catch (e) {
    return { slot, path, status: "corrupt", reason: `read error: ${(e as Error).message}`, fileBytes: 0 };
  } finally {
    fs.close(fd);
  }
}

/**
 * Whether a record of a newer format version is intact under the framing every version keeps (header
 * size at byte 10, payload length at byte 48, CRC-32 of header + payload after them): only then is it
 * refused as a newer record rather than skipped as corrupt.
 */
function intactUnderFraming(fs: StoreFs, fd: number, head: Uint8Array, size: number, maxRecordBytes: number): boolean {
  const dv = new DataView(head.buffer, head.byteOffset, RECORD_HEADER_BYTES);
  const hb = dv.getUint16(10, true);
  const payload = dv.getBigUint64(48, true);
  const total = BigInt(hb) + payload + BigInt(RECORD_TRAILER_BYTES);
  if (hb < RECORD_HEADER_BYTES || total > BigInt(Math.min(size, maxRecordBytes))) return false;
  const n = Number(total);
  const rec = readExactly(fs, fd, n, 0);
  return new DataView(rec.buffer).getUint32(n - RECORD_TRAILER_BYTES, true) === crc32(rec.subarray(0, n - RECORD_TRAILER_BYTES));
}

function readExactly(fs: StoreFs, fd: number, n: number, position: number): Uint8Array {
  const b = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = fs.read(fd, b, got, n - got, position + got);
    if (r === 0) throw new Error(`unexpected end of file at byte ${position + got}`);
    got += r;
  }
  return b;
}

function hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

// ------------------------------------------------------------------------------------------------
// The store
// ------------------------------------------------------------------------------------------------

/** Options of {@link MemoryStore.open} / {@link MemoryStore.read}. */
export interface MemoryStoreOptions {
  /** Streams B of the state (default 1). A valid record for another B is a ShapeError. */
  batch?: number;
  /**
   * When {@link MemoryStore.step} persists: "gate" (default) = iff g = 1 for any stream at that step;
   * "every-step" = after every step (the always-write baseline for wear measurements).
   */
  policy?: "gate" | "every-step";
  /** Throw a FormatError instead of starting fresh when no slot holds a valid record. Default false. */
  requireExisting?: boolean;
  /** Load a record written by a layer with other parameters (fingerprint mismatch). Default false: FormatError. */
  allowParamMismatch?: boolean;
  /** Largest record accepted when reading, in bytes (default 1 GiB); larger length fields count as corrupt. */
  maxRecordBytes?: number;
  /**
   * Crash testing only: write each record as consecutive `sectorBytes`-sized `write` + `fsync` pairs,
   * emulating a device that programs one sector at a time, so that a kill can land inside a record and
   * leave it torn. 0 (default) = one `write` and one sync per record.
   */
  sectorBytes?: number;
  /**
   * Called after each record is durable (its sync returned), with the record's sequence number and t.
   * The crash harness reports completed writes to its parent from here.
   */
  onDurable?: (info: { seq: number; t: number; slot: "a" | "b"; bytes: number }) => void;
  /**
   * Called when persisting fails (a write or sync threw: ENOSPC, EIO, EROFS, ...). The store keeps
   * stepping in RAM and retries at the next write; see {@link MemoryStore.health}.
   */
  onPersistError?: (err: PersistenceError) => void;
  /** The file operations (default node:fs, {@link nodeStoreFs}); tests pass a simulated disk. */
  fs?: StoreFs;
  /**
   * Take the exclusive writer lock on open (default true): a second writer on the same path gets a
   * PersistenceError with code "ELOCKED". MemoryStore.read never locks.
   */
  lock?: boolean;
  /** A lock not refreshed for this long (ms, >= 2000; default 10,000) is taken over: how a dead writer's lock is freed. */
  lockStaleMs?: number;
}

/** What {@link MemoryStore.open} / {@link MemoryStore.read} found. */
export interface OpenReport {
  /** The store's base path (slot files are `<path>.a`, `<path>.b`). */
  path: string;
  /** Both slots, a then b. */
  slots: [SlotReport, SlotReport];
  /** The slot the state was loaded from, or null when starting fresh. */
  loaded: "a" | "b" | null;
  /** True when no valid record was found and the state is `layer.initState(batch)`. */
  fresh: boolean;
  /** Sequence number of the loaded record (0 when fresh). */
  seq: number;
  /** Step counter of the loaded state (0 when fresh). */
  t: number;
  /** Slots that held bytes but no valid record (status torn or corrupt): 0, 1 or 2. */
  invalidSlots: number;
  /** Slots with status "torn" (an interrupted write). */
  tornSlots: number;
  /** One line for logs. */
  message: string;
}

/** Write accounting of an open store (all counts since open). */
export interface StoreStats {
  /** Calls of step(). */
  steps: number;
  /** Records written because the gate fired (or every step under policy "every-step"). */
  gateWrites: number;
  /** Records written by flush(), close() or persist(state) without g. */
  forcedWrites: number;
  /** All records written (gateWrites + forcedWrites). */
  writes: number;
  /** Record bytes handed to write(), in bytes (68 B of framing per record included). */
  bytesWritten: number;
  /** fsync / fdatasync calls, the directory's included. */
  fsyncs: number;
  /** Writes that failed (a write or sync threw); the newest durable record is unchanged by them. */
  failedWrites: number;
  /** Sequence number of the newest durable record (0: none yet). */
  seq: number;
}

/** Whether the store is keeping up: {@link MemoryStore.health}. */
export interface StoreHealth {
  /** True while the newest record attempt succeeded (or none failed since open). */
  ok: boolean;
  /** Failed record attempts in a row (0 when ok). */
  consecutiveFailures: number;
  /** The last failure (kept after recovery, for logs), or null. */
  lastError: PersistenceError | null;
  /** Step count (`stats.steps`) at the first failure of the current run of failures, or null when ok. */
  failingSinceStep: number | null;
  /** The writer lock was found compromised after open (its refresh was late by more than lockStaleMs). */
  lockCompromised: boolean;
}

/** Output of {@link MemoryStore.step}: the layer's step output plus whether a record was written. */
export interface StoreStepOutput extends LayerStepOutput {
  /** True when this step's state was written and synced before step() returned. */
  persisted: boolean;
  /** Set when this step tried to persist and failed (the step itself succeeded; the state is in RAM). */
  persistError?: PersistenceError;
}

interface Recovered {
  state: MemoryState;
  report: OpenReport;
  /** Index of the newest valid slot (or -1). */
  newest: number;
  /** The layer's {@link paramsFingerprint}. */
  fingerprint: number;
}

function recover(fs: StoreFs, path: string, layer: AuraMemLayer, opts: MemoryStoreOptions): Recovered {
  const B = checkInt("batch", opts.batch ?? 1, 1, 0xffffffff);
  const maxRecordBytes = checkInt("maxRecordBytes", opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES);
  const paths = slotPaths(path);
  const reads = [readSlot(fs, paths[0], "a", maxRecordBytes), readSlot(fs, paths[1], "b", maxRecordBytes)] as const;
  const want = layerShape(layer, B);
  const fp = paramsFingerprint(layer);
  const { dModel, dAction } = layer.config;
  // a record of a newer format may be intact: never skip (and later overwrite) it
  for (const r of reads) {
    if (r.status === "newer") throw new FormatError(`memory store slot ${r.path} holds a ${r.reason}; refusing to load or overwrite it (open it with a newer aura-mem)`);
  }
  // every valid record must belong to this layer: never load or overwrite another configuration's memory
  for (const r of reads) {
    if (r.status !== "valid") continue;
    const h = r.header!;
    if ((h.dModel !== 0 && h.dModel !== dModel) || (h.dAction !== 0 && h.dAction !== dAction)) {
      throw new FormatError(
        `memory store slot ${r.path} was written by a layer with dModel ${h.dModel}, dAction ${h.dAction}; ` +
          `this ${layer.arm} layer has dModel ${dModel}, dAction ${dAction}; refusing to load or overwrite it`,
      );
    }
    checkHeaderFor(h, want, `memory store slot ${r.path}`);
    if (h.paramsCrc !== fp && !opts.allowParamMismatch) {
      throw new FormatError(
        `memory store slot ${r.path} was written by a layer with other parameters (fingerprint 0x${hex(h.paramsCrc)}, ` +
          `this ${layer.arm} layer has 0x${hex(fp)}); pass allowParamMismatch to load it anyway`,
      );
    }
  }
  let newest = -1;
  for (let i = 0; i < 2; i++) {
    const r = reads[i]!;
    if (r.status !== "valid") continue;
    if (newest < 0) newest = i;
    else {
      const a = reads[newest]!.header!;
      const b = r.header!;
      if (b.seq > a.seq || (b.seq === a.seq && b.t > a.t)) newest = i;
    }
  }
  const slots = reads.map(({ state: _s, ...rest }) => rest) as [SlotReport, SlotReport];
  const invalidSlots = slots.filter((s) => s.status === "torn" || s.status === "corrupt").length;
  const tornSlots = slots.filter((s) => s.status === "torn").length;
  const why = slots.filter((s) => s.status !== "valid").map((s) => `${s.slot}: ${s.status}${s.reason ? ` (${s.reason})` : ""}`);
  if (newest < 0) {
    if (opts.requireExisting) throw new FormatError(`memory store ${path} has no valid record (${why.join("; ")})`);
    const state = layer.initState(B);
    const message = `memory store ${path}: no valid record (${why.join("; ")}); starting from initState (t = 0)`;
    return { state, newest, fingerprint: fp, report: { path, slots, loaded: null, fresh: true, seq: 0, t: 0, invalidSlots, tornSlots, message } };
  }
  const r = reads[newest]!;
  const h = r.header!;
  const state = r.state!;
  checkStateFor(state, layer, B); // defensive: the decoder built it from validated dims
  const skipped = why.length > 0 ? `; skipped ${why.join("; ")}` : "";
  const message = `memory store ${path}: loaded slot ${r.slot} (seq ${h.seq}, t = ${h.t})${skipped}`;
  return { state, newest, fingerprint: fp, report: { path, slots, loaded: r.slot, fresh: false, seq: h.seq, t: h.t, invalidSlots, tornSlots, message } };
}

/** The system error code of an I/O failure, or null for anything else (which then propagates as is). */
function errnoCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === "string" ? code : null;
}

/**
 * File-backed, crash-safe store of one layer's memory state (see the module comment for the format,
 * the write protocol and the recovery rule). Synchronous: a write is `write` + `fsync` before the call
 * returns (about 0.1-10 ms on flash, once per gate write). One writer per path: open takes an exclusive
 * lock (`<path>.lock`); {@link MemoryStore.read} works alongside.
 *
 * **When the disk fails** (ENOSPC, EIO, EROFS, ... from a write or sync): the record being written is
 * abandoned (its slot was not the newest, so the last good record is intact), the step still returns
 * its action and new state (`persistError` set, {@link MemoryStore.health} `ok: false`), and the next
 * write rewrites the whole record into the same slot and syncs it again — never a bare re-fsync, which
 * after a failed fsync can report success for data the kernel already dropped.
 */
export class MemoryStore {
  /** Base path; the slot files are `<path>.a` and `<path>.b`. */
  readonly path: string;
  /** The layer whose state is stored. */
  readonly layer: AuraMemLayer;
  /** Streams B. */
  readonly batch: number;
  private readonly fs: StoreFs;
  private readonly policy: "gate" | "every-step";
  private readonly sectorBytes: number;
  private readonly onDurable: MemoryStoreOptions["onDurable"];
  private readonly onPersistError: MemoryStoreOptions["onPersistError"];
  private readonly fingerprint: number;
  /** The layer's state shape for `batch`, computed once (persist() checks every state against it). */
  private readonly shape: LayerShape;
  private readonly fds: [number, number];
  private readonly sizes: [number, number];
  private readonly release: (() => void) | null;
  private newest: number;
  private seqNo: number;
  private current: MemoryState;
  private isDirty = false;
  private closed = false;
  private readonly counters: StoreStats;
  private readonly status: StoreHealth = { ok: true, consecutiveFailures: 0, lastError: null, failingSinceStep: null, lockCompromised: false };

  private constructor(
    path: string,
    layer: AuraMemLayer,
    opts: MemoryStoreOptions,
    fs: StoreFs,
    rec: Recovered,
    fds: [number, number],
    sizes: [number, number],
    dirFsyncs: number,
    release: (() => void) | null,
  ) {
    this.path = path;
    this.layer = layer;
    this.batch = opts.batch ?? 1;
    this.fs = fs;
    this.policy = opts.policy ?? "gate";
    this.sectorBytes = opts.sectorBytes ?? 0;
    this.onDurable = opts.onDurable;
    this.onPersistError = opts.onPersistError;
    this.fingerprint = rec.fingerprint;
    this.shape = layerShape(layer, this.batch);
    this.fds = fds;
    this.sizes = sizes;
    this.release = release;
    this.newest = rec.newest;
    this.seqNo = rec.report.seq;
    this.current = rec.state;
    this.counters = { steps: 0, gateWrites: 0, forcedWrites: 0, writes: 0, bytesWritten: 0, fsyncs: dirFsyncs, failedWrites: 0, seq: rec.report.seq };
  }

  /**
   * Open (creating if needed) the store at `path` for `layer`, and recover its newest valid state.
   * Nothing is written to the slots by open (a missing slot file is created empty and the directory
   * synced once).
   * @param path base path; slot files `<path>.a`, `<path>.b` (the directory must exist).
   * @returns the store, the recovered state (also `store.state`) and what was found.
   * @throws PersistenceError (code "ELOCKED") when another writer holds the store; ShapeError when a
   *         valid record holds another kind / B / dims than the layer; FormatError when a record was
   *         written by a layer of another dModel / dAction, by other parameters (unless
   *         `allowParamMismatch`), or in a newer record format, when `requireExisting` and no record is
   *         valid, or when a slot path is not a regular file (in every case nothing is written);
   *         ConfigError on bad options; PersistenceError (op "open" / "syncDir") when the slot files
   *         cannot be created (ENOENT directory, EACCES, EROFS, ...).
   */
  static open(path: string, layer: AuraMemLayer, opts: MemoryStoreOptions = {}): { store: MemoryStore; state: MemoryState; report: OpenReport } {
    checkOptions(opts);
    const fs = opts.fs ?? nodeStoreFs;
    const abs = resolve(path);
    let lockCompromised = false;
    const release = opts.lock === false ? null : fs.lock(abs, { staleMs: opts.lockStaleMs ?? 10_000, onCompromised: () => (lockCompromised = true) });
    const fds: number[] = [];
    try {
      const rec = recover(fs, abs, layer, opts);
      for (const s of rec.report.slots) {
        if (s.status === "corrupt" && s.reason === "not a regular file") throw new FormatError(`memory store slot ${s.path} exists and is not a regular file`);
      }
      const sizes: number[] = [];
      let created = false;
      for (const p of slotPaths(abs)) {
        const existed = fs.exists(p);
        const fd = ioCall("open", p, () => fs.open(p, "rw"));
        fds.push(fd);
        const st = fs.stat(fd);
        if (!st.isFile) throw new FormatError(`memory store slot ${p} is not a regular file`);
        sizes.push(st.size);
        created ||= !existed;
      }
      const dirFsyncs = created && ioCall("syncDir", dirname(abs), () => fs.syncDir(dirname(abs))) ? 1 : 0;
      const store = new MemoryStore(abs, layer, opts, fs, rec, fds as [number, number], sizes as [number, number], dirFsyncs, release);
      if (lockCompromised) store.status.lockCompromised = true;
      return { store, state: rec.state, report: rec.report };
    } catch (e) {
      for (const fd of fds) fs.close(fd);
      release?.();
      throw e;
    }
  }

  /**
   * Recover the newest valid state at `path` without opening the store for writing: creates, changes
   * and locks nothing (for inspection, and for the crash harness's checks). Same rule and errors as
   * {@link MemoryStore.open}, minus the file-system and lock ones (missing files read as "missing").
   */
  static read(path: string, layer: AuraMemLayer, opts: MemoryStoreOptions = {}): { state: MemoryState; report: OpenReport } {
    checkOptions(opts);
    const rec = recover(opts.fs ?? nodeStoreFs, resolve(path), layer, opts);
    return { state: rec.state, report: rec.report };
  }

  /** The current in-memory state (newest, possibly not yet durable: see {@link dirty}). */
  get state(): MemoryState {
    return this.current;
  }

  /** True when the in-memory state has advanced past the newest durable record (steps without a write, or failed writes). */
  get dirty(): boolean {
    return this.isDirty;
  }

  /** Write accounting since open (a copy). */
  get stats(): StoreStats {
    return { ...this.counters, seq: this.seqNo };
  }

  /** Whether persistence is keeping up (a copy): `ok` is false from a failed write until the next one succeeds. */
  get health(): StoreHealth {
    return { ...this.status };
  }

  /**
   * One control tick: `layer.step(zt, store.state)` (the fused step engine on the WASM backend, see
   * `AuraMemLayer.stepPath`), then persist the new state iff the gate wrote
   * (g = 1 for any stream) — or every step under policy "every-step". The write is durable when
   * step() returns with `persisted: true`. A failed write does not fail the step: see the class comment.
   * @param zt Float32Array [B*dModel].
   * @throws ShapeError / NonFiniteError on bad input (state and files untouched); AuraError when closed.
   */
  step(zt: Float32Array): StoreStepOutput {
    this.checkOpen();
    const out = this.layer.step(zt, this.current);
    this.current = out.state;
    this.counters.steps++;
    this.isDirty = true;
    let fire = this.policy === "every-step";
    for (let i = 0; i < out.g.length && !fire; i++) fire = out.g[i] === 1;
    if (!fire) return { ...out, persisted: false };
    const err = this.tryWrite("gate");
    return err ? { ...out, persisted: false, persistError: err } : { ...out, persisted: true };
  }

  /**
   * Make `state` the store's current state (for callers running `layer.step` themselves) and persist it
   * iff `g` has a 1 for any stream (or always when `g` is omitted, or under policy "every-step").
   * A failed write keeps the state in RAM (as for step()) and is reported by {@link health}.
   * @param state the layer's state after a step ([kind, B, dims] must match the store).
   * @param g the step's write decisions [B] (0/1), or undefined to force a write.
   * @returns true if a record was written (and synced).
   * @throws ShapeError on a state or g that does not fit (nothing changed); AuraError when closed.
   */
  persist(state: MemoryState, g?: ArrayLike<number>): boolean {
    this.checkOpen();
    checkStateFor(state, this.layer, this.batch, this.shape);
    if (g !== undefined && (g === null || typeof g !== "object" || typeof g.length !== "number" || g.length !== this.batch)) {
      throw new ShapeError(`g must have B = ${this.batch} values`);
    }
    this.current = state;
    this.isDirty = true;
    let fire = g === undefined || this.policy === "every-step";
    for (let i = 0; g !== undefined && i < g.length && !fire; i++) fire = g[i] === 1;
    if (!fire) return false;
    return this.tryWrite(g === undefined ? "forced" : "gate") === null;
  }

  /**
   * Persist the current state if it is newer than the newest durable record (e.g. before a planned
   * shutdown, so that `t` is exact). A no-op (no flash wear) when nothing changed.
   * @returns true if a record was written.
   * @throws PersistenceError when the write fails (the state stays in RAM and `dirty`); AuraError when closed.
   */
  flush(): boolean {
    this.checkOpen();
    if (!this.isDirty) return false;
    const err = this.tryWrite("forced");
    if (err) throw err;
    return true;
  }

  /**
   * flush(), then close the slot files and release the writer lock. Idempotent; the store cannot be
   * used afterwards. @throws PersistenceError when the final flush fails (the files are closed anyway).
   */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.abandon();
    }
  }

  /**
   * Close the slot files and release the lock without flushing (what a crash does, minus the crash):
   * the durable state is the last record written. For tests and the crash harness.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds) {
      try {
        this.fs.close(fd);
      } catch {
        // a descriptor of a failed disk: nothing left to release
      }
    }
    this.release?.();
  }

  private checkOpen(): void {
    if (this.closed) throw new AuraError(`memory store ${this.path} is closed`);
  }

  /** {@link writeRecord}, with an I/O failure recorded in {@link health} and returned instead of thrown. */
  private tryWrite(why: "gate" | "forced"): PersistenceError | null {
    try {
      this.writeRecord(why);
    } catch (e) {
      if (!(e instanceof PersistenceError)) throw e;
      this.counters.failedWrites++;
      const s = this.status;
      if (s.ok) s.failingSinceStep = this.counters.steps;
      s.ok = false;
      s.consecutiveFailures++;
      s.lastError = e;
      this.onPersistError?.(e);
      return e;
    }
    const s = this.status;
    s.ok = true;
    s.consecutiveFailures = 0;
    s.failingSinceStep = null;
    return null;
  }

  /** Write the current state into the non-newest slot, sync, then make it the newest. */
  private writeRecord(why: "gate" | "forced"): void {
    const target = this.newest === 0 ? 1 : 0;
    const { dModel, dAction } = this.layer.config;
    const bytes = encodeRecord(this.current, this.seqNo + 1, this.fingerprint, { dModel, dAction });
    const fd = this.fds[target];
    const path = slotPaths(this.path)[target];
    const step = this.sectorBytes > 0 ? this.sectorBytes : bytes.length;
    for (let off = 0; off < bytes.length; off += step) {
      const end = Math.min(bytes.length, off + step);
      ioCall("write", path, () => writeAll(this.fs, fd, bytes.subarray(off, end), off));
      this.counters.bytesWritten += end - off;
      // fsync when the file grows (size is metadata), fdatasync otherwise (skips the mtime-only inode write)
      if (end > this.sizes[target]) {
        ioCall("fsync", path, () => this.fs.fsync(fd));
        this.sizes[target] = end;
      } else ioCall("fdatasync", path, () => this.fs.fdatasync(fd));
      this.counters.fsyncs++;
    }
    this.seqNo++;
    this.newest = target;
    this.isDirty = false;
    this.counters.writes++;
    if (why === "gate") this.counters.gateWrites++;
    else this.counters.forcedWrites++;
    this.onDurable?.({ seq: this.seqNo, t: this.current.t, slot: target === 0 ? "a" : "b", bytes: bytes.length });
  }
}

/** Run one file operation; a system error (one with a `code`) becomes a PersistenceError naming it. */
function ioCall<T>(op: PersistenceFault["op"], path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const code = errnoCode(e);
    if (code === null || e instanceof PersistenceError) throw e;
    throw new PersistenceError(`memory store: ${op} of ${path} failed with ${code} (${(e as Error).message})`, { code, op, path }, e);
  }
}

function checkOptions(o: MemoryStoreOptions): void {
  if (o === null || typeof o !== "object") throw new ConfigError("MemoryStore options must be an object");
  if (o.batch !== undefined) checkInt("batch", o.batch, 1, 0xffffffff);
  if (o.policy !== undefined && o.policy !== "gate" && o.policy !== "every-step") {
    throw new ConfigError(`policy must be "gate" or "every-step", got ${String(o.policy)}`);
  }
  if (o.sectorBytes !== undefined) checkInt("sectorBytes", o.sectorBytes, 0, 2 ** 30);
  if (o.maxRecordBytes !== undefined) checkInt("maxRecordBytes", o.maxRecordBytes, RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES);
  if (o.onDurable !== undefined && typeof o.onDurable !== "function") throw new ConfigError("onDurable must be a function");
  if (o.onPersistError !== undefined && typeof o.onPersistError !== "function") throw new ConfigError("onPersistError must be a function");
  if (o.lock !== undefined && typeof o.lock !== "boolean") throw new ConfigError("lock must be a boolean");
  if (o.lockStaleMs !== undefined) checkInt("lockStaleMs", o.lockStaleMs, 2000);
  if (o.fs !== undefined) {
    const need = ["open", "close", "stat", "read", "write", "fsync", "fdatasync", "exists", "syncDir", "lock"] as const;
    for (const k of need) if (typeof (o.fs as unknown as Record<string, unknown>)?.[k] !== "function") throw new ConfigError(`fs must implement StoreFs (missing ${k})`);
  }
}

function writeAll(fs: StoreFs, fd: number, b: Uint8Array, position: number): void {
  let done = 0;
  while (done < b.length) done += fs.write(fd, b, done, b.length - done, position + done);
}
