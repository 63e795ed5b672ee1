/**
 * Fixed random embeddings and noise for the synthetic tasks. All embeddings are Gaussian directions
 * normalised to unit L2 norm (nearly orthogonal for dModel >= 64). Noise is isotropic Gaussian with
 * per-coordinate std `sigma / sqrt(dModel)`, so its expected norm is ~sigma whatever dModel: a noise
 * level is always relative to the unit norm of one embedding, and a task is equally hard at
 * dModel 64 and 4096.
 */
import { Rng } from "aura-mem/util/rng";

/** A 32-bit seed derived from `seed` and a string tag (FNV-1a of the tag, mixed with the seed). */
export function deriveSeed(seed: number, tag: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tag.length; i++) {
    h ^= tag.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  let x = (h ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A fresh Rng for a named sub-stream of a task seed. */
export function subRng(seed: number, tag: string): Rng {
  return new Rng(deriveSeed(seed, tag));
}

/** Write `scale` times a fresh uniformly random unit direction into `dst[off .. off+d)`. */
export function writeRandomDirection(rng: Rng, dst: Float32Array, off: number, d: number, scale: number): void {
  let ss = 0;
  for (let i = 0; i < d; i++) {
    const v = rng.normal();
    dst[off + i] = v;
    ss += v * v;
  }
  const k = scale / Math.sqrt(ss > 0 ? ss : 1);
  for (let i = 0; i < d; i++) dst[off + i] = dst[off + i]! * k;
}

/** `n` random unit vectors of dimension `d`, row-major `[n, d]`. */
export function unitVectors(rng: Rng, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) writeRandomDirection(rng, out, r * d, d, 1);
  return out;
}

/** `dst[off + i] += scale * src[row*d + i]` for i < d. */
export function addRow(dst: Float32Array, off: number, src: Float32Array, row: number, d: number, scale = 1): void {
  const s = row * d;
  for (let i = 0; i < d; i++) dst[off + i] = dst[off + i]! + scale * src[s + i]!;
}

/** Add isotropic noise of expected norm ~`sigma` (per-coordinate std sigma/sqrt(d)) to `dst[off .. off+d)`. */
export function addNoise(rng: Rng, dst: Float32Array, off: number, d: number, sigma: number): void {
  if (sigma === 0) return;
  rng.addNormals(dst, off, d, sigma / Math.sqrt(d));
}

/** `k` distinct integers drawn uniformly from [lo, hi) (partial Fisher-Yates; order is random). */
export function sampleDistinct(rng: Rng, k: number, lo: number, hi: number): number[] {
  const n = hi - lo;
  if (k > n) throw new RangeError(`cannot draw ${k} distinct values from [${lo}, ${hi})`);
  const a = new Array<number>(n);
  for (let i = 0; i < n; i++) a[i] = lo + i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a.slice(0, k);
}

/** `k` distinct elements of `pool`, drawn uniformly (random order). */
export function choose<T>(rng: Rng, pool: readonly T[], k: number): T[] {
  return sampleDistinct(rng, k, 0, pool.length).map((i) => pool[i]!);
}

/** Integer in [lo, hi] inclusive. */
export function intIn(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

/** A class in [0, n) different from `not` (uniform over the other n-1); uniform over all when `not` < 0. */
export function otherClass(rng: Rng, n: number, not: number): number {
  if (not < 0) return rng.int(n);
  const c = rng.int(n - 1);
  return c >= not ? c + 1 : c;
}
