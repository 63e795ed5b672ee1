/**
 * The base policy: a feed-forward network trained by behaviour cloning on the expert demonstrations
 * and then frozen. Its second hidden layer is the backbone feature z_t the memory arms read (the
 * stand-in for a VLA's hidden state):
 *
 *   x   = (obs - mean) / std                      (the cue channel is left as is: 0/1 values)
 *   h1  = tanh(x W1 + b1)          [hidden]
 *   z   = tanh(h1 W2 + b2)         [hidden]       <- backbone feature z_t
 *   a   = z W3 + b3                [7]            <- base action
 *
 * Trained with Adam on the mean squared action error (minibatches of steps, cosine learning-rate
 * decay, best validation epoch kept) by the project's training loop (src/train/loop.ts), on its dense /
 * activation ops (WASM SIMD).
 */
import type { Ops } from "aura-mem/ops/index";
import { runLoop, cosineLr } from "aura-mem/train/loop";
import { TrainingDivergedError } from "aura-mem/train/train";
import { glorot, constant, type ParamSet } from "aura-mem/model/params";
import { Rng } from "aura-mem/util/rng";
import { ConfigError, ShapeError } from "aura-mem/errors";
import { ACTION_DIM, OBS_DIM, OBS_LAYOUT, CUE_DIM } from "./env.js";

/** Plain, structured-clone-friendly form of a trained base policy. */
export interface BasePolicyData {
  hidden: number;
  obsMean: Float32Array;
  obsStd: Float32Array;
  params: Record<string, { shape: number[]; data: Float32Array }>;
}

/** Behaviour-cloning options. */
export interface BaseTrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  onEpoch?: (epoch: number, epochs: number, trainMse: number, valMse: number) => void;
}

export const DEFAULT_BASE_TRAIN: Omit<BaseTrainOptions, "onEpoch"> = { epochs: 30, batchSize: 256, lr: 2e-3, seed: 0 };

export class BasePolicy {
  readonly hidden: number;
  readonly params: ParamSet;
  readonly obsMean: Float32Array;
  readonly obsStd: Float32Array;

  constructor(
    private readonly ops: Ops,
    init: { hidden: number; seed: number } | BasePolicyData,
  ) {
    if ("params" in init) {
      this.hidden = init.hidden;
      this.obsMean = Float32Array.from(init.obsMean);
      this.obsStd = Float32Array.from(init.obsStd);
      this.params = {};
      for (const [k, v] of Object.entries(init.params)) this.params[k] = { shape: [...v.shape], data: Float32Array.from(v.data) };
    } else {
      if (!(Number.isInteger(init.hidden) && init.hidden >= 4)) throw new ConfigError(`hidden must be an integer >= 4, got ${init.hidden}`);
      this.hidden = init.hidden;
      const rng = new Rng(init.seed ^ 0xba5e);
      this.params = {
        W1: glorot(rng, OBS_DIM, init.hidden),
        b1: constant(init.hidden),
        W2: glorot(rng, init.hidden, init.hidden),
        b2: constant(init.hidden),
        W3: glorot(rng, init.hidden, ACTION_DIM),
        b3: constant(ACTION_DIM),
      };
      this.obsMean = new Float32Array(OBS_DIM);
      this.obsStd = new Float32Array(OBS_DIM).fill(1);
    }
  }

  /** Structured-clone-friendly copy. */
  toData(): BasePolicyData {
    const params: BasePolicyData["params"] = {};
    for (const [k, v] of Object.entries(this.params)) params[k] = { shape: [...v.shape], data: v.data.slice() };
    return { hidden: this.hidden, obsMean: this.obsMean.slice(), obsStd: this.obsStd.slice(), params };
  }

  /** Normalised inputs [N, OBS_DIM]. */
  private normalise(obs: Float32Array, N: number): Float32Array {
    if (obs.length !== N * OBS_DIM) throw new ShapeError(`obs must have N*${OBS_DIM} = ${N * OBS_DIM} values, got ${obs.length}`);
    const x = new Float32Array(obs.length);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < OBS_DIM; j++) x[i * OBS_DIM + j] = (obs[i * OBS_DIM + j]! - this.obsMean[j]!) / this.obsStd[j]!;
    }
    return x;
  }

  /** Features and base actions of N observations: z [N*hidden], action [N*7]. */
  forward(obs: Float32Array, N: number): { z: Float32Array; action: Float32Array } {
    const { dense, act } = this.ops;
    const P = this.params;
    const H = this.hidden;
    const x = this.normalise(obs, N);
    const h1 = act.tanhInPlace(dense.forward(x, P["W1"]!.data, P["b1"]!.data, N, OBS_DIM, H));
    const z = act.tanhInPlace(dense.forward(h1, P["W2"]!.data, P["b2"]!.data, N, H, H));
    const action = dense.forward(z, P["W3"]!.data, P["b3"]!.data, N, H, ACTION_DIM);
    return { z, action };
  }

  /**
   * Behaviour cloning on (obs, action) pairs; `valObs` / `valAct` pick the best epoch.
   * Sets the input normalisation from `obs` first. Returns the per-epoch MSEs.
   */
  train(
    obs: Float32Array,
    actions: Float32Array,
    valObs: Float32Array,
    valAct: Float32Array,
    o: BaseTrainOptions,
  ): { trainMse: number[]; valMse: number[]; bestEpoch: number } {
    const N = obs.length / OBS_DIM;
    if (!Number.isInteger(N) || N < 1 || actions.length !== N * ACTION_DIM) throw new ShapeError("obs / actions sizes do not match");
    this.fitNormalisation(obs, N);
    const { dense, act } = this.ops;
    const P = this.params;
    const H = this.hidden;
    const rng = new Rng(o.seed * 31 + 7);
    const order = Array.from({ length: N }, (_, i) => i);
    const xAll = this.normalise(obs, N);
    const trainMse: number[] = [];
    const valMse: number[] = [];
    const steps = Math.ceil(N / o.batchSize);
    const total = o.epochs * steps;
    let se = 0;
    // one epoch = `steps` minibatches of a fresh shuffle; validation after each epoch keeps the best
    const r = runLoop(
      P,
      { steps: total, lr: o.lr, clip: 1, lrScale: (it) => cosineLr(it, total, 0.05), evalEvery: steps, patience: 0 },
      {
        request: (it) => {
          const s = (it - 1) % steps;
          if (s === 0) rng.shuffle(order);
          return order.slice(s * o.batchSize, Math.min(N, (s + 1) * o.batchSize));
        },
        diverged: (it, loss) => new TrainingDivergedError(`behaviour cloning diverged: loss ${loss} at step ${it}`),
        validate: (it) => {
          const ep = it / steps;
          trainMse.push(se / (N * ACTION_DIM));
          se = 0;
          const v = this.mse(valObs, valAct);
          valMse.push(v);
          o.onEpoch?.(ep, o.epochs, trainMse[trainMse.length - 1]!, v);
          return v;
        },
      },
      (idx) => {
        const B = idx.length;
        const x = new Float32Array(B * OBS_DIM);
        const y = new Float32Array(B * ACTION_DIM);
        idx.forEach((r, i) => {
          x.set(xAll.subarray(r * OBS_DIM, (r + 1) * OBS_DIM), i * OBS_DIM);
          y.set(actions.subarray(r * ACTION_DIM, (r + 1) * ACTION_DIM), i * ACTION_DIM);
        });
        const h1 = act.tanhInPlace(dense.forward(x, P["W1"]!.data, P["b1"]!.data, B, OBS_DIM, H));
        const z = act.tanhInPlace(dense.forward(h1, P["W2"]!.data, P["b2"]!.data, B, H, H));
        const out = dense.forward(z, P["W3"]!.data, P["b3"]!.data, B, H, ACTION_DIM);
        const dOut = new Float32Array(out.length);
        let bse = 0;
        for (let i = 0; i < out.length; i++) {
          const d = out[i]! - y[i]!;
          se += d * d;
          bse += d * d;
          dOut[i] = (2 * d) / out.length;
        }
        const g3 = dense.backward(z, P["W3"]!.data, dOut, B, H, ACTION_DIM, true);
        const dz = act.tanhBackward(z, g3.dx!);
        const g2 = dense.backward(h1, P["W2"]!.data, dz, B, H, H, true);
        const dh1 = act.tanhBackward(h1, g2.dx!);
        const g1 = dense.backward(x, P["W1"]!.data, dh1, B, OBS_DIM, H, false);
        return { loss: bse / out.length, grads: { W1: g1.dW, b1: g1.db, W2: g2.dW, b2: g2.db, W3: g3.dW, b3: g3.db } };
      },
    );
    return { trainMse, valMse, bestEpoch: r.bestStep / steps };
  }

  /** Mean squared action error per dimension on (obs, actions). */
  mse(obs: Float32Array, actions: Float32Array): number {
    const N = obs.length / OBS_DIM;
    if (N === 0) return NaN;
    let se = 0;
    const chunk = 4096;
    for (let i0 = 0; i0 < N; i0 += chunk) {
      const n = Math.min(chunk, N - i0);
      const { action } = this.forward(obs.subarray(i0 * OBS_DIM, (i0 + n) * OBS_DIM), n);
      for (let i = 0; i < n * ACTION_DIM; i++) se += (action[i]! - actions[i0 * ACTION_DIM + i]!) ** 2;
    }
    return se / (N * ACTION_DIM);
  }

  private fitNormalisation(obs: Float32Array, N: number): void {
    const mean = new Float64Array(OBS_DIM);
    const sq = new Float64Array(OBS_DIM);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < OBS_DIM; j++) {
        const v = obs[i * OBS_DIM + j]!;
        mean[j] += v;
        sq[j] += v * v;
      }
    }
    for (let j = 0; j < OBS_DIM; j++) {
      const m = mean[j]! / N;
      const sd = Math.sqrt(Math.max(sq[j]! / N - m * m, 0));
      const isCue = j >= OBS_LAYOUT.cue && j < OBS_LAYOUT.cue + CUE_DIM;
      this.obsMean[j] = isCue ? 0 : m;
      this.obsStd[j] = isCue ? 1 : Math.max(sd, 0.02);
    }
  }
}
