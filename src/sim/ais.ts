/**
 * The approximate-information-state (AIS) reading of AURA's memory (Subramanian, Sinha, Seraj &
 * Mahajan, "Approximate information state for approximate planning and reinforcement learning in
 * partially observed systems", JMLR 23, 2022), instantiated with constants estimated from the
 * closed-loop rollouts. docs/sim.md gives the derivation; in short:
 *
 *   eps_t   = || a_t^AURA - a_t^KV ||_2      action gap between the AURA policy and the full-history
 *             (kv-cache) policy on the same histories (AURA's rollouts, both arms fed the same z_t)
 *   delta_t = || s'(a^AURA) - s'(a^KV) ||_2  gap between the next states (TCP + cube positions, m)
 *             reached from the same state by the two actions: the Wasserstein-1 distance of the two
 *             next-state distributions (the simulator is deterministic), measured by one-step probes
 *   L_V     = 1 / m                          Lipschitz constant of the value (success in [0, 1]) in
 *             the positions, from the median placement margin m of successful AURA episodes (moving
 *             a placed cube by m flips success)
 *   reward mismatch eps_r = 0                (both policies are scored by the same final-state check)
 *
 * Finite horizon T, undiscounted: alpha = sum_t (eps_r + L_V * E[delta_t]) ~= T * L_V * mean(delta),
 * and the AIS value-loss bound |V* - V^AIS| <= 2 alpha. Discounted form (gamma = 0.99, sup over steps
 * read as the q95): alpha_gamma = (eps_r + gamma * L_V * q95(delta)) / (1 - gamma), bound 2 alpha_gamma.
 * A bound >= 1 is vacuous (success lies in [0, 1]).
 */
import type { EpisodeOutcome } from "./rollout.js";
import { ZONE_RADIUS } from "./scene.js";

export interface AisResult {
  episodes: number;
  steps: number;
  /** Action gap AURA vs kv-cache (7-D L2, action units). */
  epsMean: number;
  epsQ95: number;
  epsMax: number;
  /** One-step probes and their next-state gap (m). */
  probes: number;
  deltaMean: number;
  deltaQ95: number;
  /** q95 of delta / eps over probes with eps > 1e-6 (m per action unit): the measured Lipschitz constant of the step. */
  lipschitzStep: number;
  /** Median placement margin (m) of successful AURA episodes, and L_V = 1 / margin. */
  margin: number;
  marginFrom: "aura-successes" | "zone-radius";
  lipschitzValue: number;
  horizon: number;
  gamma: number;
  /** Finite-horizon alpha and bound 2 alpha. */
  alpha: number;
  bound: number;
  /** Discounted alpha and bound. */
  alphaDiscounted: number;
  boundDiscounted: number;
  /** Whether the finite-horizon bound is >= 1 (the value range): then it says nothing. */
  vacuous: boolean;
  /** Measured success rates of the two arms (what the bound is about). */
  successAura: number;
  successKv: number;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The AIS figures from AURA's episodes (with their `ais` probes) and the kv-cache arm's episodes. */
export function aisEstimate(aura: EpisodeOutcome[], kv: EpisodeOutcome[], horizon: number, gamma = 0.99): AisResult {
  const eps = aura.flatMap((e) => e.ais?.eps ?? []);
  const delta = aura.flatMap((e) => e.ais?.delta ?? []);
  const epsAt = aura.flatMap((e) => e.ais?.epsAtDelta ?? []);
  const ratios = delta.map((d, i) => (epsAt[i]! > 1e-6 ? d / epsAt[i]! : NaN)).filter((x) => Number.isFinite(x));
  const margins = aura.filter((e) => e.success).map((e) => e.margin);
  const margin = margins.length ? Math.max(quantile(margins, 0.5), 1e-3) : ZONE_RADIUS;
  const lv = 1 / margin;
  const dMean = mean(delta);
  const dQ95 = quantile(delta, 0.95);
  const alpha = horizon * lv * dMean;
  const alphaDiscounted = (gamma * lv * dQ95) / (1 - gamma);
  return {
    episodes: aura.length,
    steps: eps.length,
    epsMean: mean(eps),
    epsQ95: quantile(eps, 0.95),
    epsMax: eps.length ? Math.max(...eps) : NaN,
    probes: delta.length,
    deltaMean: dMean,
    deltaQ95: dQ95,
    lipschitzStep: quantile(ratios, 0.95),
    margin,
    marginFrom: margins.length ? "aura-successes" : "zone-radius",
    lipschitzValue: lv,
    horizon,
    gamma,
    alpha,
    bound: 2 * alpha,
    alphaDiscounted,
    boundDiscounted: 2 * alphaDiscounted,
    vacuous: !(2 * alpha < 1),
    successAura: mean(aura.map((e) => (e.success ? 1 : 0))),
    successKv: mean(kv.map((e) => (e.success ? 1 : 0))),
  };
}
