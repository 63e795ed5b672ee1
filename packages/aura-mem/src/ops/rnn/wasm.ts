/**
 * WASM SIMD implementation of the GRU / LSTM sequence op (kernels `rnn_forward`, `rnn_backward` in
 * assembly/rnn.ts). Numerically equivalent (to float32 rounding) to the reference in naive.ts; the
 * `saved` record has the same layout ({@link RnnSaved}), so forward and backward of the two
 * implementations can be mixed.
 *
 * Memory: one call copies its inputs into the module's linear memory, runs one kernel and copies the
 * results out; the arena is reset in `finally`. Peak wasm memory of a training call is about
 * `4 * B*T*(2*G + 3 + G + 1)*H` bytes (xg/dxg, h/dh, saved activations).
 */
import { Arena, kernelFn, type WasmKernels } from "../../wasm/runtime.js";
import type { RnnGrads, RnnInputs, RnnOp, RnnOutput, RnnSaved, RnnState } from "./types.js";
import { checkBackwardArgs, checkRnnInputs, checkRnnState, savedStride } from "./types.js";

type Kernel = (hdr: number) => void;

/** Kind code in the kernel headers. */
const KIND_CODE = { gru: 0, lstm: 1 } as const;

/**
 * The WASM SIMD GRU / LSTM op over an instantiated kernel module.
 * @throws WasmError if the module lacks the rnn kernels (stale build).
 */
export function rnnWasm(k: WasmKernels): RnnOp {
  const fwdKernel = kernelFn<Kernel>(k, "rnn_forward");
  const bwdKernel = kernelFn<Kernel>(k, "rnn_backward");

  return {
    forward(inp: RnnInputs, opts = {}): RnnOutput {
      const G = checkRnnInputs(inp);
      const { kind, B, T, H, xg, Wh, bh } = inp;
      const lstm = kind === "lstm";
      const init = opts.initialState;
      if (init !== undefined) checkRnnState("rnn initialState", kind, init, B, H, true);
      const save = opts.saveForBackward === true;
      const GH = G * H;
      const S = savedStride(kind, H);

      const arena = new Arena(k);
      try {
        const pXg = arena.put(xg);
        const pWh = arena.put(Wh);
        const pBh = arena.put(bh);
        const pH0 = init ? arena.put(init.h) : arena.alloc(B * H);
        const pC = lstm ? (init?.c ? arena.put(init.c) : arena.alloc(B * H)) : 0; // in: c0, out: c_T
        const pH = arena.allocBytes(B * T * H * 4);
        const pActs = arena.allocBytes((save ? B * T * S : B * S) * 4);
        const pHg = arena.allocBytes(B * GH * 4);
        const hdr = arena.header([KIND_CODE[kind], B, T, H, pXg, pWh, pBh, pH0, pC, pH, pActs, save ? 1 : 0, pHg]);
        fwdKernel(hdr);

        const h = arena.take(pH, B * T * H);
        const hFinal = new Float32Array(B * H);
        for (let b = 0; b < B; b++) hFinal.set(h.subarray((b * T + T - 1) * H, (b * T + T) * H), b * H);
        const finalState: RnnState = lstm ? { h: hFinal, c: arena.take(pC, B * H) } : { h: hFinal };
        const out: RnnOutput = { h, finalState };
        if (save) {
          const saved: RnnSaved = {
            kind,
            B,
            T,
            H,
            acts: arena.take(pActs, B * T * S),
            h0: init ? Float32Array.from(init.h) : new Float32Array(B * H),
            c0: lstm ? (init?.c ? Float32Array.from(init.c) : new Float32Array(B * H)) : null,
          };
          out.saved = saved;
        }
        return out;
      } finally {
        arena.reset();
      }
    },

    backward(inp: RnnInputs, out: RnnOutput, grad): RnnGrads {
      const G = checkRnnInputs(inp);
      const saved = checkBackwardArgs(inp, out, grad);
      const { kind, B, T, H, Wh } = inp;
      const lstm = kind === "lstm";
      const GH = G * H;

      const arena = new Arena(k);
      try {
        const pWh = arena.put(Wh);
        const pH = arena.put(out.h);
        const pH0 = arena.put(saved.h0);
        const pC0 = lstm ? arena.put(saved.c0!) : 0;
        const pActs = arena.put(saved.acts);
        const pDh = arena.put(grad.dh);
        const pDxg = arena.allocBytes(B * T * GH * 4);
        const pDWh = arena.alloc(H * GH);
        const pDbh = arena.alloc(GH);
        const dF = grad.dFinal;
        const pDhc = dF ? arena.put(dF.h) : arena.alloc(B * H); // in: dL/dh_T, out: dL/dh_0
        const pDcc = lstm ? (dF?.c ? arena.put(dF.c) : arena.alloc(B * H)) : 0; // in: dL/dc_T, out: dL/dc_0
        const pDhg = arena.allocBytes(B * GH * 4);
        const pWhT = arena.allocBytes(GH * H * 4);
        const hdr = arena.header([
          KIND_CODE[kind], B, T, H, pWh, pH, pH0, pC0, pActs, pDh, pDxg, pDWh, pDbh, pDhc, pDcc, pDhg, pWhT,
        ]);
        bwdKernel(hdr);

        const dInitial: RnnState = lstm
          ? { h: arena.take(pDhc, B * H), c: arena.take(pDcc, B * H) }
          : { h: arena.take(pDhc, B * H) };
        return {
          dxg: arena.take(pDxg, B * T * GH),
          dWh: arena.take(pDWh, H * GH),
          dbh: arena.take(pDbh, GH),
          dInitial,
        };
      } finally {
        arena.reset();
      }
    },
  };
}
