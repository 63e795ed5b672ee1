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
