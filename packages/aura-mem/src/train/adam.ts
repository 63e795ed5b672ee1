/** Adam (Kingma & Ba 2015) with bias correction, and global-norm gradient clipping. */
import { markWritten, type GradSet, type ParamSet } from "../model/params.js";

/** Adam hyper-parameters. */
export interface AdamOptions {
  /** Learning rate. Default 3e-3. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Adam over a ParamSet; updates the parameters in place. Its moments are explicit state. */
export class Adam {
  readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly m: GradSet = {};
  private readonly v: GradSet = {};
  private t = 0;

  constructor(private params: ParamSet, opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 3e-3;
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    for (const k of Object.keys(params)) {
      this.m[k] = new Float32Array(params[k]!.data.length);
      this.v[k] = new Float32Array(params[k]!.data.length);
    }
  }

  /** One update with gradients `grads` (same names as the parameters), optionally a scaled lr; marks the parameters written. */
  step(grads: GradSet, lrScale = 1): void {
    this.t++;
    const lr = (this.lr * lrScale * Math.sqrt(1 - this.b2 ** this.t)) / (1 - this.b1 ** this.t);
    for (const k of Object.keys(this.params)) {
      const p = this.params[k]!.data;
      const g = grads[k];
      if (!g) continue;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = this.b1 * m[i]! + (1 - this.b1) * gi;
        v[i] = this.b2 * v[i]! + (1 - this.b2) * gi * gi;
        p[i] = p[i]! - (lr * m[i]!) / (Math.sqrt(v[i]!) + this.eps);
      }
    }
    markWritten(this.params);
  }
}

/** Scale gradients in place so their global L2 norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGlobalNorm(grads: GradSet, maxNorm: number): number {
  let ss = 0;
  for (const k of Object.keys(grads)) {
    const g = grads[k]!;
    for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / norm;
    for (const k of Object.keys(grads)) {
      const g = grads[k]!;
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * s;
    }
  }
  return norm;
}
