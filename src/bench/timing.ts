/**
 * Timing helper of the speed benchmarks: median wall time over repetitions after a warm-up.
 */

/** Median wall time (ms) of `fn` over `reps` runs after `warmup` runs. */
export function timeMs(fn: () => void, reps: number, warmup = 1): { median: number; min: number; reps: number } {
  for (let i = 0; i < warmup; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, min: xs[0]!, reps };
}

/** Median of a list of timings (the upper middle for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time (ms) of `fn` over at least `minReps` runs and `minMs` milliseconds, after `warmup` runs. */
export function timeFor(fn: () => void, minMs: number, minReps = 3, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  const t0 = performance.now();
  while (ts.length < minReps || performance.now() - t0 < minMs) {
    const a = performance.now();
    fn();
    ts.push(performance.now() - a);
  }
  return median(ts);
}
