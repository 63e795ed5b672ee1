/**
 * The training loop, once: step, schedule, divergence check, gradient clipping, Adam, validation,
 * early stopping and best-checkpoint restore. Every trainer in the project goes through it:
 * `train()` (src/train/train.ts), data-parallel training (src/train/data_parallel.ts, where the
 * gradient comes from worker threads) and the sim's behaviour cloning (src/sim/policy.ts).
 *
 * What differs between them is a hook, not a copy of the loop:
 *   - `request(step)`  what the step's objective is computed on (a batch and its forward mode);
 *   - the objective itself, computed by the driver: {@link runLoop} calls a synchronous function in
 *     this thread, {@link runLoopAsync} awaits one (worker threads). The loop is a generator that
 *     yields each request and receives the objective, so both drivers run the same code;
 *   - `afterObjective` (e.g. recon-gate's threshold tracking), `validate`, `snapshot` / `restore`
 *     (state kept with the best parameters beside them), `onStep`.
 */
import type { GradSet, ParamSet } from "../model/params.js";
import { cloneParams, assignParams } from "../model/params.js";
import { Adam, clipGlobalNorm } from "./adam.js";

/** What a step's objective must provide: its loss and the gradients to apply. */
export interface StepObjective {
  loss: number;
  grads: GradSet;
}

/** Schedule and optimiser settings of the loop. */
export interface LoopOptions {
  /** Optimiser steps. */
  steps: number;
  /** Adam learning rate. */
  lr: number;
  /** Global-norm gradient clipping (0 = off). */
  clip: number;
  /** Learning-rate multiplier of step `step` (1-based). */
  lrScale(step: number): number;
  /** Validate every this many steps (0 = only after the last step). */
  evalEvery: number;
  /** Stop after this many validations without improvement (0 = never stop early). */
  patience: number;
}

/** The hooks of one trainer; `R` is what a step's objective is computed on, `O` the objective. */
export interface LoopHooks<R, O extends StepObjective> {
  /** What step `step` computes its objective on (sampled here, so its time counts as step time). */
  request(step: number): R;
  /** The error to throw when the loss is not finite (the best parameters are restored first). */
  diverged(step: number, loss: number, bestStep: number): Error;
  /** Called with the objective before clipping and the optimiser step. */
  afterObjective?(step: number, obj: O): void;
  /** Validation metric of the current parameters; absent = no validation, the last parameters are kept. */
  validate?(step: number): number;
  /** Whether validation metric `a` is better than the best so far `b` (NaN before the first). */
  better?(a: number, b: number): boolean;
  /** State kept beside the best parameters (e.g. recon-gate's tau) and how to put it back. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** Called after every step (after validation, if any). */
  onStep?(step: number, obj: O, gradNorm: number, val: number | undefined): void;
}

/** Outcome of the loop; the parameters hold the best-validation values afterwards (with validation). */
export interface LoopResult {
  stepsRun: number;
  bestStep: number;
  /** Best validation metric (NaN without validation). */
  bestVal: number;
  stoppedEarly: boolean;
  /** Wall time of the training steps (request, objective, optimiser), without validation, ms. */
  stepMs: number;
}

/** Cosine decay of the learning-rate multiplier from 1 to `floor` over `total` steps, at `x` steps done. */
export function cosineLr(x: number, total: number, floor: number): number {
  return floor + (1 - floor) * 0.5 * (1 + Math.cos((Math.PI * x) / total));
}

/**
 * The loop as a generator: yields each step's request, receives its objective, returns the result.
 * Use {@link runLoop} or {@link runLoopAsync} to drive it.
 */
export function* trainLoop<R, O extends StepObjective>(params: ParamSet, o: LoopOptions, h: LoopHooks<R, O>): Generator<R, LoopResult, O> {
  const adam = new Adam(params, { lr: o.lr });
  const better = h.better ?? ((a: number, b: number) => Number.isNaN(b) ? !Number.isNaN(a) : a < b);
  let best: ParamSet = cloneParams(params);
  let bestState = h.snapshot?.();
  let bestVal = NaN;
  let bestStep = 0;
  let sinceBest = 0;
  let stoppedEarly = false;
  let stepsRun = 0;
  let stepMs = 0;
  for (let step = 1; step <= o.steps; step++) {
    const ts = performance.now();
    const obj: O = yield h.request(step);
    if (!Number.isFinite(obj.loss)) {
      assignParams(params, best);
      throw h.diverged(step, obj.loss, bestStep);
    }
    h.afterObjective?.(step, obj);
    const gradNorm = clipGlobalNorm(obj.grads, o.clip);
    adam.step(obj.grads, o.lrScale(step));
    stepMs += performance.now() - ts;
    stepsRun = step;
    let val: number | undefined;
    if (h.validate && ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps)) {
      val = h.validate(step);
      if (better(val, bestVal)) {
        bestVal = val;
        bestStep = step;
        best = cloneParams(params);
        bestState = h.snapshot?.();
        sinceBest = 0;
      } else sinceBest++;
    }
    h.onStep?.(step, obj, gradNorm, val);
    if (o.patience > 0 && sinceBest >= o.patience) {
      stoppedEarly = true;
      break;
    }
  }
  if (h.validate) {
    assignParams(params, best);
    h.restore?.(bestState);
  }
  return { stepsRun, bestStep, bestVal, stoppedEarly, stepMs };
}

/** Run the loop with the objective computed in this thread. */
export function runLoop<R, O extends StepObjective>(params: ParamSet, o: LoopOptions, h: LoopHooks<R, O>, objective: (req: R) => O): LoopResult {
  const it = trainLoop(params, o, h);
  for (let r = it.next(); ; ) {
    if (r.done) return r.value;
    r = it.next(objective(r.value));
  }
}

/** Run the loop with an asynchronous objective (e.g. computed by worker threads). */
export async function runLoopAsync<R, O extends StepObjective>(
  params: ParamSet,
  o: LoopOptions,
  h: LoopHooks<R, O>,
  objective: (req: R) => Promise<O>,
): Promise<LoopResult> {
  const it = trainLoop(params, o, h);
  for (let r = it.next(); ; ) {
    if (r.done) return r.value;
    r = it.next(await objective(r.value));
  }
}
