/**
 * Shared test utilities: honest numeric comparison (fla's assert_close without the soft pass) and
 * central finite differences.
 */
import assert from "node:assert/strict";

/** RMSE(ref, got) / RMS(ref) and max |ref - got|, failing on NaN/Inf or on a length mismatch. */
export function closeness(ref: ArrayLike<number>, got: ArrayLike<number>): { relRmse: number; maxAbs: number } {
  assert.equal(got.length, ref.length, `length mismatch: ref ${ref.length} vs got ${got.length}`);
  let se = 0;
  let ss = 0;
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const g = got[i]!;
    assert.ok(Number.isFinite(r), `ref[${i}] is ${r}`);
    assert.ok(Number.isFinite(g), `got[${i}] is ${g}`);
    const d = r - g;
    se += d * d;
    ss += r * r;
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  const n = Math.max(ref.length, 1);
  const rms = Math.sqrt(ss / n);
  const rmse = Math.sqrt(se / n);
  return { relRmse: rms > 0 ? rmse / rms : rmse, maxAbs };
}

/**
 * Assert that `got` matches `ref`: relative RMSE <= tol, and max-abs error <= atol + tol * max|ref|
 * (so a single badly wrong element fails even when the RMSE is small).
 */
export function assertClose(name: string, ref: ArrayLike<number>, got: ArrayLike<number>, tol: number, atol = 1e-6): void {
  const { relRmse, maxAbs } = closeness(ref, got);
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  assert.ok(relRmse <= tol, `${name}: relative RMSE ${relRmse.toExponential(3)} > ${tol}`);
  assert.ok(maxAbs <= atol + tol * maxRef * 10, `${name}: max abs error ${maxAbs.toExponential(3)} (max |ref| ${maxRef.toExponential(3)})`);
}

/**
 * Central finite-difference gradient of a scalar loss w.r.t. chosen entries of `x` (in place
 * perturbation, restored afterwards). Uses float64 loss evaluation where the caller provides it.
 */
export function finiteDiff(loss: () => number, x: Float32Array | Float64Array, idx: readonly number[], h = 1e-3): number[] {
  const out: number[] = [];
  for (const i of idx) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const lp = loss();
    x[i] = x0 - h;
    const lm = loss();
    x[i] = x0;
    out.push((lp - lm) / (2 * h));
  }
  return out;
}

/** A few indices spread over [0, n): always includes the first and last. */
export function sampleIdx(n: number, count: number, seed = 1): number[] {
  const s = new Set<number>([0, n - 1]);
  let x = seed;
  while (s.size < Math.min(count, n)) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s.add(x % n);
  }
  return [...s].sort((a, b) => a - b);
}
