/**
 * Fused control step of the `aura` arm: the same inputs and outputs as the op-composition step of
 * the model (`SequenceModel.forward` with T = 1; tested equal to 1e-5 with identical write decisions
 * over 1,000 steps), computed by one fused WASM SIMD kernel (`aura_step`, assembly/step.ts) per
 * stream on a kernel instance of its own. `AuraMemLayer.step` runs it on the WASM backend; it can
 * also be driven directly:
 *
 * ```ts
 * const engine = createStepEngine(layer);     // packs every weight once
 * let state = layer.initState(1);
 * for (;;) {
 *   const out = engine.step(zt, state);       // { action, g, p, surprise, state }
 *   state = out.state;
 * }
 * ```
 *
 * Every weight lives in the instance's linear memory in a layout made for the kernel (encoder in
 * 32-column panels, the gate's three input matrices stacked); one kernel header with fixed pointers
 * is written at creation.
 *
 * Weight contract: the packed copy is never used stale. Before every step the engine checks, for
 * each parameter tensor, that the model still holds the same array, that its write version
 * (`writeVersion`, src/model/params.ts: bumped by the optimiser step, assignParams, checkpoint
 * loading and `SequenceModel.paramsChanged()`) is the one packed, and, as a safety net for writes
 * that skipped the version, that 16 sampled values per tensor (all of a tensor of <= 16) still have
 * the packed bits; on any difference it re-packs (~1 ms at dModel 4096) before stepping. A single
 * hand-written value outside the samples is only seen through the version: call
 * `model.paramsChanged()` after writing `param.data` yourself.
 *
 * A step validates zt (Float32Array, length) and the state, copies zt, M and m of each stream in,
 * calls the kernel once per stream and copies the outputs out. Finiteness is checked inside the
 * kernel (inputs before anything is written, outputs after); on a failure the same TypeScript checks
 * as the op path run to throw the same NonFiniteError (same message). The input state is never
 * mutated; a thrown error changes nothing the caller holds.
 */
import { NonFiniteError, ShapeError, checkFinite } from "../errors.js";
import { Arena, WasmError, kernelFn, loadKernels, type WasmKernels } from "../wasm/runtime.js";
import { auraWeights, checkAuraState, checkFiniteStep, type AuraDims, type AuraLayerView, type AuraStepResult } from "./weights.js";
import type { MemoryState } from "../model/model.js";
import { writeVersion } from "../model/params.js";

/** The fused step of an aura layer. */
export interface StepEngine {
  /** The layer (an `AuraMemLayer`) whose parameters the engine serves. */
  readonly layer: AuraLayerView;
  /** Dimensions of the step. */
  readonly dims: AuraDims;
  /**
   * One control tick for B streams (B = state.B): same result as the op-composition step of
   * `layer.model` (what `AuraMemLayer.step` runs on the TS backend).
   * @param zt Float32Array [B*dModel]
   * @param state state from `layer.initState(B)` or a previous step (not mutated)
   * @throws ShapeError on a wrong length / type or a state of another shape; NonFiniteError on NaN/Inf
   *         in zt or the state, or on an overflow inside the step.
   */
  step(zt: Float32Array, state: MemoryState): AuraStepResult;
  /** Re-pack every weight from the layer now (step() also does it by itself when a parameter changed). */
  refresh(): void;
  /** How many times the weights were packed (1 at creation; + every re-pack). */
  readonly packs: number;
  /** Bytes of wasm linear memory the engine holds (weights, buffers). */
  readonly wasmBytes: number;
}

/** Options of {@link createStepEngine}. */
export interface StepEngineOptions {
  /**
   * A kernel instance used by nothing else (default: a fresh `loadKernels()`, which has its own
   * memory). The engine owns its heap: any other wrapper on the same instance would overwrite it.
   */
  kernels?: WasmKernels;
}

const PANEL = 32;
const HDR_FIELDS = 35;

/** Sampled values per tensor of the stale-weight safety net. */
const SAMPLES = 16;

/** What was packed from one parameter tensor: the array, its write version and sampled bits. */
interface Packed {
  name: string;
  data: Float32Array;
  version: number;
  /** The values' bits (a view of `data`). */
  view: Uint32Array;
  at: Uint32Array;
  bits: Uint32Array;
}

/**
 * Build the step engine of an `aura` layer.
 * @throws ConfigError for another arm; WasmError if the kernel module lacks `aura_step` (rebuild).
 */
export function createStepEngine(layer: AuraLayerView, opts: StepEngineOptions = {}): StepEngine {
  const w0 = auraWeights(layer); // ConfigError unless aura
  const d = w0.dims;
  const kernels = opts.kernels ?? loadKernels();
  const run = kernelFn<(hdr: number) => number>(kernels, "aura_step");
  const { dModel: K, dKey, dVal, dProj, dGate, dHidden, dAction, width: W } = d;
  const Kp = (K + 3) & ~3;
  const nPanel = Math.floor(W / PANEL);
  const R = W - nPanel * PANEL;
  const pad4 = (n: number): number => (n + 3) & ~3;

  // One fixed layout from the bottom of the heap, allocated once (the arena is never reset).
  const arena = new Arena(kernels);
  const at = {
    hdr: arena.allocBytes(HDR_FIELDS * 4),
    encP: arena.allocBytes(nPanel * Kp * PANEL * 4),
    encR: arena.allocBytes(R * Kp * 4),
    encB: arena.allocBytes(pad4(W) * 4),
    // rows h, e, |e| and (MemoryConfig.gateNorm) ||z||
    gateW1: arena.allocBytes(pad4((dProj + 2 * dVal + 1) * dGate) * 4),
    gateB1: arena.allocBytes(pad4(dGate) * 4),
    gateW2: arena.allocBytes(pad4(dGate) * 4),
    hW1: arena.allocBytes(pad4((dProj + dVal) * dHidden) * 4),
    hB1: arena.allocBytes(pad4(dHidden) * 4),
    hW2: arena.allocBytes(pad4(dHidden * dAction) * 4),
    hB2: arena.allocBytes(pad4(dAction) * 4),
    z: arena.allocBytes(Kp * 4),
    M: arena.allocBytes(pad4(dKey * dVal) * 4),
    m: arena.allocBytes(pad4(dVal) * 4),
    out: arena.allocBytes(pad4(dAction + 3) * 4),
    E: arena.allocBytes(pad4(W) * 4),
    k: arena.allocBytes(pad4(dKey) * 4),
    q: arena.allocBytes(pad4(dKey) * 4),
    gin: arena.allocBytes(pad4(dProj + 2 * dVal + 1) * 4),
    hin: arena.allocBytes(pad4(dProj + dVal) * 4),
    pre: arena.allocBytes(pad4(dGate) * 4),
    a1: arena.allocBytes(pad4(dHidden) * 4),
  };
  const end = arena.allocBytes(0);
  const heapBytes = end - kernels.heapBase;
  // Memory only grows during the allocations above, so views taken now stay valid.
  const mem = (): Float32Array => new Float32Array(kernels.memory.buffer);
  let f32 = mem();
  const view = (): Float32Array => {
    if (f32.buffer !== kernels.memory.buffer) f32 = mem();
    return f32;
  };

  const P = layer.model.params;
  let packed: Packed[] = [];
  let packs = 0;
  const snapshot = (): Packed[] =>
    Object.keys(P).map((name) => {
      const data = P[name]!.data;
      const n = data.length;
      const at = n <= SAMPLES ? Uint32Array.from({ length: n }, (_, i) => i) : Uint32Array.from({ length: SAMPLES }, (_, i) => Math.round((i * (n - 1)) / (SAMPLES - 1)));
      const view = new Uint32Array(data.buffer, data.byteOffset, n);
      return { name, data, version: writeVersion(data), view, at, bits: Uint32Array.from(at, (i) => view[i]!) };
    });
  /** True when a parameter array, its write version or a sampled value differs from what was packed. */
  const stale = (): boolean => {
    for (const p of packed) {
      const cur = P[p.name];
      if (!cur || cur.data !== p.data || writeVersion(p.data) !== p.version) return true;
      for (let i = 0; i < p.at.length; i++) if (p.view[p.at[i]!] !== p.bits[i]) return true;
    }
    return false;
  };

  const upload = (): void => {
    const w = auraWeights(layer);
    packed = snapshot();
    packs++;
    const v = view();
    v.fill(0, at.encP >>> 2, (at.encR >>> 2) + R * Kp);
    for (let p = 0; p < nPanel; p++) {
      const base = (at.encP >>> 2) + p * Kp * PANEL;
      for (let k = 0; k < K; k++) {
        const src = k * W + p * PANEL;
        v.set(w.encW.subarray(src, src + PANEL), base + k * PANEL);
      }
    }
    for (let r = 0; r < R; r++) {
      const base = (at.encR >>> 2) + r * Kp;
      const col = nPanel * PANEL + r;
      for (let k = 0; k < K; k++) v[base + k] = w.encW[k * W + col]!;
    }
    v.fill(0, (at.z >>> 2) + K, (at.z >>> 2) + Kp);
    v.set(w.encB, at.encB >>> 2);
    v.set(w.gateW1h, at.gateW1 >>> 2);
    v.set(w.gateW1e, (at.gateW1 >>> 2) + dProj * dGate);
    v.set(w.gateW1a, (at.gateW1 >>> 2) + (dProj + dVal) * dGate);
    if (w.gateW1n) v.set(w.gateW1n, (at.gateW1 >>> 2) + (dProj + 2 * dVal) * dGate);
    v.set(w.gateB1, at.gateB1 >>> 2);
    v.set(w.gateW2, at.gateW2 >>> 2);
    v.set(w.hW1, at.hW1 >>> 2);
    v.set(w.hB1, at.hB1 >>> 2);
    v.set(w.hW2, at.hW2 >>> 2);
    v.set(w.hB2, at.hB2 >>> 2);
    const u = new Uint32Array(kernels.memory.buffer, at.hdr, HDR_FIELDS);
    const hf = new Float32Array(kernels.memory.buffer, at.hdr, HDR_FIELDS);
    u.set([K, dKey, dVal, dProj, dGate, dHidden, dAction, W, nPanel, at.encP, at.encR, at.encB, at.gateW1, at.gateB1, at.gateW2, 0]);
    hf[15] = w.gateB2[0]!;
    u.set([at.hW1, at.hB1, at.hW2, at.hB2, 0, at.z, at.M, at.m, at.out, at.E, at.k, at.q, at.gin, at.hin, at.pre, at.a1], 16);
    hf[20] = d.decay;
    new Float64Array(kernels.memory.buffer, at.hdr + 128, 1)[0] = d.threshold;
    u[34] = w.gateW1n ? 1 : 0;
  };
  upload();

  const zOff = at.z >>> 2;
  const MOff = at.M >>> 2;
  const mOff = at.m >>> 2;
  const oOff = at.out >>> 2;
  const nM = dKey * dVal;

  return {
    layer,
    dims: d,
    wasmBytes: heapBytes,
    get packs(): number {
      return packs;
    },
    refresh(): void {
      upload(); // ShapeError if a parameter changed size (build a new engine then)
    },
    step(zt: Float32Array, state: MemoryState): AuraStepResult {
      if (!state || typeof state !== "object" || !Number.isInteger(state.B)) {
        throw new ShapeError("state must be a MemoryState from initState() or step()");
      }
      const B = state.B;
      if (!(zt instanceof Float32Array)) throw new ShapeError("zt must be a Float32Array [B*dModel]");
      if (zt.length !== B * K) throw new ShapeError(`zt must have B*dModel = ${B}*${K} = ${B * K} values, got ${zt.length}`);
      checkAuraState(state, layer);
      if (stale()) upload();
      const action = new Float32Array(B * dAction);
      const g = new Float32Array(B);
      const p = new Float32Array(B);
      const surprise = new Float32Array(B);
      const M = new Float32Array(B * nM);
      const m = new Float32Array(B * dVal);
      let overflow = false;
      for (let b = 0; b < B; b++) {
        const v = view();
        v.set(B === 1 ? zt : zt.subarray(b * K, (b + 1) * K), zOff);
        v.set(B === 1 ? state.M : state.M.subarray(b * nM, (b + 1) * nM), MOff);
        v.set(B === 1 ? state.m : state.m.subarray(b * dVal, (b + 1) * dVal), mOff);
        const rc = run(at.hdr);
        if (rc === 1 || rc === 3) {
          // the op path's checks, in its order, for its exact error (zt first, then the state)
          checkFinite("zt", zt);
          layer.model.checkState(state, B, true);
          throw new NonFiniteError(`internal: aura_step reported a non-finite input (${rc}) the checks did not find`);
        }
        if (rc !== 0 && rc !== 2) throw new WasmError(`aura_step returned ${rc}`);
        overflow ||= rc === 2;
        action.set(v.subarray(oOff, oOff + dAction), b * dAction);
        g[b] = v[oOff + dAction]!;
        p[b] = v[oOff + dAction + 1]!;
        surprise[b] = v[oOff + dAction + 2]!;
        M.set(v.subarray(MOff, MOff + nM), b * nM);
        m.set(v.subarray(mOff, mOff + dVal), b * dVal);
      }
      const out: AuraStepResult = { action, g, p, surprise, state: { kind: "fast-weights", B, t: state.t + 1, M, m } };
      if (overflow) {
        checkFiniteStep(out);
        throw new NonFiniteError("internal: aura_step reported an overflow the checks did not find");
      }
      return out;
    },
  };
}
