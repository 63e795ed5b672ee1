/**
 * Fast batch-1 control step of the `aura` arm: the same inputs and outputs as `AuraMemLayer.step` at
 * batch 1 (tested equal to 1e-5 with identical write decisions over 1,000 steps), computed by one fused
 * WASM SIMD kernel (`aura_step`, assembly/step.ts) on a kernel instance of its own.
 *
 * ```ts
 * const engine = createStepEngine(layer);     // uploads every weight once
 * let state = layer.initState(1);
 * for (;;) {
 *   const out = engine.step(zt, state);       // { action, g, p, surprise, state }
 *   state = out.state;
 * }
 * engine.refresh();                           // after the layer's parameters changed (training)
 * ```
 *
 * Every weight lives in the instance's linear memory in a layout made for the kernel (encoder in
 * 32-column panels, the gate's three input matrices stacked); one kernel header with fixed pointers
 * is written at creation. A step validates zt (Float32Array, length, finite: the finiteness check
 * runs inside the kernel before anything is written, and a failure is reported with the index like
 * the layer does) and the state, copies zt, M and m in, calls the kernel once and copies the outputs
 * out. The input state is never mutated; a thrown error changes nothing.
 */
import { NonFiniteError, ShapeError } from "../errors.js";
import type { AuraMemLayer } from "../layer.js";
import { Arena, WasmError, kernelFn, loadKernels, type WasmKernels } from "../wasm/runtime.js";
import { auraWeights, checkAuraState, type AuraDims, type AuraStepResult } from "./weights.js";
import type { MemoryState } from "../model/model.js";

/** The fast batch-1 step of an aura layer. */
export interface StepEngine {
  /** The layer whose parameters the engine serves. */
  readonly layer: AuraMemLayer;
  /** Dimensions of the step. */
  readonly dims: AuraDims;
  /**
   * One control tick: same result as `layer.step(zt, state)` at batch 1.
   * @param zt Float32Array [dModel]
   * @param state batch-1 state from `layer.initState(1)` or a previous step (not mutated)
   * @throws ShapeError on a wrong length / type or a state of another shape; NonFiniteError on NaN/Inf in zt.
   */
  step(zt: Float32Array, state: MemoryState): AuraStepResult;
  /** Re-upload every weight from the layer (after training or loading new parameters). */
  refresh(): void;
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
const HDR_FIELDS = 34;

/**
 * Build the step engine of an `aura` layer.
 * @throws ConfigError for another arm; WasmError if the kernel module lacks `aura_step` (rebuild).
 */
export function createStepEngine(layer: AuraMemLayer, opts: StepEngineOptions = {}): StepEngine {
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
    G1: arena.allocBytes(pad4((dProj + 2 * dVal) * dGate) * 4),
    gB1: arena.allocBytes(pad4(dGate) * 4),
    gW2: arena.allocBytes(pad4(dGate) * 4),
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
    gin: arena.allocBytes(pad4(dProj + 2 * dVal) * 4),
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

  const upload = (): void => {
    const w = auraWeights(layer);
    const v = view();
    // encoder panels [nPanel][Kp][32] and remainder rows [R][Kp]; rows k >= K stay zero
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
    v.set(w.gW1h, at.G1 >>> 2);
    v.set(w.gW1e, (at.G1 >>> 2) + dProj * dGate);
    v.set(w.gW1a, (at.G1 >>> 2) + (dProj + dVal) * dGate);
    v.set(w.gB1, at.gB1 >>> 2);
    v.set(w.gW2, at.gW2 >>> 2);
    v.set(w.hW1, at.hW1 >>> 2);
    v.set(w.hB1, at.hB1 >>> 2);
    v.set(w.hW2, at.hW2 >>> 2);
    v.set(w.hB2, at.hB2 >>> 2);
    const u = new Uint32Array(kernels.memory.buffer, at.hdr, HDR_FIELDS);
    const hf = new Float32Array(kernels.memory.buffer, at.hdr, HDR_FIELDS);
    u.set([K, dKey, dVal, dProj, dGate, dHidden, dAction, W, nPanel, at.encP, at.encR, at.encB, at.G1, at.gB1, at.gW2, 0]);
    hf[15] = w.gB2[0]!;
    u.set([at.hW1, at.hB1, at.hW2, at.hB2, 0, at.z, at.M, at.m, at.out, at.E, at.k, at.q, at.gin, at.hin, at.pre, at.a1], 16);
    hf[20] = d.decay;
    new Float64Array(kernels.memory.buffer, at.hdr + 128, 1)[0] = d.threshold;
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
    refresh(): void {
      upload(); // ShapeError if a parameter changed size (build a new engine then)
    },
    step(zt: Float32Array, state: MemoryState): AuraStepResult {
      if (!state || typeof state !== "object" || !Number.isInteger(state.B)) {
        throw new ShapeError("state must be a MemoryState from initState() or step()");
      }
      if (!(zt instanceof Float32Array)) throw new ShapeError("zt must be a Float32Array [B*dModel]");
      if (zt.length !== K) throw new ShapeError(`zt must have B*dModel = 1*${K} = ${K} values, got ${zt.length}`);
      checkAuraState(state, layer);
      const v = view();
      v.set(zt, zOff);
      v.set(state.M, MOff);
      v.set(state.m, mOff);
      const rc = run(at.hdr);
      if (rc !== 0) {
        for (let i = 0; i < zt.length; i++) {
          if (!Number.isFinite(zt[i]!)) throw new NonFiniteError(`zt[${i}] is ${zt[i]}`);
        }
        throw new WasmError(`aura_step returned ${rc}`);
      }
      return {
        action: v.slice(oOff, oOff + dAction),
        g: v.slice(oOff + dAction, oOff + dAction + 1),
        p: v.slice(oOff + dAction + 1, oOff + dAction + 2),
        surprise: v.slice(oOff + dAction + 2, oOff + dAction + 3),
        state: { kind: "fast-weights", B: 1, t: state.t + 1, M: v.slice(MOff, MOff + nM), m: v.slice(mOff, mOff + dVal) },
      };
    },
  };
}
