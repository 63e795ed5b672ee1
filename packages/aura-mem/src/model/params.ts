/** Named parameters: `{ name: { shape, data } }`, plain data that checkpoints and optimisers share. */
import { Rng } from "../util/rng.js";

/** One parameter tensor, row-major. */
export interface Param {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}
/** A model's parameters by name (insertion order is the canonical order). */
export type ParamSet = Record<string, Param>;
/** Gradients, same names and lengths as the parameters. */
export type GradSet = Record<string, Float32Array>;

/** Total number of scalar parameters. */
export function countParams(p: ParamSet): number {
  let n = 0;
  for (const k of Object.keys(p)) n += p[k]!.data.length;
  return n;
}

/** Glorot-uniform matrix [fanIn, fanOut]. */
export function glorot(rng: Rng, fanIn: number, fanOut: number): Param {
  const lim = Math.sqrt(6 / (fanIn + fanOut));
  const data = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < data.length; i++) data[i] = (rng.uniform() * 2 - 1) * lim;
  return { shape: [fanIn, fanOut], data };
}

/** Constant vector. */
export function constant(n: number, value = 0): Param {
  return { shape: [n], data: new Float32Array(n).fill(value) };
}

/** Deep copy (for best-checkpoint keeping and tests). */
export function cloneParams(p: ParamSet): ParamSet {
  const out: ParamSet = {};
  for (const k of Object.keys(p)) out[k] = { shape: [...p[k]!.shape], data: p[k]!.data.slice() };
  return out;
}

/** Copy values of `src` into `dst` in place (same names and shapes); marks `dst` written ({@link markWritten}). */
export function assignParams(dst: ParamSet, src: ParamSet): void {
  for (const k of Object.keys(dst)) {
    const s = src[k];
    if (!s || s.data.length !== dst[k]!.data.length) throw new Error(`parameter ${k} missing or resized`);
    dst[k]!.data.set(s.data);
  }
  markWritten(dst);
}

// Write versions of parameter tensors, keyed by their value arrays (so views of a model that share
// its tensors, such as `SequenceModel.withWriteDecay`, share the versions too).
const writeVersions = new WeakMap<Float32Array, number>();
let writeClock = 0;

/**
 * Record that the values of these parameters were written in place. Copies of parameters (the fused
 * step engine's resident weights, src/deploy/step_engine.ts) compare {@link writeVersion}s and are
 * re-made when one changed. Every writer in the library calls it (the optimiser step,
 * {@link assignParams}, checkpoint loading); code that writes `param.data` itself must call it too
 * (or `SequenceModel.paramsChanged()`).
 */
export function markWritten(p: ParamSet): void {
  const v = ++writeClock;
  for (const k of Object.keys(p)) writeVersions.set(p[k]!.data, v);
}

/** Write version of one parameter tensor's values: 0 until {@link markWritten} names it, then strictly increasing. */
export function writeVersion(data: Float32Array): number {
  return writeVersions.get(data) ?? 0;
}

/** Zero gradients for a parameter set. */
export function zerosLike(p: ParamSet): GradSet {
  const g: GradSet = {};
  for (const k of Object.keys(p)) g[k] = new Float32Array(p[k]!.data.length);
  return g;
}
