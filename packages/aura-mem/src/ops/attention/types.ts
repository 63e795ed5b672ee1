/**
 * Causal softmax attention over past steps: the `kv-cache` (every past step) and `kv-window` (last
 * W steps) baselines.
 *
 * Per batch row b and step t at absolute position p (positions continue after an incoming cache of
 * length L: the chunk's steps are p = L .. L+T-1, the cache holds p = 0 .. L-1):
 *   logits_s = scale * q_p . k_s   for s in [lo, p], lo = window > 0 ? max(0, p - window + 1) : 0
 *   a = softmax(logits);  o_p = sum_s a_s v_s
 * Layout (row-major f32): q, k [B, T, dK]; v, o [B, T, dV]; cache keys [B, capacity, dK] and values
 * [B, capacity, dV] with the live entries at [0, length) of every row.
 */
import { ShapeError, ConfigError } from "../../errors.js";

/**
 * Past keys/values of B streams. Treated as immutable by the ops: `forward` returns a new cache
 * object and never changes the entries visible through an older one. Appends are amortised O(T):
 * the new cache shares the arrays of the old one when it can extend them in place (nothing was
 * appended after the old cache's length yet), and otherwise copies into arrays of doubled capacity.
 * With a window W only the last W entries are kept (capacity at most W), so memory is bounded.
 */
export interface KvCache {
  readonly B: number;
  readonly dK: number;
  readonly dV: number;
  /** Live entries per batch row. */
  readonly length: number;
  /** [B * capacity * dK] */
  readonly keys: Float32Array;
  /** [B * capacity * dV] */
  readonly values: Float32Array;
  /** Allocated entries per batch row (>= length). */
  readonly capacity: number;
}

export interface AttentionInputs {
  B: number;
  T: number;
  dK: number;
  dV: number;
  /** [B*T*dK] */
  q: Float32Array;
  /** [B*T*dK] */
  k: Float32Array;
  /** [B*T*dV] */
  v: Float32Array;
  /** Logit scale (usually 1/sqrt(dK)). */
  scale: number;
  /** Attend to the last `window` steps including the current one; 0 = unbounded. */
  window: number;
}

export interface AttentionForwardOptions {
  /** Past steps (streaming). Training passes none (or an empty one). */
  cache?: KvCache;
  /** Return the cache extended by this chunk (trimmed to the window). */
  outputCache?: boolean;
  /** Keep the per-row logsumexp needed by `backward`. */
  saveForBackward?: boolean;
}

export interface AttentionOutput {
  /** [B*T*dV] */
  o: Float32Array;
  /** The incoming cache extended by this chunk, when `outputCache`. */
  cache?: KvCache;
  /** {@link AttentionSaved} when `saveForBackward`. */
  saved?: unknown;
}

/** What `forward(..., { saveForBackward: true })` keeps: O(B*T), never the B*T*T probabilities. */
export interface AttentionSaved {
  readonly kind: "attention-lse";
  /** logsumexp of each row's (scaled) logits [B*T]. */
  readonly lse: Float32Array;
  /** Length of the incoming cache (backward supports only 0). */
  readonly cacheLength: number;
}

export interface AttentionGrads {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

export interface AttentionOp {
  forward(inp: AttentionInputs, opts?: AttentionForwardOptions): AttentionOutput;
  /**
   * Gradients given do [B*T*dV] (flash-attention style: probabilities are recomputed from the saved
   * logsumexp). Training uses no incoming cache: a forward that had a non-empty one is rejected.
   * When `out.saved` is missing the forward is recomputed.
   */
  backward(inp: AttentionInputs, out: AttentionOutput, grad: { do: Float32Array }): AttentionGrads;
}

// ------------------------------------------------------------------------------------------------
// Validation
// ------------------------------------------------------------------------------------------------

function dim(name: string, v: unknown, lo: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > 0x3fffffff) {
    throw new ShapeError(`attention: ${name} must be an integer >= ${lo}, got ${String(v)}`);
  }
  return v;
}
function arr(name: string, a: unknown, n: number, shape: string): void {
  if (!(a instanceof Float32Array)) throw new ShapeError(`attention: ${name} must be a Float32Array ${shape}`);
  if (a.length !== n) throw new ShapeError(`attention: ${name} must have ${n} values ${shape}, got ${a.length}`);
}

/** Throw a ShapeError/ConfigError unless the inputs (and the cache, if any) are consistent. */
export function checkAttentionInputs(inp: AttentionInputs, cache?: KvCache): void {
  if (inp === null || typeof inp !== "object") throw new ShapeError("attention: inputs must be an object");
  const B = dim("B", inp.B, 1);
  const T = dim("T", inp.T, 0);
  const dK = dim("dK", inp.dK, 1);
  const dV = dim("dV", inp.dV, 1);
  arr("q", inp.q, B * T * dK, `[B=${B}, T=${T}, dK=${dK}]`);
  arr("k", inp.k, B * T * dK, `[B=${B}, T=${T}, dK=${dK}]`);
  arr("v", inp.v, B * T * dV, `[B=${B}, T=${T}, dV=${dV}]`);
  if (typeof inp.scale !== "number" || !Number.isFinite(inp.scale)) {
    throw new ConfigError(`attention: scale must be a finite number, got ${String(inp.scale)}`);
  }
  if (typeof inp.window !== "number" || !Number.isInteger(inp.window) || inp.window < 0) {
    throw new ConfigError(`attention: window must be an integer >= 0 (0 = unbounded), got ${String(inp.window)}`);
  }
  if (cache !== undefined) checkKvCache(cache, B, dK, dV);
}

/** Throw a ShapeError unless `cache` is a well-formed cache for (B, dK, dV). */
export function checkKvCache(cache: KvCache, B: number, dK: number, dV: number): void {
  if (cache === null || typeof cache !== "object") throw new ShapeError("attention: cache must be a KvCache");
  if (cache.B !== B || cache.dK !== dK || cache.dV !== dV) {
    throw new ShapeError(`attention: cache is for B=${cache.B}, dK=${cache.dK}, dV=${cache.dV}, inputs have B=${B}, dK=${dK}, dV=${dV}`);
  }
  const cap = dim("cache.capacity", cache.capacity, 0);
  const len = dim("cache.length", cache.length, 0);
  if (len > cap) throw new ShapeError(`attention: cache.length ${len} > capacity ${cap}`);
  arr("cache.keys", cache.keys, B * cap * dK, `[B=${B}, capacity=${cap}, dK=${dK}]`);
  arr("cache.values", cache.values, B * cap * dV, `[B=${B}, capacity=${cap}, dV=${dV}]`);
}

/** Validate `out.saved` (or report that it is missing). */
export function savedOf(out: AttentionOutput, B: number, T: number): AttentionSaved | undefined {
  if (out === null || typeof out !== "object") throw new ShapeError("attention: out must be the output of forward");
  const s = out.saved as AttentionSaved | undefined;
  if (s === undefined) return undefined;
  if (s === null || typeof s !== "object" || s.kind !== "attention-lse" || !(s.lse instanceof Float32Array) || s.lse.length !== B * T) {
    throw new ShapeError("attention: out.saved is not the saved state of an attention forward with these shapes");
  }
  return s;
}

// ------------------------------------------------------------------------------------------------
// KV cache
// ------------------------------------------------------------------------------------------------

/** Entries written (per batch row) into each keys array by appends: a cache may extend its arrays
 * in place only when nothing beyond its own length was written yet (copy-on-branch). */
const filled = new WeakMap<Float32Array, number>();

/** An empty cache; `capacity` entries per row are preallocated (0 by default). */
export function emptyKvCache(B: number, dK: number, dV: number, capacity = 0): KvCache {
  dim("B", B, 1);
  dim("dK", dK, 1);
  dim("dV", dV, 1);
  dim("capacity", capacity, 0);
  const keys = new Float32Array(B * capacity * dK);
  filled.set(keys, 0);
  return { B, dK, dV, length: 0, keys, values: new Float32Array(B * capacity * dV), capacity };
}

/** Bytes of the live entries: length * (dK + dV) * 4 * B (the capacity slack is not counted). */
export function kvCacheBytes(cache: KvCache): number {
  return cache.length * (cache.dK + cache.dV) * 4 * cache.B;
}

/** A deep copy with capacity = length (its arrays are shared with nothing). */
export function cloneKvCache(cache: KvCache): KvCache {
  const { B, dK, dV, length } = cache;
  const out = emptyKvCache(B, dK, dV, length);
  for (let b = 0; b < B; b++) {
    out.keys.set(cache.keys.subarray(b * cache.capacity * dK, (b * cache.capacity + length) * dK), b * length * dK);
    out.values.set(cache.values.subarray(b * cache.capacity * dV, (b * cache.capacity + length) * dV), b * length * dV);
  }
  filled.set(out.keys, length);
  return { ...out, length };
}

/**
 * The cache after appending the chunk's k, v [B, T, d] to `cache` (none = empty), keeping only the
 * last `window` entries when window > 0. Never changes entries visible through `cache`.
 */
export function appendKvCache(cache: KvCache | undefined, inp: AttentionInputs): KvCache {
  const { B, T, dK, dV, window } = inp;
  const old = cache ?? emptyKvCache(B, dK, dV, 0);
  const L = old.length;
  const total = L + T;
  const keep = window > 0 ? Math.min(total, window) : total;
  const fromCache = Math.max(0, keep - T); // entries of the old cache that survive
  const cacheStart = L - fromCache;
  const chunkStart = T - (keep - fromCache);
  const inPlace = cacheStart === 0 && keep <= old.capacity && (filled.get(old.keys) ?? L) === L;
  let keys: Float32Array, values: Float32Array, cap: number;
  if (inPlace) {
    keys = old.keys;
    values = old.values;
    cap = old.capacity;
  } else {
    cap = Math.max(keep, 2 * old.capacity, 4);
    if (window > 0) cap = Math.min(cap, window);
    keys = new Float32Array(B * cap * dK);
    values = new Float32Array(B * cap * dV);
  }
  for (let b = 0; b < B; b++) {
    if (!inPlace && fromCache > 0) {
      const ko = b * old.capacity * dK, vo = b * old.capacity * dV;
      keys.set(old.keys.subarray(ko + cacheStart * dK, ko + L * dK), b * cap * dK);
      values.set(old.values.subarray(vo + cacheStart * dV, vo + L * dV), b * cap * dV);
    }
    const n = T - chunkStart;
    if (n > 0) {
      const kc = (b * T + chunkStart) * dK, vc = (b * T + chunkStart) * dV;
      keys.set(inp.k.subarray(kc, kc + n * dK), (b * cap + fromCache) * dK);
      values.set(inp.v.subarray(vc, vc + n * dV), (b * cap + fromCache) * dV);
    }
  }
  filled.set(keys, keep);
  return { B, dK, dV, length: keep, keys, values, capacity: cap };
}
