/**
 * WASM SIMD backend of the gated delta-rule cell (kernels in assembly/delta_rule.ts).
 *
 * Each call copies the inputs into the kernel module's memory through one {@link Arena} per op
 * instance (reset in `finally`), runs one kernel and copies the outputs out. The forward saves the
 * state M every {@link DELTA_RULE_DEFAULT_CHUNK} steps (plus the gate's tanh activations); the
 * backward recomputes the states inside each chunk from the checkpoint and the saved surprise
 * vectors (and, with a write decay, the bias from the saved m0), bit-identically to the forward, while walking
 * backward in time.
 */
import { Arena, kernelFn, type WasmKernels } from "../../wasm/runtime.js";
import { checkInt } from "../../errors.js";
import type {
  DeltaRuleForwardOptions,
  DeltaRuleGrads,
  DeltaRuleInputs,
  DeltaRuleOp,
  DeltaRuleOutput,
  DeltaRuleUpstream,
} from "./types.js";
import {
  DELTA_RULE_DEFAULT_CHUNK,
  DELTA_RULE_DEFAULT_THRESHOLD,
  validateDeltaRuleBackward,
  validateDeltaRuleInputs,
} from "./types.js";

type Kernel = (hdr: number) => void;

const MODE = { learned: 0, fixed: 1, recon: 2 } as const;

/** Round a float count up to a whole number of v128 lanes. */
function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Options of {@link deltaRuleWasm}. */
export interface DeltaRuleWasmOptions {
  /** Checkpoint interval C of the forward (default 16). Larger C: less saved memory, more backward scratch. */
  chunk?: number;
}

/**
 * The gated delta-rule cell on the WASM SIMD kernels `delta_rule_fwd` / `delta_rule_bwd`.
 * @throws WasmError (from the runtime) if the module lacks the kernels (stale build).
 */
export function deltaRuleWasm(kernels: WasmKernels, options: DeltaRuleWasmOptions = {}): DeltaRuleOp {
  const fwd = kernelFn<Kernel>(kernels, "delta_rule_fwd");
  const bwd = kernelFn<Kernel>(kernels, "delta_rule_bwd");
  const chunk = checkInt("chunk", options.chunk ?? DELTA_RULE_DEFAULT_CHUNK, 1);
  const arena = new Arena(kernels); // one per op instance, reset after every call

  /** One call's memory: reserve regions first, then write/read through a single view. */
  const region = (n: number): number => arena.allocBytes(n * 4);
  const view = (): Float32Array => new Float32Array(kernels.memory.buffer);

  return {
    forward(inp: DeltaRuleInputs, opts: DeltaRuleForwardOptions = {}): DeltaRuleOutput {
      const d = validateDeltaRuleInputs(inp, opts.initialState);
      const { B, T, dK, dV, dG } = d;
      const gate = inp.gate;
      const learned = gate.mode === "learned" ? gate : null;
      const init = opts.initialState;
      const save = opts.saveForBackward === true;
      const C = Math.min(chunk, T);
      const nC = Math.ceil(T / C);
      try {
        // Inputs.
        const pk = region(B * T * dK);
        const pq = region(B * T * dK);
        const pv = region(B * T * dV);
        const pbeta = region(B * T);
        const pGate = learned ? region(B * T * dG) : gate.mode === "fixed" ? region(B * T) : 0;
        const pG1e = learned ? region(dV * dG) : 0;
        const pG1a = learned ? region(dV * dG) : 0;
        const pG2 = learned ? region(dG) : 0;
        const pM0 = init ? region(B * dK * dV) : 0;
        const pm0 = init ? region(B * dV) : 0;
        // Outputs and scratch (fully written by the kernel: no zero fill needed).
        const pr = region(B * T * dV);
        const pe = region(B * T * dV);
        const pp = region(B * T);
        const pg = region(B * T);
        const ps = region(B * T);
        const pMf = region(B * dK * dV);
        const pmf = region(B * dV);
        const pck = save ? region(B * nC * dK * dV) : 0;
        const pact = save && learned ? region(B * T * dG) : 0;
        const pscr = region(pad4(dV) + pad4(dK) + pad4(dG) + (learned ? 2 * pad4(dV * dG) : 0));
        const pthr = learned && learned.thresholds ? region(B * T) : 0;
        const hdr = arena.header(
          [
            B, T, dK, dV, dG, MODE[gate.mode], learned && learned.hard ? 1 : 0, save ? C : 0,
            pk, pq, pv, pbeta, pGate, pG1e, pG1a, pG2, pM0, pm0,
            pr, pe, pp, pg, ps, pMf, pmf, pck, pact, pscr,
            learned ? learned.b2 : 0,
            learned ? learned.threshold ?? DELTA_RULE_DEFAULT_THRESHOLD : 0,
            gate.mode === "recon" ? gate.tau : 0,
            pthr,
            d.decay,
          ],
          [28, 29, 30, 32],
        );
        const f = view();
        f.set(inp.k, pk >>> 2);
        f.set(inp.q, pq >>> 2);
        f.set(inp.v, pv >>> 2);
        f.set(inp.beta, pbeta >>> 2);
        if (learned) {
          f.set(learned.gatePre, pGate >>> 2);
          f.set(learned.W1e, pG1e >>> 2);
          f.set(learned.W1a, pG1a >>> 2);
          f.set(learned.w2, pG2 >>> 2);
          if (learned.thresholds) f.set(learned.thresholds, pthr >>> 2);
        } else if (gate.mode === "fixed") {
          f.set(gate.g, pGate >>> 2);
        }
        if (init) {
          f.set(init.M, pM0 >>> 2);
          f.set(init.m, pm0 >>> 2);
        }
        fwd(hdr);
        const out: DeltaRuleOutput = {
          r: arena.take(pr, B * T * dV),
          e: arena.take(pe, B * T * dV),
          p: arena.take(pp, B * T),
          g: arena.take(pg, B * T),
          surprise: arena.take(ps, B * T),
          finalState: { M: arena.take(pMf, B * dK * dV), m: arena.take(pmf, B * dV) },
        };
        if (save) {
          const m0 = init ? Float32Array.from(init.m) : new Float32Array(B * dV);
          out.saved = { chunk: C, checkpoints: arena.take(pck, B * nC * dK * dV), act: pact ? arena.take(pact, B * T * dG) : null, m0 };
        }
        return out;
      } finally {
        arena.reset();
      }
    },

    backward(inp: DeltaRuleInputs, out: DeltaRuleOutput, grad: DeltaRuleUpstream): DeltaRuleGrads {
      const d = validateDeltaRuleBackward(inp, out, grad);
      const { B, T, dK, dV, dG, saved } = d;
      const gate = inp.gate;
      const learned = gate.mode === "learned" ? gate : null;
      const C = saved.chunk;
      const nC = Math.ceil(T / C);
      const dFinal = grad.dFinal;
      const dp = learned ? grad.dp : undefined;
      try {
        // Inputs.
        const pk = region(B * T * dK);
        const pq = region(B * T * dK);
        const pbeta = region(B * T);
        const pe = region(B * T * dV);
        const pg = region(B * T);
        const pp = region(B * T);
        const pact = learned ? region(B * T * dG) : 0;
        const pG1e = learned ? region(dV * dG) : 0;
        const pG1a = learned ? region(dV * dG) : 0;
        const pG2 = learned ? region(dG) : 0;
        const pck = region(B * nC * dK * dV);
        const pdr = region(B * T * dV);
        const pdp = dp ? region(B * T) : 0;
        const pdFM = dFinal ? region(B * dK * dV) : 0;
        const pdFm = dFinal ? region(B * dV) : 0;
        // Outputs (accumulated ones are zero-filled below) and scratch.
        const pdk = region(B * T * dK);
        const pdq = region(B * T * dK);
        const pdv = region(B * T * dV);
        const pdbeta = region(B * T);
        const pdM0 = region(B * dK * dV);
        const pdm0 = region(B * dV);
        const pdGate = learned ? region(B * T * dG) : 0;
        const pdG1e = learned ? region(dV * dG) : 0;
        const pdG1a = learned ? region(dV * dG) : 0;
        const pdG2 = learned ? region(dG) : 0;
        const pdc2 = region(4);
        const pstates = region(Math.min(C, T) * dK * dV);
        const pscr = region(2 * pad4(dV) + pad4(dK) + pad4(dG) + 2 * pad4(dG * dV));
        const decays = d.decay !== 1;
        const pm0 = decays ? region(B * dV) : 0;
        const pmStates = decays ? region(T * dV) : 0;
        const hdr = arena.header(
          [
            B, T, dK, dV, dG, MODE[gate.mode], C,
            pk, pq, pbeta, pe, pg, pp, pact, pG1e, pG1a, pG2, pck, pdr, pdp, pdFM, pdFm,
            pdk, pdq, pdv, pdbeta, pdM0, pdm0, pdGate, pdG1e, pdG1a, pdG2, pdc2, pstates, pscr,
            d.decay, pm0, pmStates,
          ],
          [35],
        );
        const f = view();
        f.set(inp.k, pk >>> 2);
        f.set(inp.q, pq >>> 2);
        f.set(inp.beta, pbeta >>> 2);
        f.set(out.e, pe >>> 2);
        f.set(out.g, pg >>> 2);
        f.set(out.p, pp >>> 2);
        if (learned) {
          f.set(saved.act!, pact >>> 2);
          f.set(learned.W1e, pG1e >>> 2);
          f.set(learned.W1a, pG1a >>> 2);
          f.set(learned.w2, pG2 >>> 2);
          f.fill(0, pdG1e >>> 2, (pdG1e >>> 2) + dV * dG);
          f.fill(0, pdG1a >>> 2, (pdG1a >>> 2) + dV * dG);
          f.fill(0, pdG2 >>> 2, (pdG2 >>> 2) + dG);
        }
        f.set(saved.checkpoints, pck >>> 2);
        if (decays) f.set(saved.m0, pm0 >>> 2);
        f.set(grad.dr, pdr >>> 2);
        if (dp) f.set(dp, pdp >>> 2);
        if (dFinal) {
          f.set(dFinal.M, pdFM >>> 2);
          f.set(dFinal.m, pdFm >>> 2);
        }
        bwd(hdr);
        const res: DeltaRuleGrads = {
          dk: arena.take(pdk, B * T * dK),
          dq: arena.take(pdq, B * T * dK),
          dv: arena.take(pdv, B * T * dV),
          dbeta: arena.take(pdbeta, B * T),
          dInitial: { M: arena.take(pdM0, B * dK * dV), m: arena.take(pdm0, B * dV) },
        };
        if (learned) {
          res.dGatePre = arena.take(pdGate, B * T * dG);
          res.dW1e = arena.take(pdG1e, dV * dG);
          res.dW1a = arena.take(pdG1a, dV * dG);
          res.dw2 = arena.take(pdG2, dG);
          res.db2 = f[pdc2 >>> 2]!;
        }
        return res;
      } finally {
        arena.reset();
      }
    },
  };
}
