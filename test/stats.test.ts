import { test } from "node:test";
import assert from "node:assert/strict";
import { meanCi95, slopeCi95, wilson95, clusteredWilson95, t95, Z95 } from "../src/bench/stats.js";
import { ConfigError, NonFiniteError } from "aura-mem/errors";

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** Student-t CDF by Simpson integration of the density (independent check of the table). */
function tCdf(t: number, v: number): number {
  const lgamma = (x: number): number => {
    const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
    x -= 1;
    let a = c[0]!;
    const tt = x + 7.5;
    for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(tt) - tt + Math.log(a);
  };
  const lc = lgamma((v + 1) / 2) - lgamma(v / 2) - 0.5 * Math.log(v * Math.PI);
  const f = (x: number) => Math.exp(lc - ((v + 1) / 2) * Math.log(1 + (x * x) / v));
  const N = 20000;
  const h = t / N;
  let s = f(0) + f(t);
  for (let i = 1; i < N; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return 0.5 + (s * h) / 3;
}

test("t95 table matches the t distribution's 0.975 quantile", () => {
  for (const df of [1, 2, 3, 4, 5, 7, 10, 15, 20, 29, 30, 31, 45, 80, 200]) {
    near(tCdf(t95(df), df), 0.975, 1e-6, `df=${df}`);
  }
  near(t95(1), 12.706, 1e-3, "t95(1)");
  near(t95(4), 2.776, 1e-3, "t95(4)");
  near(t95(30), 2.042, 1e-3, "t95(30)");
  assert.ok(t95(31) < t95(30) && t95(31) > Z95);
  near(t95(1e6), Z95, 1e-5, "large df -> normal");
  assert.throws(() => t95(0), ConfigError);
});

test("meanCi95 known values", () => {
  const r = meanCi95([1, 2, 3, 4, 5]);
  assert.equal(r.n, 5);
  assert.equal(r.mean, 3);
  // s = sqrt(2.5), se = s / sqrt(5) = 0.70711, t_{0.975,4} = 2.77645 -> half 1.96324
  near(r.ci95[0], 3 - 1.963243, 1e-5, "lo");
  near(r.ci95[1], 3 + 1.963243, 1e-5, "hi");
  const two = meanCi95([0, 1]); // s = 0.70711, se = 0.5, t1 = 12.7062 -> half 6.3531
  near(two.ci95[1] - two.mean, 6.353102, 1e-5, "n=2 half width");
  const c = meanCi95([0.5, 0.5, 0.5]);
  assert.deepEqual(c.ci95, [0.5, 0.5]);
  const d = meanCi95([0.7, 0.7, 0.7]);
  near(d.ci95[1] - d.ci95[0], 0, 1e-12, "constant values -> zero width");
});

test("meanCi95 n=1 is degenerate, errors are typed", () => {
  assert.deepEqual(meanCi95([0.42]), { mean: 0.42, ci95: [0.42, 0.42], n: 1 });
  assert.throws(() => meanCi95([]), ConfigError);
  assert.throws(() => meanCi95([1, NaN]), NonFiniteError);
  assert.throws(() => meanCi95([1, Infinity]), NonFiniteError);
});

test("meanCi95 large n uses ~normal critical value", () => {
  const xs = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 0 : 1));
  const r = meanCi95(xs);
  const se = Math.sqrt(0.25 * 1000 / 999) / Math.sqrt(1000);
  near(r.ci95[1] - r.mean, 1.9623 * se, 1e-4 * se, "half width");
});

test("wilson95 known values", () => {
  const a = wilson95(5, 10);
  assert.equal(a.p, 0.5);
  near(a.ci95[0], 0.236593, 1e-5, "5/10 lo");
  near(a.ci95[1], 0.763407, 1e-5, "5/10 hi");
  const b = wilson95(0, 10);
  assert.equal(b.ci95[0], 0);
  near(b.ci95[1], 0.277533, 1e-5, "0/10 hi");
  const c = wilson95(10, 10);
  near(c.ci95[0], 0.722467, 1e-5, "10/10 lo");
  assert.equal(c.ci95[1], 1);
  const d = wilson95(81, 263); // classic example: 0.2553 .. 0.3662
  near(d.ci95[0], 0.2553, 1e-4, "81/263 lo");
  near(d.ci95[1], 0.3662, 1e-4, "81/263 hi");
  assert.throws(() => wilson95(1, 0), ConfigError);
  assert.throws(() => wilson95(11, 10), ConfigError);
  assert.throws(() => wilson95(1.5, 10), ConfigError);
});

test("slopeCi95: an exact line has its slope and a zero-width interval; scatter widens it; n < 3 and NaN are refused", () => {
  const line = slopeCi95([1, 3, 5, 7]);
  assert.ok(Math.abs(line.slope - 2) < 1e-12);
  assert.ok(Math.abs(line.ci95[0] - 2) < 1e-9 && Math.abs(line.ci95[1] - 2) < 1e-9);
  // y = [0, 1, 0, 1]: slope 0.2, residuals -0.2, 0.6, -0.6, 0.2 (SSE 0.8, s^2 = 0.4), sxx = 5
  const noisy = slopeCi95([0, 1, 0, 1]);
  assert.ok(Math.abs(noisy.slope - 0.2) < 1e-12);
  assert.ok(Math.abs(noisy.ci95[1] - noisy.slope - t95(2) * Math.sqrt(0.4 / 5)) < 1e-12);
  assert.throws(() => slopeCi95([1, 2]));
  assert.throws(() => slopeCi95([1, NaN, 2]));
});

test("clusteredWilson95: one cluster or homogeneous clusters give the plain Wilson interval; clustered successes widen it by the design effect", () => {
  const one = clusteredWilson95([7], [19]);
  assert.deepEqual(one.ci95, wilson95(7, 19).ci95);
  assert.equal(one.designEffect, 1);
  // identical clusters: no extra variance, deff floored at 1
  const same = clusteredWilson95([5, 5], [10, 10]);
  assert.deepEqual(same.ci95, wilson95(10, 20).ci95);
  assert.equal(same.nEffective, 20);
  // all-or-nothing clusters: p = 0.5, cluster variance 2 * 50 / 400 = 0.25 vs binomial 0.0125 -> deff 20,
  // n_eff = 1: Wilson at n = 1 is 0.5 +- 1.96 sqrt(0.25 + z^2 / 4) / (1 + z^2)
  const split = clusteredWilson95([10, 0], [10, 10]);
  near(split.designEffect, 20, 1e-9, "deff");
  near(split.nEffective, 1, 1e-9, "n_eff");
  const z2 = Z95 * Z95;
  const half = (Z95 * Math.sqrt(0.25 + z2 / 4)) / (1 + z2);
  near(split.ci95[0], 0.5 - half, 1e-9, "lo");
  near(split.ci95[1], 0.5 + half, 1e-9, "hi");
  assert.equal(split.n, 20);
  assert.equal(split.clusters, 2);
  // a mild cluster effect: wider than the plain interval, same point estimate
  const mild = clusteredWilson95([9, 6, 8, 3], [10, 10, 10, 10]);
  const plain = wilson95(26, 40);
  assert.equal(mild.p, plain.p);
  assert.ok(mild.designEffect > 1);
  assert.ok(mild.ci95[0] < plain.ci95[0] && mild.ci95[1] > plain.ci95[1]);
  // 0 and all successes stay well defined
  assert.deepEqual(clusteredWilson95([0, 0], [5, 7]).ci95, wilson95(0, 12).ci95);
  assert.deepEqual(clusteredWilson95([5, 7], [5, 7]).ci95, wilson95(12, 12).ci95);
  assert.throws(() => clusteredWilson95([1], [1, 2]), ConfigError);
  assert.throws(() => clusteredWilson95([0], [0]), ConfigError);
  assert.throws(() => clusteredWilson95([3], [2]), ConfigError);
  assert.throws(() => clusteredWilson95([0.5], [2]), ConfigError);
});
