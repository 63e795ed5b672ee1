/** Affine map `y = x W + b` over rows, with its gradients, and row-wise L2 normalisation. */
export interface DenseOp {
  /**
   * y [M, N] = x [M, K] @ W [K, N] + b [N] (b may be null).
   * @returns a new Float32Array [M*N]
   */
  forward(x: Float32Array, W: Float32Array, b: Float32Array | null, M: number, K: number, N: number): Float32Array;
  /**
   * Gradients of `y = x W + b` given dy [M, N]: dx [M, K] = dy W^T, dW [K, N] = x^T dy, db [N] = sum_rows dy.
   * `needDx = false` skips dx (first layer on fixed inputs).
   */
  backward(
    x: Float32Array,
    W: Float32Array,
    dy: Float32Array,
    M: number,
    K: number,
    N: number,
    needDx?: boolean,
  ): { dx: Float32Array | null; dW: Float32Array; db: Float32Array };
  /** y [M, D] = x / max(||x||_2, eps) per row (eps = 1e-6). */
  l2normForward(x: Float32Array, M: number, D: number): Float32Array;
  /** dx given x and dy for the row-wise L2 normalisation above. */
  l2normBackward(x: Float32Array, dy: Float32Array, M: number, D: number): Float32Array;
}

/** eps of the L2 normalisation: rows with norm below it are divided by eps instead. */
export const L2NORM_EPS = 1e-6;
