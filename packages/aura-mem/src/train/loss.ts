/**
 * Task losses over masked steps: cross-entropy on logits (discrete actions) and mean squared error
 * (continuous actions). Both return the loss and its gradient w.r.t. the model output.
 */

/**
 * Mean cross-entropy over steps with mask > 0 and label >= 0.
 * @param logits [N*C]; labels [N] (-1 = none); mask [N].
 */
export function crossEntropy(logits: Float32Array, labels: Int32Array, mask: Float32Array, C: number): { loss: number; grad: Float32Array } {
  const N = labels.length;
  const grad = new Float32Array(N * C);
  let count = 0;
  for (let i = 0; i < N; i++) if (mask[i]! > 0 && labels[i]! >= 0) count += mask[i]!;
  if (count === 0) return { loss: 0, grad };
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const w = mask[i]!;
    const y = labels[i]!;
    if (!(w > 0) || y < 0) continue;
    let mx = -Infinity;
    for (let j = 0; j < C; j++) mx = Math.max(mx, logits[i * C + j]!);
    let z = 0;
    for (let j = 0; j < C; j++) z += Math.exp(logits[i * C + j]! - mx);
    const lz = Math.log(z) + mx;
    loss += w * (lz - logits[i * C + y]!);
    for (let j = 0; j < C; j++) {
      const pj = Math.exp(logits[i * C + j]! - lz);
      grad[i * C + j] = (w * (pj - (j === y ? 1 : 0))) / count;
    }
  }
  return { loss: loss / count, grad };
}

/** Mean over masked steps and action dims of (pred - target)^2. pred/target [N*D], mask [N]. */
export function meanSquaredError(pred: Float32Array, target: Float32Array, mask: Float32Array, D: number): { loss: number; grad: Float32Array } {
  const N = mask.length;
  const grad = new Float32Array(N * D);
  let count = 0;
  for (let i = 0; i < N; i++) count += mask[i]! > 0 ? mask[i]! : 0;
  if (count === 0) return { loss: 0, grad };
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const w = mask[i]!;
    if (!(w > 0)) continue;
    for (let j = 0; j < D; j++) {
      const d = pred[i * D + j]! - target[i * D + j]!;
      loss += w * d * d;
      grad[i * D + j] = (2 * w * d) / (count * D);
    }
  }
  return { loss: loss / (count * D), grad };
}

/**
 * Gaussian negative log-likelihood per step in nats, with the variance set to its maximum-likelihood
 * value (the batch MSE, held fixed in the gradient): (dAction/2) * log(mse) + const. It puts a
 * continuous head's loss in the same unit (nats per step) as cross-entropy, so the write-sparsity
 * and action-IB weights mean the same thing for discrete and continuous actions. Returns the mse
 * too (the variance used by the continuous action-IB divergence). docs/method.md.
 */
export function gaussianNll(pred: Float32Array, target: Float32Array, mask: Float32Array, D: number): { loss: number; grad: Float32Array; mse: number } {
  const m = meanSquaredError(pred, target, mask, D);
  const mse = Math.max(m.loss, 1e-8);
  const scale = D / (2 * mse);
  for (let i = 0; i < m.grad.length; i++) m.grad[i] = m.grad[i]! * scale;
  return { loss: (D / 2) * Math.log(mse), grad: m.grad, mse };
}
