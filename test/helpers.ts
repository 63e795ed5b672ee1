/**
 * Shared test utilities: honest numeric comparison (fla's assert_close without the soft pass),
 * central finite differences, and optional inputs that skip locally but fail under CI=true.
 */
import assert from "node:assert/strict";
import { test, type TestOptions, type TestFn } from "node:test";

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

/**
 * Elementwise |got - ref| <= tol (1 + |ref|), failing on a non-finite `got` or a length mismatch;
 * returns the max absolute difference (used where write decisions must match exactly and the
 * continuous outputs closely: the fused step kernel, the ONNX graph).
 */
export function near(name: string, ref: ArrayLike<number>, got: ArrayLike<number>, tol = 1e-5): number {
  assert.equal(got.length, ref.length, `${name}: length ${got.length} vs ${ref.length}`);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const g = got[i]!;
    assert.ok(Number.isFinite(g), `${name}[${i}] is ${g}`);
    const d = Math.abs(g - r);
    assert.ok(d <= tol * (1 + Math.abs(r)), `${name}[${i}]: got ${g} vs reference ${r} (|diff| ${d.toExponential(2)})`);
    worst = Math.max(worst, d);
  }
  return worst;
}

/** True under CI=true (or CI=1): a missing optional input then fails the test instead of skipping it. */
export const IN_CI = process.env["CI"] === "true" || process.env["CI"] === "1";

/** An input some tests need that a developer's machine may lack (a package, a model, a data set). */
export interface OptionalInput {
  /** What it is, e.g. "onnxruntime-node". */
  name: string;
  present: boolean;
  /** Where it should be / how to get it. */
  hint: string;
}

/** The message of a missing input; the test fails with it under CI=true and is skipped with it otherwise. */
function missingMessage(input: OptionalInput): string {
  return IN_CI ? `${input.name} missing (CI=true): ${input.hint}` : `${input.name} absent: ${input.hint} (fails instead of skipping when CI=true)`;
}

/**
 * Inside a test: when `input` is missing, fail (CI=true) or skip the test saying why, and return true
 * (the caller returns). Returns false when the input is present.
 */
export function missingInput(t: { skip(message?: string): void }, input: OptionalInput): boolean {
  if (input.present) return false;
  if (IN_CI) assert.fail(missingMessage(input));
  t.skip(missingMessage(input));
  return true;
}

/** `test(name, options, fn)` for a test that needs `input`: skipped when it is missing, failed instead under CI=true. */
export function testNeeding(input: OptionalInput, name: string, options: Omit<TestOptions, "skip">, fn: TestFn): void {
  if (input.present) test(name, options, fn);
  else if (IN_CI) test(name, options, () => assert.fail(missingMessage(input)));
  else test(name, { ...options, skip: missingMessage(input) }, fn);
}
