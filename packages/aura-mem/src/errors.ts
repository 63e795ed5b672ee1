/**
 * Typed errors. Every public entry point validates its input before touching any state, so a thrown
 * error leaves the memory state, parameters and files exactly as they were.
 */

/** Base class of every error aura-mem throws on purpose. */
export class AuraError extends Error {
  override name = "AuraError";
}
/** A tensor has the wrong length / shape, or dimensions disagree (e.g. z's dModel vs the config). */
export class ShapeError extends AuraError {
  override name = "ShapeError";
}
/** An input contains NaN or +-Inf. */
export class NonFiniteError extends AuraError {
  override name = "NonFiniteError";
}
/** A configuration value is missing, out of range, of the wrong type, or unknown. */
export class ConfigError extends AuraError {
  override name = "ConfigError";
}
/** A file (checkpoint, dataset, results) is malformed: bad header, offsets, dtypes or JSON. */
export class FormatError extends AuraError {
  override name = "FormatError";
}

/** Throw a ShapeError unless `a` is a Float32Array of exactly `n` values. */
export function checkF32(name: string, a: unknown, n: number, shape?: string): asserts a is Float32Array {
  if (!(a instanceof Float32Array)) {
    throw new ShapeError(`${name} must be a Float32Array${shape ? ` ${shape}` : ""}, got ${describe(a)}`);
  }
  if (a.length !== n) {
    throw new ShapeError(`${name} must have ${n} values${shape ? ` ${shape}` : ""}, got ${a.length}`);
  }
}

/** Throw a NonFiniteError if any value of `a` is NaN or +-Inf (names the first bad index). */
export function checkFinite(name: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isFinite(v)) throw new NonFiniteError(`${name}[${i}] is ${v}`);
  }
}

/** Throw a ConfigError unless `v` is an integer in [lo, hi]. */
export function checkInt(name: string, v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

/** Throw a ConfigError unless `v` is a finite number in [lo, hi]. */
export function checkNum(name: string, v: unknown, lo = -Infinity, hi = Infinity): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) {
    throw new ConfigError(`${name} must be a finite number in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

function describe(a: unknown): string {
  if (a === null) return "null";
  if (ArrayBuffer.isView(a)) return `${a.constructor.name}(${(a as unknown as ArrayLike<number>).length})`;
  if (Array.isArray(a)) return `Array(${a.length})`;
  return typeof a;
}

/** What {@link PersistenceError} says went wrong, and where. */
export interface PersistenceFault {
  /** The system error code ("ENOSPC", "EIO", "EROFS", ...) or "ELOCKED" for a store held by another writer. */
  code: string;
  /** The operation that failed. */
  op: "open" | "lock" | "write" | "fsync" | "fdatasync" | "syncDir";
  /** The file it failed on. */
  path: string;
}

/**
 * Persisting the memory failed: a write or sync of a {@link MemoryStore} slot (full disk, I/O error,
 * read-only file system, ...), or the store is locked by another writer. `code`, `op` and `path` say
 * which; `cause` is the system error. The memory in RAM is unaffected.
 */
export class PersistenceError extends AuraError {
  override name = "PersistenceError";
  readonly code: string;
  readonly op: PersistenceFault["op"];
  readonly path: string;
  constructor(message: string, fault: PersistenceFault, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = fault.code;
    this.op = fault.op;
    this.path = fault.path;
  }
}
