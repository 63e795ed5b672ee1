/**
 * Budget-matched write schedules for the `random` and `periodic` arms: the gate is replaced by a
 * schedule that writes at the same average rate as AURA's learned gate, but ignores the observation.
 * Deterministic in (phaseSeed, t) so a streaming control loop and a batch forward agree.
 */

/** 32-bit integer hash of two integers (murmur3 finaliser on a combined key). */
export function hash32(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Kinds of observation-blind schedules. */
export type ScheduleKind = "random" | "periodic";

/**
 * Gate value (0 or 1) of a schedule at absolute step `t`.
 * - random: Bernoulli(rate), i.i.d. over steps (hash of (phaseSeed, t));
 * - periodic: evenly spaced writes at exactly `rate` per step: g_t = floor((t+1) rate + u) - floor(t rate + u),
 *   with the phase u in [0, 1) drawn from phaseSeed (period 1/rate, which need not be an integer).
 * rate <= 0 never writes; rate >= 1 always writes.
 */
export function scheduleGate(kind: ScheduleKind, rate: number, phaseSeed: number, t: number): 0 | 1 {
  if (rate <= 0) return 0;
  if (rate >= 1) return 1;
  if (kind === "random") return hash32(phaseSeed, t) / 4294967296 < rate ? 1 : 0;
  const u = hash32(phaseSeed, 0x5eed) / 4294967296;
  return Math.floor((t + 1) * rate + u) - Math.floor(t * rate + u) > 0 ? 1 : 0;
}

/** Schedule for a batch: g [B*T] for rows with phase seeds `seeds` [B], steps t0 .. t0+T-1. */
export function scheduleBatch(kind: ScheduleKind, rate: number, seeds: ArrayLike<number>, T: number, t0 = 0): Float32Array {
  const B = seeds.length;
  const g = new Float32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) g[b * T + t] = scheduleGate(kind, rate, seeds[b]!, t0 + t);
  return g;
}
