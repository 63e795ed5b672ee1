/**
 * The AURA model written in @tensorflow/tfjs ops, trained with tfjs autodiff: the side-by-side
 * comparison point of `aura bench-speed` (same maths as src/model/model.ts for the aura arm, with a
 * straight-through hard gate via tf.customGrad). Dev-only: tfjs is a devDependency and is loaded on
 * demand.
 */
import type * as TF from "@tensorflow/tfjs";

/** Dimensions of the comparison model. */
export interface TfjsAuraDims {
  B: number;
  T: number;
  dModel: number;
  dK: number;
  dV: number;
  dProj: number;
  dGate: number;
  dHidden: number;
  dAction: number;
}

/** Build a tfjs AURA model and return a function that runs one Adam training step. */
export function tfjsAuraTrainer(tf: typeof TF, d: TfjsAuraDims, seed = 0): { step(z: Float32Array, labels: Int32Array): number; dispose(): void } {
  const width = 2 * d.dK + d.dV + d.dProj + 1;
  const init = (shape: number[], fanIn: number, fanOut: number) =>
    tf.variable(tf.randomUniform(shape, -Math.sqrt(6 / (fanIn + fanOut)), Math.sqrt(6 / (fanIn + fanOut)), "float32", seed++));
  const v = {
    encW: init([d.dModel, width], d.dModel, width),
    encB: tf.variable(tf.zeros([width])),
    W1h: init([d.dProj, d.dGate], d.dProj, d.dGate),
    b1: tf.variable(tf.zeros([d.dGate])),
    W1e: init([d.dV, d.dGate], d.dV, d.dGate),
    W1a: init([d.dV, d.dGate], d.dV, d.dGate),
    w2: init([d.dGate, 1], d.dGate, 1),
    b2: tf.variable(tf.ones([1])),
    hW1: init([d.dProj + d.dV, d.dHidden], d.dProj + d.dV, d.dHidden),
    hb1: tf.variable(tf.zeros([d.dHidden])),
    hW2: init([d.dHidden, d.dAction], d.dHidden, d.dAction),
    hb2: tf.variable(tf.zeros([d.dAction])),
  };
  const opt = tf.train.adam(3e-3);
  // straight-through estimator: forward 1[p > 0.5], backward identity
  const ste = tf.customGrad(((p: TF.Tensor) => ({
    value: tf.cast(tf.greater(p, 0.5), "float32"),
    gradFunc: (dy: TF.Tensor) => dy,
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (p: TF.Tensor) => TF.Tensor;
  const l2 = (x: TF.Tensor2D) => tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-6));
  const { B, T, dK, dV } = d;
  const loss = (z: TF.Tensor2D, y: TF.Tensor1D): TF.Scalar => {
    const E = tf.add(tf.matMul(z, v.encW), v.encB) as TF.Tensor2D;
    const [kR, qR, vv, hP, bP] = tf.split(E, [dK, dK, dV, d.dProj, 1], 1) as TF.Tensor2D[];
    const k = tf.reshape(l2(kR!), [B, T, dK]);
    const q = tf.reshape(l2(qR!), [B, T, dK]);
    const val = tf.reshape(vv!, [B, T, dV]);
    const h = tf.tanh(hP!);
    const beta = tf.reshape(tf.sigmoid(bP!), [B, T, 1]);
    const gp = tf.reshape(tf.add(tf.matMul(h, v.W1h), v.b1), [B, T, d.dGate]);
    let M: TF.Tensor = tf.zeros([B, dK, dV]);
    let m: TF.Tensor = tf.zeros([B, dV]);
    const rs: TF.Tensor[] = [];
    const sl = (x: TF.Tensor, t: number, w: number) => tf.reshape(tf.slice(x, [0, t, 0], [B, 1, w]), [B, w]);
    for (let t = 0; t < T; t++) {
      const kt = sl(k, t, dK);
      const qt = sl(q, t, dK);
      const vhat = tf.add(tf.reshape(tf.matMul(tf.reshape(kt, [B, 1, dK]), M), [B, dV]), m);
      const e = tf.sub(sl(val, t, dV), vhat);
      const a = tf.tanh(tf.add(tf.add(sl(gp, t, d.dGate), tf.matMul(e, v.W1e)), tf.matMul(tf.abs(e), v.W1a)));
      const p = tf.sigmoid(tf.add(tf.matMul(a, v.w2), v.b2));
      const gb = tf.mul(ste(p), sl(beta, t, 1));
      M = tf.add(M, tf.mul(tf.reshape(gb, [B, 1, 1]), tf.matMul(tf.reshape(kt, [B, dK, 1]), tf.reshape(e, [B, 1, dV]))));
      m = tf.add(m, tf.mul(gb, e));
      rs.push(tf.add(tf.reshape(tf.matMul(tf.reshape(qt, [B, 1, dK]), M), [B, dV]), m));
    }
    const r = tf.reshape(tf.stack(rs, 1), [B * T, dV]);
    const a1 = tf.tanh(tf.add(tf.matMul(tf.concat([h, r], 1), v.hW1), v.hb1));
    const logits = tf.add(tf.matMul(a1, v.hW2), v.hb2);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(y, d.dAction), logits) as TF.Scalar;
  };
  return {
    step(z: Float32Array, labels: Int32Array): number {
      return tf.tidy(() => {
        const zt = tf.tensor2d(z, [B * T, d.dModel]);
        const yt = tf.tensor1d(labels, "int32");
        const cost = opt.minimize(() => loss(zt, yt), true) as TF.Scalar;
        return cost.dataSync()[0]!;
      });
    },
    dispose(): void {
      for (const x of Object.values(v)) x.dispose();
      opt.dispose();
    },
  };
}
