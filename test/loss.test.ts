/**
 * The task losses (packages/aura-mem/src/train/loss.ts) against @tensorflow/tfjs (dev-only oracle): the masked
 * mean cross-entropy on logits and its gradient, at several shapes, with masked-out steps, steps without a
 * label and fractional mask weights; large logits stay finite.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { crossEntropy } from "aura-mem/train/loss";
import { Rng } from "aura-mem/util/rng";
import { assertClose } from "./helpers.js";

/** The same loss written with tfjs ops (float32), its gradient by tfjs autodiff. */
function tfCrossEntropy(logits: Float32Array, labels: Int32Array, mask: Float32Array, C: number): { loss: number; grad: Float32Array } {
  const N = labels.length;
  const w = Float32Array.from(mask, (m, i) => (m > 0 && labels[i]! >= 0 ? m : 0));
  const count = w.reduce((a, b) => a + b, 0);
  const onehot = new Float32Array(N * C);
  for (let i = 0; i < N; i++) if (labels[i]! >= 0) onehot[i * C + labels[i]!] = 1;
  const Y = tf.tensor2d(onehot, [N, C]);
  const W = tf.tensor1d(w);
  const f = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(W, tf.neg(tf.sum(tf.mul(Y, tf.logSoftmax(x as tf.Tensor2D)), 1)))).div(count) as tf.Scalar;
  const x = tf.tensor2d(logits, [N, C]);
  const { value, grad } = tf.valueAndGrad(f)(x);
  const out = { loss: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  tf.dispose([Y, W, x, value, grad]);
  return out;
}

test("crossEntropy: loss and gradient equal tfjs (logSoftmax + autodiff) at several shapes, masks and missing labels", () => {
  const rng = new Rng(7);
  for (const [N, C] of [[1, 2], [5, 3], [37, 8], [64, 17]] as const) {
    const logits = Float32Array.from({ length: N * C }, () => 3 * rng.normal());
    const labels = Int32Array.from({ length: N }, (_, i) => (i % 6 === 5 ? -1 : Math.floor(rng.uniform() * C)));
    const mask = Float32Array.from({ length: N }, (_, i) => (i % 4 === 3 ? 0 : i % 3 === 0 ? 0.5 : 1));
    if (N === 1) {
      labels[0] = 1;
      mask[0] = 1;
    }
    const ours = crossEntropy(logits, labels, mask, C);
    const ref = tfCrossEntropy(logits, labels, mask, C);
    assert.ok(Math.abs(ours.loss - ref.loss) <= 1e-5 * Math.max(1, Math.abs(ref.loss)), `N=${N} C=${C}: loss ${ours.loss} vs tfjs ${ref.loss}`);
    assertClose(`N=${N} C=${C} gradient`, ref.grad, ours.grad, 1e-5);
    for (let i = 0; i < N; i++) {
      if (mask[i]! > 0 && labels[i]! >= 0) continue;
      for (let j = 0; j < C; j++) assert.equal(ours.grad[i * C + j], 0, `step ${i} (masked or unlabelled) gets no gradient`);
    }
  }
});

test("crossEntropy: nothing to score gives loss 0 and a zero gradient; logits of 1e4 stay finite", () => {
  const none = crossEntropy(new Float32Array([1, 2, 3, 4]), new Int32Array([-1, 0]), new Float32Array([1, 0]), 2);
  assert.equal(none.loss, 0);
  assert.ok(none.grad.every((g) => g === 0));
  const big = crossEntropy(new Float32Array([1e4, -1e4, 0]), new Int32Array([1]), new Float32Array([1]), 3);
  assert.ok(Number.isFinite(big.loss) && Math.abs(big.loss - 2e4) < 1, `loss ${big.loss}`);
  assertClose("softmax saturates: p = (1, 0, 0), label 1", new Float32Array([1, -1, 0]), big.grad, 1e-6);
});
