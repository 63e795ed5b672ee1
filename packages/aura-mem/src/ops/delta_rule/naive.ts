/**
 * Plain TypeScript reference of the gated delta-rule memory cell (AURA, arXiv 2606.02775; see
 * types.ts and README.md for the maths). Readable loops with float64 state and accumulation;
 * outputs are rounded to float32 once. The WASM SIMD kernel in assembly/delta_rule.ts must match it.
 */
import type {
  DeltaRuleDims,
  DeltaRuleGrads,
  DeltaRuleInputs,
  DeltaRuleOp,
  DeltaRuleOutput,
  DeltaRuleForwardOptions,
  DeltaRuleUpstream,
} from "./types.js";
import { DELTA_RULE_DEFAULT_THRESHOLD, validateDeltaRuleBackward, validateDeltaRuleInputs } from "./types.js";

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export const deltaRuleNaive: DeltaRuleOp = {
  forward(inp: DeltaRuleInputs, opts: DeltaRuleForwardOptions = {}): DeltaRuleOutput {
    const d: DeltaRuleDims = validateDeltaRuleInputs(inp, opts.initialState);
    const { B, T, dK, dV, dG, decay } = d;
    const { k, q, v, beta, gate } = inp;
    const init = opts.initialState;
    const m0 = new Float32Array(opts.saveForBackward ? B * dV : 0);

    const r = new Float32Array(B * T * dV);
    const eOut = new Float32Array(B * T * dV);
    const pOut = new Float32Array(B * T);
    const gOut = new Float32Array(B * T);
    const sOut = new Float32Array(B * T);
    const Mfin = new Float32Array(B * dK * dV);
    const mfin = new Float32Array(B * dV);
    const act = d.learned && opts.saveForBackward ? new Float32Array(B * T * dG) : null;
    const checkpoints = new Float32Array(opts.saveForBackward ? B * dK * dV : 0);

    const M = new Float64Array(dK * dV);
    const m = new Float64Array(dV);
    const e = new Float64Array(dV);
    const a = new Float64Array(dG);
    for (let b = 0; b < B; b++) {
      for (let x = 0; x < dK * dV; x++) M[x] = init ? init.M[b * dK * dV + x]! : 0;
      for (let j = 0; j < dV; j++) m[j] = init ? init.m[b * dV + j]! : 0;
      if (opts.saveForBackward) {
        for (let x = 0; x < dK * dV; x++) checkpoints[b * dK * dV + x] = M[x]!;
        for (let j = 0; j < dV; j++) m0[b * dV + j] = m[j]!;
      }

      for (let t = 0; t < T; t++) {
        const bt = b * T + t;
        const kk = bt * dK; // offset of k[b,t] and q[b,t]
        const vv = bt * dV; // offset of v[b,t], e[b,t], r[b,t]

        // Inner prediction from the pre-write state and the surprise vector.
        let ss = 0;
        for (let j = 0; j < dV; j++) {
          let vhat = m[j]!;
          for (let i = 0; i < dK; i++) vhat += M[i * dV + j]! * k[kk + i]!;
          e[j] = v[vv + j]! - vhat;
          ss += e[j]! * e[j]!;
        }
        const surprise = Math.sqrt(ss);

        // Gate.
        let p: number;
        let g: number;
        if (gate.mode === "learned") {
          let logit = gate.b2;
          for (let h = 0; h < dG; h++) {
            let pre = gate.gatePre[bt * dG + h]!;
            for (let j = 0; j < dV; j++) pre += e[j]! * gate.W1e[j * dG + h]! + Math.abs(e[j]!) * gate.W1a[j * dG + h]!;
            a[h] = Math.tanh(pre);
            logit += a[h]! * gate.w2[h]!;
            if (act) act[bt * dG + h] = a[h]!;
          }
          p = sigmoid(logit);
          // Compare the float32 p (what callers see) so both backends decide identically.
          const thr = gate.thresholds ? gate.thresholds[bt]! : (gate.threshold ?? DELTA_RULE_DEFAULT_THRESHOLD);
          g = gate.hard ? (Math.fround(p) > thr ? 1 : 0) : p;
        } else if (gate.mode === "fixed") {
          g = p = gate.g[bt]!;
        } else {
          g = p = surprise > gate.tau ? 1 : 0;
        }

        // Gated delta-rule write (with the write decay a = 1 - g (1 - alpha)), then read-out from the
        // post-write state.
        const w = g * beta[bt]!;
        const keep = 1 - g * (1 - decay);
        if (keep !== 1) {
          for (let x = 0; x < dK * dV; x++) M[x] *= keep;
          for (let j = 0; j < dV; j++) m[j] *= keep;
        }
        if (w !== 0) {
          for (let i = 0; i < dK; i++) for (let j = 0; j < dV; j++) M[i * dV + j] += w * k[kk + i]! * e[j]!;
          for (let j = 0; j < dV; j++) m[j] += w * e[j]!;
        }
        for (let j = 0; j < dV; j++) {
          let rj = m[j]!;
          for (let i = 0; i < dK; i++) rj += M[i * dV + j]! * q[kk + i]!;
          r[vv + j] = rj;
          eOut[vv + j] = e[j]!;
        }
        pOut[bt] = p;
        gOut[bt] = g;
        sOut[bt] = surprise;
      }
      for (let x = 0; x < dK * dV; x++) Mfin[b * dK * dV + x] = M[x]!;
      for (let j = 0; j < dV; j++) mfin[b * dV + j] = m[j]!;
    }

    const out: DeltaRuleOutput = { r, e: eOut, p: pOut, g: gOut, surprise: sOut, finalState: { M: Mfin, m: mfin } };
    if (opts.saveForBackward) out.saved = { chunk: T, checkpoints, act, m0 };
    return out;
  },

  backward(inp: DeltaRuleInputs, out: DeltaRuleOutput, grad: DeltaRuleUpstream): DeltaRuleGrads {
    const d = validateDeltaRuleBackward(inp, out, grad);
    const { B, T, dK, dV, dG, saved, decay } = d;
    const { k, q, beta, gate } = inp;
    const nC = Math.ceil(T / saved.chunk);
    const { dr, dp, dFinal } = grad;

    const dk = new Float32Array(B * T * dK);
    const dq = new Float32Array(B * T * dK);
    const dv = new Float32Array(B * T * dV);
    const dbeta = new Float32Array(B * T);
    const dM0 = new Float32Array(B * dK * dV);
    const dm0 = new Float32Array(B * dV);
    const learned = gate.mode === "learned" ? gate : null;
    const dGatePre = learned ? new Float32Array(B * T * dG) : undefined;
    const dW1e = learned ? new Float64Array(dV * dG) : null;
    const dW1a = learned ? new Float64Array(dV * dG) : null;
    const dw2 = learned ? new Float64Array(dG) : null;
    let db2 = 0;

    const states = new Float64Array(T * dK * dV); // pre-write M of every step of one row
    const mStates = new Float64Array(T * dV); // pre-write m of every step of one row (the decay's gradient)
    const dM = new Float64Array(dK * dV);
    const dm = new Float64Array(dV);
    const de = new Float64Array(dV);
    const dpre = new Float64Array(dG);
    const dkRow = new Float64Array(dK);
    for (let b = 0; b < B; b++) {
      // Recompute the pre-write states from the initial state: M_{t+1} = a_t M_t + w_t k_t e_t^T,
      // m_{t+1} = a_t m_t + w_t e_t (m enters a gradient only through the decay a_t).
      const c0 = b * nC * dK * dV;
      for (let x = 0; x < dK * dV; x++) states[x] = saved.checkpoints[c0 + x]!;
      for (let j = 0; j < dV; j++) mStates[j] = saved.m0[b * dV + j]!;
      for (let t = 0; t + 1 < T; t++) {
        const bt = b * T + t;
        const w = out.g[bt]! * beta[bt]!;
        const a = 1 - out.g[bt]! * (1 - decay);
        for (let i = 0; i < dK; i++) {
          for (let j = 0; j < dV; j++) {
            const x = i * dV + j;
            states[(t + 1) * dK * dV + x] = a * states[t * dK * dV + x]! + w * k[bt * dK + i]! * out.e[bt * dV + j]!;
          }
        }
        for (let j = 0; j < dV; j++) mStates[(t + 1) * dV + j] = a * mStates[t * dV + j]! + w * out.e[bt * dV + j]!;
      }

      for (let x = 0; x < dK * dV; x++) dM[x] = dFinal ? dFinal.M[b * dK * dV + x]! : 0;
      for (let j = 0; j < dV; j++) dm[j] = dFinal ? dFinal.m[b * dV + j]! : 0;

      for (let t = T - 1; t >= 0; t--) {
        const bt = b * T + t;
        const kk = bt * dK;
        const vv = bt * dV;
        const S = t * dK * dV; // offset of the pre-write state in `states`
        const g = out.g[bt]!;
        const w = g * beta[bt]!;
        const a = 1 - g * (1 - decay);
        const e = (j: number): number => out.e[vv + j]!;

        // Read-out r = M'^T q + m' with M' = a M + w k e^T (post-write): dq = M' dr, dM' += q dr^T, dm' += dr.
        for (let i = 0; i < dK; i++) {
          let s = 0;
          for (let j = 0; j < dV; j++) s += (a * states[S + i * dV + j]! + w * k[kk + i]! * e(j)) * dr[vv + j]!;
          dq[kk + i] = s;
          for (let j = 0; j < dV; j++) dM[i * dV + j] += q[kk + i]! * dr[vv + j]!;
        }
        for (let j = 0; j < dV; j++) dm[j] += dr[vv + j]!;

        // Write M' = a M + w k e^T, m' = a m + w e: gradients into w, a, k and e.
        let dw = 0;
        let da = 0; // <dM', M> + <dm', m> (pre-write M, m)
        for (let j = 0; j < dV; j++) {
          let z = dm[j]!; // (dM'^T k + dm')_j
          for (let i = 0; i < dK; i++) z += dM[i * dV + j]! * k[kk + i]!;
          de[j] = w * z;
          dw += z * e(j);
          da += dm[j]! * mStates[t * dV + j]!;
        }
        if (decay !== 1) for (let x = 0; x < dK * dV; x++) da += dM[x]! * states[S + x]!;
        for (let i = 0; i < dK; i++) {
          let u = 0;
          for (let j = 0; j < dV; j++) u += dM[i * dV + j]! * e(j);
          dkRow[i] = w * u;
        }
        dbeta[bt] = dw * g;

        // Gate: w = g beta. Learned: dL/dlogit = (dL/dg + dL/dp) p (1 - p) (exact for the soft gate,
        // straight-through dg/dp = 1 for the hard one). Fixed / recon: no gradient into g.
        if (learned) {
          const p = out.p[bt]!;
          // dL/dg = dw beta + da da/dg, a = 1 - g (1 - alpha)
          const dlogit = (dw * beta[bt]! - da * (1 - decay) + (dp ? dp[bt]! : 0)) * p * (1 - p);
          db2 += dlogit;
          for (let h = 0; h < dG; h++) {
            const a = saved.act![bt * dG + h]!;
            dw2![h] += dlogit * a;
            dpre[h] = dlogit * learned.w2[h]! * (1 - a * a);
            dGatePre![bt * dG + h] = dpre[h]!;
          }
          for (let j = 0; j < dV; j++) {
            const ej = e(j);
            const sgn = ej > 0 ? 1 : ej < 0 ? -1 : 0;
            let s = 0;
            for (let h = 0; h < dG; h++) {
              dW1e![j * dG + h] += ej * dpre[h]!;
              dW1a![j * dG + h] += Math.abs(ej) * dpre[h]!;
              s += (learned.W1e[j * dG + h]! + sgn * learned.W1a[j * dG + h]!) * dpre[h]!;
            }
            de[j] += s;
          }
        }

        // Through the decay to the pre-write state: dM = a dM', dm = a dm'.
        if (a !== 1) {
          for (let x = 0; x < dK * dV; x++) dM[x] = a * dM[x]!;
          for (let j = 0; j < dV; j++) dm[j] = a * dm[j]!;
        }

        // Surprise e = v - M^T k - m (pre-write state): dv = de, dk -= M de, dM -= k de^T, dm -= de.
        for (let j = 0; j < dV; j++) dv[vv + j] = de[j]!;
        for (let i = 0; i < dK; i++) {
          let s = 0;
          for (let j = 0; j < dV; j++) {
            s += states[S + i * dV + j]! * de[j]!;
            dM[i * dV + j] -= k[kk + i]! * de[j]!;
          }
          dk[kk + i] = dkRow[i]! - s;
        }
        for (let j = 0; j < dV; j++) dm[j] -= de[j]!;
      }
      for (let x = 0; x < dK * dV; x++) dM0[b * dK * dV + x] = dM[x]!;
      for (let j = 0; j < dV; j++) dm0[b * dV + j] = dm[j]!;
    }

    const res: DeltaRuleGrads = { dk, dq, dv, dbeta, dInitial: { M: dM0, m: dm0 } };
    if (learned) {
      res.dGatePre = dGatePre;
      res.dW1e = Float32Array.from(dW1e!);
      res.dW1a = Float32Array.from(dW1a!);
      res.dw2 = Float32Array.from(dw2!);
      res.db2 = db2;
    }
    return res;
  },
};
