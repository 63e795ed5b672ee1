/**
 * A small, defensive reader/writer of the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: little-endian u64 N][N bytes: UTF-8 JSON header][byte buffer]
 *
 * The header maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to
 * the start of the byte buffer) plus an optional `"__metadata__": { string: string }`.
 *
 * Reading validates everything before returning and throws `FormatError` (naming the tensor / field)
 * on any problem: truncated files, oversized or non-UTF-8 headers, invalid JSON, duplicate keys,
 * unsupported dtypes, bad shapes or offsets, overlaps, holes and trailing bytes. Memory use is bounded
 * by the input size: every tensor is copied once into its own (aligned) typed array, never more.
 *
 * Writing is deterministic: tensors sorted by name (UTF-16 code-unit order), `__metadata__` first
 * (only when non-empty), the header padded with spaces so the byte buffer starts on an 8-byte
 * boundary, data little-endian and contiguous. A round trip is bit-exact (NaN payloads, -0 and
 * denormals included), since bytes are copied and never re-interpreted as numbers.
 */
import { open, readFile, rename, unlink, stat } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { FormatError, ShapeError } from "../errors.js";

export type DType = "F32" | "F64" | "I32" | "I64" | "U8";
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface TensorEntry {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  tensors: Record<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Largest header accepted when reading (the reference implementation uses the same 100 MB bound). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_SIZE: Record<DType, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };
/** dtypes of the format that this implementation does not read (reported by name). */
const KNOWN_UNSUPPORTED = new Set(["F16", "BF16", "BOOL", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64"]);
const METADATA_KEY = "__metadata__";
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function dtypeSize(dtype: DType): number {
  return DTYPE_SIZE[dtype];
}

function isDType(v: unknown): v is DType {
  return typeof v === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, v);
}

function arrayCtorFor(dtype: DType): { new (buf: ArrayBuffer): TensorData } {
  switch (dtype) {
    case "F32":
      return Float32Array;
    case "F64":
      return Float64Array;
    case "I32":
      return Int32Array;
    case "I64":
      return BigInt64Array;
    case "U8":
      return Uint8Array;
  }
}

function matchesDType(dtype: DType, data: unknown): boolean {
  switch (dtype) {
    case "F32":
      return data instanceof Float32Array;
    case "F64":
      return data instanceof Float64Array;
    case "I32":
      return data instanceof Int32Array;
    case "I64":
      return data instanceof BigInt64Array;
    case "U8":
      return data instanceof Uint8Array;
  }
}

/** Define an own enumerable property (safe for names such as "__proto__"). */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Swap the bytes of each `size`-byte element in place (only used on big-endian hosts). */
function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= b.length; i += size) {
    for (let a = 0, z = size - 1; a < z; a++, z--) {
      const t = b[i + a]!;
      b[i + a] = b[i + z]!;
      b[i + z] = t;
    }
  }
}

/** Product of a shape, or -1 if it exceeds `limit` (shapes are validated non-negative safe ints). */
function shapeProduct(shape: readonly number[], limit: number): number {
  if (shape.some((d) => d === 0)) return 0;
  let p = 1;
  for (const d of shape) {
    p *= d;
    if (p > limit) return -1;
  }
  return p;
}

// ------------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------------

/**
 * Serialise tensors (and optional string metadata) to safetensors bytes. Throws `ShapeError` when a
 * tensor's data length disagrees with its shape, `FormatError` when something cannot be represented
 * (unsupported dtype, data array type not matching the dtype, reserved name, non-string metadata).
 */
export function encodeSafetensors(tensors: Record<string, TensorEntry>, metadata?: Record<string, string>): Uint8Array {
  if (!isPlainObject(tensors)) throw new FormatError("encodeSafetensors: tensors must be an object of name -> TensorEntry");
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new FormatError("encodeSafetensors: metadata must be an object of string -> string");
    const metaKeys = Object.keys(metadata).sort();
    if (metaKeys.length > 0) {
      const meta: Record<string, string> = {};
      for (const k of metaKeys) {
        const v = metadata[k];
        if (typeof v !== "string") throw new FormatError(`encodeSafetensors: metadata "${k}" must be a string, got ${typeof v}`);
        setOwn(meta, k, v);
      }
      setOwn(header, METADATA_KEY, meta);
    }
  }
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    if (name === METADATA_KEY) throw new FormatError(`encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    const t = tensors[name];
    if (!isPlainObject(t)) throw new FormatError(`encodeSafetensors: tensor "${name}" must be a { dtype, shape, data } object`);
    const { dtype, shape, data } = t as unknown as TensorEntry;
    if (!isDType(dtype)) throw new FormatError(`encodeSafetensors: tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError(`encodeSafetensors: tensor "${name}" shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!matchesDType(dtype, data)) {
      const got = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
      throw new FormatError(`encodeSafetensors: tensor "${name}" has dtype ${dtype} but data is ${got}`);
    }
    const n = shapeProduct(shape, Number.MAX_SAFE_INTEGER);
    if (n !== data.length) {
      throw new ShapeError(`encodeSafetensors: tensor "${name}" shape [${shape.join(", ")}] needs ${n < 0 ? "too many" : n} values, data has ${data.length}`);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let chunk = bytes;
    if (!LITTLE_ENDIAN && DTYPE_SIZE[dtype] > 1) {
      chunk = bytes.slice();
      swapBytes(chunk, DTYPE_SIZE[dtype]);
    }
    chunks.push(chunk);
    setOwn(header, name, { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.length] });
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const headerBytes = new Uint8Array(padded).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(headerBytes, 8);
  let pos = 8 + padded;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------------

/**
 * Return the first duplicated object key in `text` (which must already be valid JSON), or null.
 * Iterative (no recursion), linear in the text length. Keys are compared after unescaping.
 */
function findDuplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const top = stack.length > 0 ? stack[stack.length - 1] : null;
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
    i++;
  }
  return null;
}

interface ParsedEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function describeJson(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function parseHeader(bytes: Uint8Array): { entries: ParsedEntry[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.length < 8) throw new FormatError(`safetensors: file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const available = bytes.length - 8;
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw new FormatError(`safetensors: header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n > available) throw new FormatError(`safetensors: header length ${n} exceeds the ${available} bytes after the length field (truncated file?)`);
  if (n < 2) throw new FormatError(`safetensors: header length ${n} is too small for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new FormatError("safetensors: header is not valid UTF-8");
  }
  if (text.charCodeAt(0) !== 0x7b) throw new FormatError("safetensors: header must start with '{'");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw new FormatError("safetensors: header must be a JSON object");
  const dup = findDuplicateKey(text);
  if (dup !== null) throw new FormatError(`safetensors: duplicate key ${JSON.stringify(dup)} in header`);

  const dataStart = 8 + n;
  const bufLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: ParsedEntry[] = [];
  for (const name of Object.keys(header)) {
    const v = header[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(v)) throw new FormatError(`safetensors: "${METADATA_KEY}" must be an object of strings, got ${describeJson(v)}`);
      for (const k of Object.keys(v)) {
        const mv = v[k];
        if (typeof mv !== "string") throw new FormatError(`safetensors: "${METADATA_KEY}" value for ${JSON.stringify(k)} must be a string, got ${describeJson(mv)}`);
        setOwn(metadata, k, mv);
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(v)) throw new FormatError(`safetensors: ${where} must be an object with dtype, shape, data_offsets, got ${describeJson(v)}`);
    const dtype = v["dtype"];
    if (!isDType(dtype)) {
      if (typeof dtype === "string" && KNOWN_UNSUPPORTED.has(dtype)) {
        throw new FormatError(`safetensors: ${where} has dtype ${dtype}, which is not supported (supported: F32, F64, I32, I64, U8)`);
      }
      throw new FormatError(`safetensors: ${where} has unknown dtype ${describeJson(dtype)}`);
    }
    const shape = v["shape"];
    if (!Array.isArray(shape)) throw new FormatError(`safetensors: ${where} shape must be an array, got ${describeJson(shape)}`);
    for (let k = 0; k < shape.length; k++) {
      const d = shape[k] as unknown;
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
        throw new FormatError(`safetensors: ${where} shape[${k}] must be a non-negative integer, got ${describeJson(d)}`);
      }
    }
    const offs = v["data_offsets"];
    if (!Array.isArray(offs) || offs.length !== 2) {
      throw new FormatError(`safetensors: ${where} data_offsets must be [begin, end], got ${describeJson(offs)}`);
    }
    const [begin, end] = offs as unknown[];
    if (typeof begin !== "number" || !Number.isSafeInteger(begin) || begin < 0 || typeof end !== "number" || !Number.isSafeInteger(end) || end < 0) {
      throw new FormatError(`safetensors: ${where} data_offsets must be two non-negative integers, got ${describeJson(offs)}`);
    }
    if (end < begin) throw new FormatError(`safetensors: ${where} data_offsets end ${end} < begin ${begin}`);
    if (end > bufLen) throw new FormatError(`safetensors: ${where} data_offsets [${begin}, ${end}] exceed the ${bufLen}-byte data buffer`);
    const size = DTYPE_SIZE[dtype];
    const count = shapeProduct(shape as number[], Math.floor(bufLen / size) + 1);
    const nbytes = end - begin;
    if (count < 0 || count * size !== nbytes) {
      throw new FormatError(
        `safetensors: ${where} shape [${(shape as number[]).join(", ")}] x ${dtype} needs ${count < 0 ? "more than the whole buffer" : `${count * size} bytes`}, data_offsets cover ${nbytes}`,
      );
    }
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  // The tensors must tile the buffer exactly: sorted by offsets, each begins where the previous ends.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: ParsedEntry | null = null;
  for (const e of sorted) {
    if (e.begin < pos) {
      throw new FormatError(`safetensors: tensor ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlaps tensor ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}]`);
    }
    if (e.begin > pos) {
      throw new FormatError(`safetensors: gap of ${e.begin - pos} bytes before tensor ${JSON.stringify(e.name)} (bytes [${pos}, ${e.begin}) of the data buffer are not covered)`);
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== bufLen) {
    throw new FormatError(`safetensors: ${bufLen - pos} trailing bytes after the last tensor (data buffer is ${bufLen} bytes, tensors cover ${pos})`);
  }
  return { entries, metadata, dataStart };
}

/** Parse and validate safetensors bytes. Throws `FormatError` on any malformation. */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) throw new FormatError("decodeSafetensors: input must be a Uint8Array");
  let parsed: ReturnType<typeof parseHeader>;
  try {
    parsed = parseHeader(bytes);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    // Safety net: a parser of untrusted bytes must only ever fail with FormatError.
    throw new FormatError(`safetensors: malformed file (unexpected ${(e as Error)?.name ?? "error"}: ${(e as Error)?.message ?? String(e)})`);
  }
  const { entries, metadata, dataStart } = parsed;
  const tensors: Record<string, TensorEntry> = {};
  for (const e of entries) {
    // A fresh, aligned buffer per tensor (explicit copy: Buffer#slice would return a view).
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    if (!LITTLE_ENDIAN) swapBytes(copy, DTYPE_SIZE[e.dtype]);
    const Ctor = arrayCtorFor(e.dtype);
    setOwn(tensors, e.name, { dtype: e.dtype, shape: e.shape, data: new Ctor(copy.buffer) });
  }
  return { tensors, metadata };
}

// ------------------------------------------------------------------------------------------------
// Integer helpers
// ------------------------------------------------------------------------------------------------

/** Convert I64 data to Int32Array, throwing FormatError if a value is outside the int32 range. */
export function int64ToInt32(data: BigInt64Array, name = "tensor"): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < -2147483648n || v > 2147483647n) throw new FormatError(`${name}[${i}] = ${v} does not fit in int32`);
    out[i] = Number(v);
  }
  return out;
}

/** Convert I64 data to Float64Array, throwing FormatError if a value is not a safe integer (|v| > 2^53 - 1). */
export function int64ToFloat64(data: BigInt64Array, name = "tensor"): Float64Array {
  const out = new Float64Array(data.length);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v > max || v < -max) throw new FormatError(`${name}[${i}] = ${v} is not a safe integer`);
    out[i] = Number(v);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Files
// ------------------------------------------------------------------------------------------------

/**
 * Write `bytes` to `path` atomically: write a temporary file in the same directory, fsync, rename, then
 * fsync the directory so that the rename itself survives a power cut (skipped where a directory cannot
 * be opened, e.g. Windows). The directory must exist. On failure the temporary file is removed and
 * `path` is left untouched. The one atomic file write of the project (checkpoints, datasets, ONNX
 * export, the benchmark job store).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    fh = await open(tmp, "wx");
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = null;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  let dh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    dh = await open(dir, "r");
    await dh.sync();
  } catch {
    // a directory that cannot be opened or synced here: the rename is done, nothing more to do
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/** Encode and write a safetensors file atomically (temporary file + rename). */
export async function writeSafetensors(path: string, tensors: Record<string, TensorEntry>, metadata?: Record<string, string>): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFileAtomic(path, bytes);
}

/**
 * Read the whole file at `path` (bounded by its size). A missing or unreadable file throws
 * `FormatError` whose message names the path and the reason (`cause` holds the system error);
 * a malformed file throws `FormatError` from `decodeSafetensors`.
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  const bytes = await readFileChecked(path, "safetensors");
  return decodeSafetensors(bytes);
}

/** Read a regular file, turning system errors into FormatError with a clear message. */
export async function readFileChecked(path: string, what: string): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new FormatError(`${what} file ${path} is not a regular file`);
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    const reason = code === "ENOENT" ? "file not found" : code === "EACCES" ? "permission denied" : ((e as Error)?.message ?? String(e));
    throw new FormatError(`cannot read ${what} file ${path}: ${reason}`, { cause: e });
  }
}
