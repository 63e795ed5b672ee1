/**
 * Plain TypeScript reference for the dense op (affine map and row-wise L2 normalisation).
 * Readable loops, float64 accumulation; the WASM SIMD kernel in assembly/dense.ts must match it.
 */
import type { DenseOp } from "./types.js";
import { L2NORM_EPS } from "./types.js";

export const denseNaive: DenseOp = {
  forward(x, W, b, M, K, N) {
    const y = new Float32Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let n = 0; n < N; n++) {
        let s = b ? b[n]! : 0;
        for (let k = 0; k < K; k++) s += x[i * K + k]! * W[k * N + n]!;
        y[i * N + n] = s;
      }
    }
    return y;
  },

  backward(x, W, dy, M, K, N, needDx = true) {
    const dW = new Float32Array(K * N);
    const db = new Float32Array(N);
    const dx = needDx ? new Float32Array(M * K) : null;
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let i = 0; i < M; i++) s += x[i * K + k]! * dy[i * N + n]!;
        dW[k * N + n] = s;
      }
    }
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += dy[i * N + n]!;
      db[n] = s;
    }
    if (dx) {
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < K; k++) {
          let s = 0;
          for (let n = 0; n < N; n++) s += dy[i * N + n]! * W[k * N + n]!;
          dx[i * K + k] = s;
        }
      }
    }
    return { dx, dW, db };
  },

  l2normForward(x, M, D) {
    const y = new Float32Array(M * D);
    for (let i = 0; i < M; i++) {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += x[i * D + d]! ** 2;
      const inv = 1 / Math.max(Math.sqrt(ss), L2NORM_EPS);
      for (let d = 0; d < D; d++) y[i * D + d] = x[i * D + d]! * inv;
    }
    return y;
  },

  l2normBackward(x, dy, M, D) {
    // y = x / n (n = ||x|| > eps): dx = (dy - y (y . dy)) / n ; below eps: dx = dy / eps.
    const dx = new Float32Array(M * D);
    for (let i = 0; i < M; i++) {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += x[i * D + d]! ** 2;
      const n = Math.sqrt(ss);
      if (n <= L2NORM_EPS) {
        for (let d = 0; d < D; d++) dx[i * D + d] = dy[i * D + d]! / L2NORM_EPS;
        continue;
      }
      let ydy = 0;
      for (let d = 0; d < D; d++) ydy += (x[i * D + d]! / n) * dy[i * D + d]!;
      for (let d = 0; d < D; d++) dx[i * D + d] = (dy[i * D + d]! - (x[i * D + d]! / n) * ydy) / n;
    }
    return dx;
  },
};
