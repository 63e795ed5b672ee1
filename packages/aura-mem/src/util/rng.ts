/**
 * Seeded pseudo-random numbers (xoshiro128**, seeded through splitmix32). Every task, initialiser and
 * schedule takes an explicit `Rng` so that runs are reproducible from a seed; there is no global RNG.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The second normal of the last polar pair, valid while `hasSpare` (a number field and a flag: V8 keeps both unboxed). */
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** Standard normal (Marsaglia polar method: no trigonometry, one log and one sqrt per pair). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = this.uniform() * 2 - 1;
      v = this.uniform() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    this.hasSpare = true;
    return u * f;
  }
  /** `dst[off + i] += scale * normal()` for i < n (the task generators' noise): the same draws as n calls of {@link normal}. */
  addNormals(dst: Float32Array, off: number, n: number, scale: number): void {
    for (let i = 0; i < n; i++) dst[off + i] = dst[off + i]! + scale * this.normal();
  }
  /** Fill a new Float32Array of length n with N(0, std^2). */
  normals(n: number, std = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.normal() * std;
    return a;
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
  /** A new independent generator derived from this one (for per-episode / per-worker streams). */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
