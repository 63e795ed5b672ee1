/**
 * Evaluation of an arm on fixed episodes: the task metric at query steps, writes per episode, and
 * gate selectivity P(write | event), P(write | distractor). Inference uses the hard gate.
 */
import type { SequenceModel, ForwardOptions } from "../model/model.js";
import { StepType, type EpisodeBatch } from "./batch.js";

/** Metrics of one evaluation. */
export interface EvalResult {
  /** accuracy (fraction correct at evalMask steps) or mse (in the task's reported unit, e.g. pixels^2). */
  metric: number;
  metricName: "accuracy" | "mse";
  /** Episodes evaluated. */
  episodes: number;
  /** Mean number of memory writes per episode (non-pad steps). */
  writesPerEpisode: number;
  /** Mean steps per episode (non-pad). */
  stepsPerEpisode: number;
  /** Longest episode (non-pad steps): the horizon the state must cover. */
  maxStepsPerEpisode: number;
  /** Writes / steps. */
  writeRate: number;
  /** P(write | event step), null if the task has no events. */
  pWriteEvent: number | null;
  /** P(write | distractor step), null if the task has no distractors. */
  pWriteDistractor: number | null;
  /** Write probabilities at event / distractor steps (for the selectivity histogram; subsampled to <= 2000 each). */
  pEvent: number[];
  pDistractor: number[];
}

/** Description of the metric used to score a batch. */
export interface MetricSpec {
  metric: "accuracy" | "mse";
  dAction: number;
  /** Multiply normalised mse by this for the reported unit. */
  metricScale: number;
}

/**
 * Evaluate `model` on `batches`. `gateFor(batch, index)` optionally replaces the gate by a schedule
 * (the budget-matched swap evaluation).
 */
export function evaluate(
  model: SequenceModel,
  batches: Iterable<EpisodeBatch>,
  spec: MetricSpec,
  gateFor?: (batch: EpisodeBatch, index: number) => Float32Array | undefined,
): EvalResult {
  let correct = 0;
  let counted = 0;
  let se = 0;
  let writes = 0;
  let steps = 0;
  let episodes = 0;
  let maxSteps = 0;
  let evW = 0;
  let evN = 0;
  let diW = 0;
  let diN = 0;
  const pEvent: number[] = [];
  const pDistractor: number[] = [];
  let bi = -1;
  for (const batch of batches) {
    bi++;
    const { B, T } = batch;
    const override = gateFor?.(batch, bi);
    const fr = forwardInWindows(model, batch, override);
    const A = spec.dAction;
    episodes += B;
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let t = 0; t < T; t++) if (batch.stepType[b * T + t] !== StepType.pad) n++;
      maxSteps = Math.max(maxSteps, n);
    }
    for (let i = 0; i < B * T; i++) {
      const st = batch.stepType[i]!;
      if (st === StepType.pad) continue;
      steps++;
      writes += fr.g[i]!;
      if (st === StepType.event) {
        evW += fr.g[i]!;
        evN++;
        if (pEvent.length < 2000) pEvent.push(fr.p[i]!);
      } else if (st === StepType.distractor) {
        diW += fr.g[i]!;
        diN++;
        if (pDistractor.length < 2000) pDistractor.push(fr.p[i]!);
      }
      if (!(batch.evalMask[i]! > 0)) continue;
      if (spec.metric === "accuracy") {
        const y = batch.label![i]!;
        if (y < 0) continue;
        let best = 0;
        for (let j = 1; j < A; j++) if (fr.out[i * A + j]! > fr.out[i * A + best]!) best = j;
        correct += best === y ? 1 : 0;
        counted++;
      } else {
        for (let j = 0; j < A; j++) se += (fr.out[i * A + j]! - batch.target![i * A + j]!) ** 2;
        counted += A;
      }
    }
  }
  const metric = counted === 0 ? NaN : spec.metric === "accuracy" ? correct / counted : (se / counted) * spec.metricScale;
  return {
    metric,
    metricName: spec.metric,
    episodes,
    writesPerEpisode: episodes ? writes / episodes : 0,
    stepsPerEpisode: episodes ? steps / episodes : 0,
    maxStepsPerEpisode: maxSteps,
    writeRate: steps ? writes / steps : 0,
    pWriteEvent: evN ? evW / evN : null,
    pWriteDistractor: diN ? diW / diN : null,
    pEvent,
    pDistractor,
  };
}

/** Longest window one forward pass of {@link evaluate} covers; longer episodes run window by window. */
export const EVAL_WINDOW_STEPS = 4096;

/**
 * The inference forward over a whole batch, run in windows of at most {@link EVAL_WINDOW_STEPS} steps
 * with the memory state carried from one to the next (identical to one forward over the episode:
 * streaming equals batch), so a 10^6-step episode needs memory for one window of activations only.
 * Returns the concatenated out [B*T*dAction], g and p [B*T].
 */
export function forwardInWindows(
  model: SequenceModel,
  batch: EpisodeBatch,
  gateOverride?: Float32Array,
): { out: Float32Array; g: Float32Array; p: Float32Array } {
  const { B, T, dModel } = batch;
  if (T <= EVAL_WINDOW_STEPS) {
    const opts: ForwardOptions = { validate: false };
    if (gateOverride) opts.gateOverride = gateOverride;
    return model.forward(batch.z, B, T, opts);
  }
  const A = model.spec.config.dAction;
  const out = new Float32Array(B * T * A);
  const g = new Float32Array(B * T);
  const p = new Float32Array(B * T);
  let state = model.initState(B);
  for (let t0 = 0; t0 < T; t0 += EVAL_WINDOW_STEPS) {
    const W = Math.min(EVAL_WINDOW_STEPS, T - t0);
    const z = new Float32Array(B * W * dModel);
    for (let b = 0; b < B; b++) z.set(batch.z.subarray((b * T + t0) * dModel, (b * T + t0 + W) * dModel), b * W * dModel);
    const opts: ForwardOptions = { validate: false, initialState: state };
    if (gateOverride) {
      const go = new Float32Array(B * W);
      for (let b = 0; b < B; b++) go.set(gateOverride.subarray(b * T + t0, b * T + t0 + W), b * W);
      opts.gateOverride = go;
    }
    const fr = model.forward(z, B, W, opts);
    state = fr.finalState;
    for (let b = 0; b < B; b++) {
      out.set(fr.out.subarray(b * W * A, (b + 1) * W * A), (b * T + t0) * A);
      g.set(fr.g.subarray(b * W, (b + 1) * W), b * T + t0);
      p.set(fr.p.subarray(b * W, (b + 1) * W), b * T + t0);
    }
  }
  return { out, g, p };
}

/** True if metric a is better than b for this metric kind. */
export function better(metric: "accuracy" | "mse", a: number, b: number): boolean {
  if (Number.isNaN(b)) return !Number.isNaN(a);
  return metric === "accuracy" ? a > b : a < b;
}
