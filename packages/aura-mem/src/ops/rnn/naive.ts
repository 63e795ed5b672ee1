/**
 * Plain TypeScript reference for the GRU / LSTM sequence op (src/ops/rnn/types.ts).
 * Readable loops, float64 arithmetic inside a step (stored as float32 between steps, as the WASM
 * kernels in assembly/rnn.ts do), exact BPTT. The WASM implementation must match it.
 */
import type { RnnGrads, RnnInputs, RnnOp, RnnOutput, RnnSaved, RnnState } from "./types.js";
import { checkBackwardArgs, checkRnnInputs, checkRnnState, savedStride } from "./types.js";

function sigmoid(x: number): number {
  // Stable for large |x|: never evaluates exp of a large positive number.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const rnnNaive: RnnOp = {
  forward(inp: RnnInputs, opts = {}): RnnOutput {
    const G = checkRnnInputs(inp);
    const { kind, B, T, H, xg, Wh, bh } = inp;
    const lstm = kind === "lstm";
    if (opts.initialState !== undefined) checkRnnState("rnn initialState", kind, opts.initialState, B, H, true);
    const save = opts.saveForBackward === true;
    const GH = G * H;
    const S = savedStride(kind, H);

    const h0 = opts.initialState ? Float32Array.from(opts.initialState.h) : new Float32Array(B * H);
    const c0 = lstm ? (opts.initialState?.c ? Float32Array.from(opts.initialState.c) : new Float32Array(B * H)) : null;
    const h = new Float32Array(B * T * H);
    const acts = new Float32Array(save ? B * T * S : S); // per-step scratch when not saving
    const hFinal = new Float32Array(B * H);
    const cState = c0 ? Float32Array.from(c0) : null;
    const hg = new Float64Array(GH);

    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        // h_{t-1}: the initial state or the previous output row.
        const hp = t === 0 ? h0.subarray(b * H, (b + 1) * H) : h.subarray((b * T + t - 1) * H, (b * T + t) * H);
        // hg = h_{t-1} Wh + bh (row by row of Wh: contiguous reads)
        for (let j = 0; j < GH; j++) hg[j] = bh[j]!;
        for (let i = 0; i < H; i++) {
          const hi = hp[i]!;
          for (let j = 0; j < GH; j++) hg[j] += hi * Wh[i * GH + j]!;
        }
        const x = (b * T + t) * GH;
        const a = save ? (b * T + t) * S : 0;
        const o = (b * T + t) * H;
        for (let j = 0; j < H; j++) {
          if (!lstm) {
            const r = sigmoid(xg[x + j]! + hg[j]!);
            const z = sigmoid(xg[x + H + j]! + hg[H + j]!);
            const hn = hg[2 * H + j]!;
            const n = Math.tanh(xg[x + 2 * H + j]! + r * hn);
            h[o + j] = (1 - z) * n + z * hp[j]!;
            acts[a + j] = r;
            acts[a + H + j] = z;
            acts[a + 2 * H + j] = n;
            acts[a + 3 * H + j] = hn;
          } else {
            const ig = sigmoid(xg[x + j]! + hg[j]!);
            const fg = sigmoid(xg[x + H + j]! + hg[H + j]!);
            const gg = Math.tanh(xg[x + 2 * H + j]! + hg[2 * H + j]!);
            const og = sigmoid(xg[x + 3 * H + j]! + hg[3 * H + j]!);
            const c = fg * cState![b * H + j]! + ig * gg;
            cState![b * H + j] = c;
            h[o + j] = og * Math.tanh(Math.fround(c));
            acts[a + j] = ig;
            acts[a + H + j] = fg;
            acts[a + 2 * H + j] = gg;
            acts[a + 3 * H + j] = og;
            acts[a + 4 * H + j] = c;
          }
        }
      }
      hFinal.set(h.subarray((b * T + T - 1) * H, (b * T + T) * H), b * H);
    }

    const finalState: RnnState = cState ? { h: hFinal, c: cState } : { h: hFinal };
    const out: RnnOutput = { h, finalState };
    if (save) {
      const saved: RnnSaved = { kind, B, T, H, acts, h0, c0 };
      out.saved = saved;
    }
    return out;
  },

  backward(inp: RnnInputs, out: RnnOutput, grad): RnnGrads {
    const G = checkRnnInputs(inp);
    const saved = checkBackwardArgs(inp, out, grad);
    const { kind, B, T, H, Wh } = inp;
    const lstm = kind === "lstm";
    const GH = G * H;
    const S = savedStride(kind, H);
    const { acts, h0, c0 } = saved;
    const h = out.h;
    const dh = grad.dh;

    const dxg = new Float32Array(B * T * GH);
    const dWh = new Float64Array(H * GH);
    const dbh = new Float64Array(GH);
    const dh0 = new Float32Array(B * H);
    const dc0 = lstm ? new Float32Array(B * H) : null;
    const dhg = new Float64Array(GH); // dL/d(h_{t-1} Wh + bh) of the current step
    const dhCarry = new Float64Array(H); // dL/dh_t flowing back from step t+1
    const dcCarry = new Float64Array(H); // dL/dc_t flowing back from step t+1 (lstm)

    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        dhCarry[j] = grad.dFinal ? grad.dFinal.h[b * H + j]! : 0;
        dcCarry[j] = grad.dFinal?.c ? grad.dFinal.c[b * H + j]! : 0;
      }
      for (let t = T - 1; t >= 0; t--) {
        const hp = t === 0 ? h0.subarray(b * H, (b + 1) * H) : h.subarray((b * T + t - 1) * H, (b * T + t) * H);
        const a = (b * T + t) * S;
        const x = (b * T + t) * GH;
        const o = (b * T + t) * H;
        for (let j = 0; j < H; j++) {
          const dht = dh[o + j]! + dhCarry[j]!;
          if (!lstm) {
            const r = acts[a + j]!;
            const z = acts[a + H + j]!;
            const n = acts[a + 2 * H + j]!;
            const hn = acts[a + 3 * H + j]!;
            // h = (1 - z) n + z h_{t-1}
            const dn = dht * (1 - z);
            const dz = dht * (hp[j]! - n);
            const dnPre = dn * (1 - n * n); // n = tanh(xg_n + r hn)
            const dr = dnPre * hn;
            const drPre = dr * r * (1 - r);
            const dzPre = dz * z * (1 - z);
            dxg[x + j] = drPre;
            dxg[x + H + j] = dzPre;
            dxg[x + 2 * H + j] = dnPre;
            dhg[j] = drPre;
            dhg[H + j] = dzPre;
            dhg[2 * H + j] = dnPre * r;
            dhCarry[j] = dht * z; // direct path; the path through Wh is added below
          } else {
            const ig = acts[a + j]!;
            const fg = acts[a + H + j]!;
            const gg = acts[a + 2 * H + j]!;
            const og = acts[a + 3 * H + j]!;
            const c = acts[a + 4 * H + j]!;
            const cp = t === 0 ? c0![b * H + j]! : acts[a - S + 4 * H + j]!;
            const tc = Math.tanh(c);
            const dog = dht * tc; // h = o tanh(c)
            const dc = dcCarry[j]! + dht * og * (1 - tc * tc);
            const dig = dc * gg; // c = f c_{t-1} + i g
            const dfg = dc * cp;
            const dgg = dc * ig;
            dcCarry[j] = dc * fg;
            dhg[j] = dig * ig * (1 - ig);
            dhg[H + j] = dfg * fg * (1 - fg);
            dhg[2 * H + j] = dgg * (1 - gg * gg);
            dhg[3 * H + j] = dog * og * (1 - og);
            for (let k = 0; k < G; k++) dxg[x + k * H + j] = dhg[k * H + j]!;
            dhCarry[j] = 0;
          }
        }
        // hg = h_{t-1} Wh + bh  =>  dWh += h_{t-1}^T dhg, dbh += dhg, dh_{t-1} += dhg Wh^T
        for (let i = 0; i < H; i++) {
          let s = 0;
          for (let k = 0; k < GH; k++) {
            dWh[i * GH + k] += hp[i]! * dhg[k]!;
            s += dhg[k]! * Wh[i * GH + k]!;
          }
          dhCarry[i] += s;
        }
        for (let k = 0; k < GH; k++) dbh[k] += dhg[k]!;
      }
      for (let j = 0; j < H; j++) {
        dh0[b * H + j] = dhCarry[j]!;
        if (dc0) dc0[b * H + j] = dcCarry[j]!;
      }
    }
    const dInitial: RnnState = dc0 ? { h: dh0, c: dc0 } : { h: dh0 };
    return { dxg, dWh: Float32Array.from(dWh), dbh: Float32Array.from(dbh), dInitial };
  },
};
