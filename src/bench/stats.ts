/**
 * Small-sample statistics for benchmark reports: Student-t confidence intervals of a mean and Wilson
 * score intervals of a proportion. Everything is computed in float64 and validated (typed errors).
 */
import { ConfigError, NonFiniteError } from "aura-mem/errors";

/** Two-sided 95% normal critical value, Phi^{-1}(0.975). */
export const Z95 = 1.959963984540054;

/** Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30 (index df - 1). */
const T95_TABLE: readonly number[] = [
  12.706204736174698, 4.302652729749464, 3.182446305284263, 2.7764451051977934, 2.570581835636314,
  2.4469118511449692, 2.3646242515927844, 2.306004135204166, 2.2621571628540993, 2.2281388519862744,
  2.2009851600916384, 2.1788128296672284, 2.1603686564627926, 2.1447866879178044, 2.131449545559774,
  2.1199052992212533, 2.1098155778333156, 2.100922040241039, 2.093024054408307, 2.0859634472658626,
  2.0796138447276835, 2.073873067904019, 2.068657610419041, 2.063898561628021, 2.0595385527532977,
  2.055529438642871, 2.0518305164802833, 2.048407141795244, 2.0452296421327034, 2.0422724563012373,
];

/**
 * The sample median (the mean of the two middle values for an even count; bench/timing.ts `median`, the upper
 * middle, is for timings). NaN for an empty list.
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const v = [...xs].sort((a, b) => a - b);
  const h = v.length >> 1;
  return v.length % 2 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
}

/**
 * t_{0.975, df}: the exact table for df <= 30; above that the Cornish-Fisher expansion of the t
 * quantile around the normal one (error < 1e-5 for df > 30), which tends to 1.96 as df grows
 * (e.g. 2.021 at df = 40, 1.984 at df = 100).
 */
export function t95(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new ConfigError(`t95: df must be a positive integer, got ${df}`);
  if (df <= 30) return T95_TABLE[df - 1]!;
  const z = Z95;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
  );
}

/** @throws NonFiniteError naming the first entry of `xs` that is not a finite number. */
function checkFinite(name: string, xs: readonly number[]): void {
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (typeof v !== "number" || !Number.isFinite(v)) throw new NonFiniteError(`${name}[${i}] is ${v}`);
  }
}

export interface MeanCi {
  mean: number;
  ci95: [number, number];
  n: number;
}

/**
 * Mean and two-sided 95% Student-t confidence interval, mean +- t_{0.975, n-1} * s / sqrt(n), with s
 * the sample standard deviation (n - 1 denominator). With n = 1 there is no spread estimate and the
 * interval is degenerate: ci95 = [mean, mean] (report n alongside it). Empty input -> ConfigError,
 * NaN/Inf -> NonFiniteError.
 */
export function meanCi95(xs: readonly number[]): MeanCi {
  const n = xs.length;
  if (n === 0) throw new ConfigError("meanCi95: need at least one value");
  checkFinite("meanCi95: xs", xs);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += xs[i]!;
  const mean = sum / n;
  if (n === 1) return { mean, ci95: [mean, mean], n };
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i]! - mean;
    ss += d * d;
  }
  const sd = Math.sqrt(ss / (n - 1));
  const half = (t95(n - 1) * sd) / Math.sqrt(n);
  return { mean, ci95: [mean - half, mean + half], n };
}

/** Least-squares slope of a series against its index, with a 95% interval: {@link slopeCi95}. */
export interface SlopeCi {
  /** Change per step of the index. */
  slope: number;
  ci95: [number, number];
  n: number;
}

/**
 * Ordinary least-squares slope of `ys` against x = 0..n-1 and its two-sided 95% Student-t interval,
 * slope +- t_{0.975, n-2} * s / sqrt(sum (x - mean x)^2), with s the residual standard deviation
 * (n - 2 denominator): a trend test over windows that uses the windows' own scatter. Needs n >= 3
 * (ConfigError); NaN/Inf -> NonFiniteError.
 */
export function slopeCi95(ys: readonly number[]): SlopeCi {
  const n = ys.length;
  if (n < 3) throw new ConfigError(`slopeCi95: need at least 3 values, got ${n}`);
  checkFinite("slopeCi95: ys", ys);
  const xm = (n - 1) / 2;
  let ym = 0;
  for (const y of ys) ym += y;
  ym /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (i - xm) * (i - xm);
    sxy += (i - xm) * (ys[i]! - ym);
  }
  const slope = sxy / sxx;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const r = ys[i]! - (ym + slope * (i - xm));
    sse += r * r;
  }
  const half = t95(n - 2) * Math.sqrt(sse / (n - 2) / sxx);
  return { slope, ci95: [slope - half, slope + half], n };
}

export interface ProportionCi {
  p: number;
  ci95: [number, number];
  n: number;
}

/**
 * Wilson score 95% interval of a binomial proportion (well behaved at 0 and n successes, unlike the
 * Wald interval). `successes` must be an integer in [0, n], n >= 1.
 */
export function wilson95(successes: number, n: number): ProportionCi {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`wilson95: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > n) {
    throw new ConfigError(`wilson95: successes must be an integer in [0, ${n}], got ${successes}`);
  }
  const p = successes / n;
  const [lo, hi] = wilsonBounds(p, n);
  return { p, ci95: [successes === 0 ? 0 : lo, successes === n ? 1 : hi], n };
}

/** The Wilson score 95% bounds of a proportion p at a (possibly fractional, effective) size n > 0, clipped to [0, 1]. */
function wilsonBounds(p: number, n: number): [number, number] {
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** A proportion over clustered trials (e.g. cues within episodes) with its cluster-adjusted Wilson interval. */
export interface ClusteredProportionCi extends ProportionCi {
  /** Number of clusters (episodes). */
  clusters: number;
  /** Design effect: the cluster-robust variance of p over the binomial one (>= 1; 1 when both are 0). */
  designEffect: number;
  /** n / designEffect: the independent trials the clustered ones are worth. */
  nEffective: number;
}

/**
 * Wilson 95% interval of a proportion whose trials come in clusters (cues within one episode share the
 * robot's state, so they are not independent): p = sum(s_i) / sum(n_i); the cluster-robust variance of
 * this ratio estimator, k / (k - 1) * sum_i (s_i - p n_i)^2 / n^2 over k clusters, divided by the
 * binomial p (1 - p) / n gives the design effect deff (Kish; floored at 1, so clustering never
 * narrows the interval); the Wilson interval is then taken at the effective size n / deff. With one
 * cluster it is the plain Wilson interval.
 * @param successes per cluster, integers >= 0; @param trials per cluster, integers >= successes.
 * @throws ConfigError on mismatched lengths, no trials, or a count that is not a non-negative integer.
 */
export function clusteredWilson95(successes: readonly number[], trials: readonly number[]): ClusteredProportionCi {
  if (successes.length !== trials.length) throw new ConfigError(`clusteredWilson95: ${successes.length} success counts for ${trials.length} clusters`);
  let S = 0;
  let N = 0;
  for (let i = 0; i < trials.length; i++) {
    const s = successes[i]!;
    const n = trials[i]!;
    if (!Number.isInteger(n) || n < 0 || !Number.isInteger(s) || s < 0 || s > n) {
      throw new ConfigError(`clusteredWilson95: cluster ${i} has ${s} successes of ${n} trials`);
    }
    S += s;
    N += n;
  }
  if (N < 1) throw new ConfigError("clusteredWilson95: no trials");
  const k = trials.length;
  const base = wilson95(S, N);
  const p = S / N;
  const binom = (p * (1 - p)) / N;
  let deff = 1;
  if (k > 1 && binom > 0) {
    let ss = 0;
    for (let i = 0; i < k; i++) ss += (successes[i]! - p * trials[i]!) ** 2;
    deff = Math.max(1, (k / (k - 1)) * (ss / (N * N)) / binom);
  }
  const ne = N / deff;
  if (deff === 1) return { ...base, clusters: k, designEffect: 1, nEffective: N };
  return { p, ci95: wilsonBounds(p, ne), n: N, clusters: k, designEffect: deff, nEffective: ne };
}
