/**
 * `AuraMemLayer`: the public AURA memory layer — a constant-size fast-weight memory with a learned
 * write gate that wraps a frozen policy backbone (arXiv 2606.02775; the maths is our reconstruction,
 * docs/method.md).
 *
 * ```ts
 * const layer = new AuraMemLayer(new MemoryConfig({ dModel: 4096, dKey: 32, dVal: 32, dAction: 7 }));
 * const out = layer.forward(z);            // z: Float32Array [1*T*4096]
 * out.action; out.g;                       // [T*7], [T] (0/1 writes)
 * layer.memoryBytes(1);                    // 4224
 * let state = layer.initState(1);          // control loop, one tick:
 * ({ action, state } = layer.step(zt, state));
 * ```
 */
import { MemoryConfig, type MemoryConfigInit } from "./config.js";
import { ConfigError, FormatError, ShapeError, checkFinite } from "./errors.js";
import { createOps, type Backend, type Ops } from "./ops/index.js";
import { SequenceModel, isArm, type ArmName, type ForwardResult, type MemoryState } from "./model/model.js";
import { armSpec, type ArmOptions } from "./model/arms.js";
import { loadCheckpoint, saveCheckpoint } from "./io/checkpoint.js";
import { assignCheckpoint, checkpointArmOptions, checkpointConfig } from "./io/checkpoint_format.js";
import { createStepEngine, type StepEngine } from "./deploy/step_engine.js";
import { checkFiniteStep } from "./deploy/weights.js";
import { WasmError } from "./wasm/runtime.js";

/** Output of {@link AuraMemLayer.forward}. */
export interface LayerForwardOutput {
  /** Batch and horizon the input was read as. */
  B: number;
  T: number;
  /** Actions (continuous) or logits (discrete) [B*T*dAction]. */
  action: Float32Array;
  /** Write decisions, exactly 0 or 1 [B*T]. */
  g: Float32Array;
  /** Write probabilities sigmoid(gate logit) [B*T]. */
  p: Float32Array;
  /** Surprise ||v - (M^T k + m)||_2, the inner prediction error before the write [B*T]. */
  surprise: Float32Array;
  /** Memory state after the last step. */
  state: MemoryState;
}

/** Output of one control tick, {@link AuraMemLayer.step}. */
export interface LayerStepOutput {
  /** [B*dAction] */
  action: Float32Array;
  /** [B] 0/1 */
  g: Float32Array;
  /** [B] */
  p: Float32Array;
  /** [B] */
  surprise: Float32Array;
  /** The next state (a new object; the input state is never mutated). */
  state: MemoryState;
}

/** Options of the layer. */
export interface LayerOptions {
  /** Op backend: "wasm" (SIMD kernels), "ts" (reference) or "auto" (default). */
  backend?: Backend | "auto";
  /** Use these ops instead (shares one kernel instance between layers). */
  ops?: Ops;
  /** Arm to build (default "aura"; other arms are the benchmark baselines with the same interface). */
  arm?: ArmName;
  /** Arm-specific options (budgets, window, rnnHidden). */
  armOptions?: ArmOptions;
  /**
   * Run {@link AuraMemLayer.step} through the fused step engine where it applies (aura arm, WASM
   * backend; see {@link AuraMemLayer.stepPath}). Default true; false keeps the op composition (the
   * benchmarks time both side by side).
   */
  fusedStep?: boolean;
}

/** The AURA memory layer (or, with `arm`, any baseline arm behind the same interface). */
export class AuraMemLayer {
  readonly config: MemoryConfig;
  /** The underlying model: parameters, forward/backward. */
  readonly model: SequenceModel;
  /** Whether step() may use the fused engine (LayerOptions.fusedStep). */
  private fusedStep: boolean;
  /** The fused step engine, built on the first step that uses it (null: not yet). */
  private engine: StepEngine | null = null;

  constructor(config: MemoryConfig | MemoryConfigInit, opts: LayerOptions = {}) {
    this.config = config instanceof MemoryConfig ? config : new MemoryConfig(config);
    const ops = opts.ops ?? createOps(opts.backend ?? "auto");
    const arm = opts.arm ?? "aura";
    const spec = armSpec(arm, this.config, { matchParams: null, ...opts.armOptions });
    this.model = new SequenceModel(spec, ops);
    this.fusedStep = opts.fusedStep ?? true;
  }

  /** Wrap an existing (e.g. trained) model; its parameters stay shared with it. */
  static fromModel(model: SequenceModel, opts: Pick<LayerOptions, "fusedStep"> = {}): AuraMemLayer {
    const layer = Object.create(AuraMemLayer.prototype) as AuraMemLayer;
    Object.assign(layer, { config: model.spec.config, model, fusedStep: opts.fusedStep ?? true, engine: null });
    return layer;
  }

  /**
   * Which implementation {@link step} runs: "fused" (one WASM SIMD kernel call per stream,
   * src/deploy/step_engine.ts) for the aura arm on the WASM backend, else "ops" (the model's op
   * composition, one kernel call per op). Both compute the same step (tested equal to 1e-5 with
   * identical write decisions). The fused path is the faster one at every batch measured (1 to 128
   * streams at dModel 4096: docs/onnx.md, `npm run bench:speed`), so it has no batch limit.
   */
  stepPath(): "fused" | "ops" {
    return this.fusedStep && this.arm === "aura" && this.model.backend === "wasm" ? "fused" : "ops";
  }

  /** The arm name ("aura" unless built otherwise). */
  get arm(): ArmName {
    return this.model.spec.arm;
  }

  /** Bytes of memory state for `batch` streams: (dKey*dVal + dVal)*4*batch = 4,224 at 32x32, batch 1, any horizon. */
  memoryBytes(batch = 1, horizon = 0): number {
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`batch must be a positive integer, got ${batch}`);
    return this.model.memoryBytes(batch, horizon);
  }

  /** Number of trainable parameters. */
  paramCount(): number {
    return this.model.paramCount();
  }

  /** Zero memory for `batch` streams (start of a deployment). */
  initState(batch = 1): MemoryState {
    return this.model.initState(batch);
  }

  /**
   * Run whole sequences.
   * @param z Float32Array [B*T*dModel] row-major backbone features.
   * @param batch B (default 1); T is z.length / (B*dModel).
   * @param state optional starting memory (default zeros); not mutated.
   * @throws ShapeError if z.length is not a positive multiple of B*dModel, or the state mismatches;
   *         NonFiniteError on NaN/Inf in z.
   */
  forward(z: Float32Array, batch = 1, state?: MemoryState): LayerForwardOutput {
    const { dModel } = this.config;
    if (!(z instanceof Float32Array)) throw new ShapeError("z must be a Float32Array [B*T*dModel]");
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`batch must be a positive integer, got ${batch}`);
    const T = z.length / (batch * dModel);
    if (!Number.isInteger(T) || T < 1) {
      throw new ShapeError(`z has ${z.length} values, not a positive multiple of B*dModel = ${batch}*${dModel}`);
    }
    const fr = this.model.forward(z, batch, T, { initialState: state });
    checkFiniteResult(fr);
    return { B: batch, T, action: fr.out, g: fr.g, p: fr.p, surprise: fr.surprise, state: fr.finalState };
  }

  /**
   * One control tick for B streams: read, maybe write, act. Same maths as forward() (tested equal).
   * On the WASM backend the aura arm runs the fused step engine ({@link stepPath}); it keeps a packed
   * copy of the weights and re-packs it before a step whenever a parameter was written (write
   * versions, see `SequenceModel.paramsChanged`), so a step always uses the current parameters.
   * @param zt Float32Array [B*dModel] the backbone feature of this tick.
   * @param state the memory after the previous tick (from initState() or the last step()).
   * @throws ShapeError / NonFiniteError on bad input (NaN/Inf in zt or the state, or an overflow
   *         inside the step); the given state is left untouched.
   */
  step(zt: Float32Array, state: MemoryState): LayerStepOutput {
    if (!state || typeof state !== "object" || !Number.isInteger(state.B)) {
      throw new ShapeError("state must be a MemoryState from initState() or step()");
    }
    const B = state.B;
    const { dModel } = this.config;
    if (!(zt instanceof Float32Array)) throw new ShapeError("zt must be a Float32Array [B*dModel]");
    if (zt.length !== B * dModel) {
      throw new ShapeError(`zt must have B*dModel = ${B}*${dModel} = ${B * dModel} values, got ${zt.length}`);
    }
    const engine = this.stepPath() === "fused" ? this.fusedEngine() : null;
    if (engine) return engine.step(zt, state); // checks zt, state and outputs like the lines below
    checkFinite("zt", zt);
    const fr = this.model.forward(zt, B, 1, { initialState: state, validate: false });
    checkFiniteResult(fr);
    return { action: fr.out, g: fr.g, p: fr.p, surprise: fr.surprise, state: fr.finalState };
  }

  /** The fused engine, built on first use on a kernel instance of its own; null (one warning) if the kernel module lacks it. */
  private fusedEngine(): StepEngine | null {
    if (this.engine) return this.engine;
    try {
      this.engine = createStepEngine(this, { kernels: this.model.siblingKernels() ?? undefined });
    } catch (err) {
      if (!(err instanceof WasmError)) throw err;
      console.warn(`aura-mem: fused step unavailable (${err.message}); layer.step runs the op composition`);
      this.fusedStep = false;
      return null;
    }
    return this.engine;
  }

  /** Save parameters (safetensors) and config (JSON) at `path` (.safetensors / .json added). */
  async save(path: string, extra: Record<string, unknown> = {}): Promise<{ safetensorsPath: string; jsonPath: string }> {
    const params: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, p] of Object.entries(this.model.params)) params[k] = { shape: [...p.shape], data: p.data };
    const s = this.model.spec;
    return saveCheckpoint(path, {
      arm: s.arm,
      config: { ...this.config.toJSON() },
      params,
      extra: { ...extra, rnnHidden: s.rnnHidden, window: s.window, writeRate: s.writeRate, tau: this.model.tau },
    });
  }

  /**
   * Load a checkpoint written by save() (or `aura train`).
   * @throws FormatError on a malformed or mismatching checkpoint.
   */
  static async load(path: string, opts: Omit<LayerOptions, "arm" | "armOptions"> = {}): Promise<AuraMemLayer> {
    const ck = await loadCheckpoint(path);
    if (!isArm(ck.arm)) throw new ConfigError(`checkpoint arm "${ck.arm}" is not known`);
    const config = checkpointConfig(ck.config);
    const layer = new AuraMemLayer(config, { ...opts, arm: ck.arm, armOptions: checkpointArmOptions(ck.extra) });
    assignCheckpoint(layer.model, ck);
    return layer;
  }
}

/**
 * Finite input can still overflow float32 inside the layer (e.g. |z| ~ 1e19 squared in a dot
 * product). Refuse such a result with a NonFiniteError instead of returning or storing Inf/NaN; the
 * caller's state is untouched because the next state is a new object.
 */
function checkFiniteResult(fr: ForwardResult): void {
  checkFiniteStep({ action: fr.out, p: fr.p, surprise: fr.surprise, state: fr.finalState });
  const s = fr.finalState;
  if (s.kind === "rnn") {
    checkFinite("next state h (overflow inside the layer)", s.h);
    if (s.c) checkFinite("next state c (overflow inside the layer)", s.c);
  } else if (s.kind === "kv") {
    const c = s.cache;
    const from = Math.max(0, c.length - fr.T);
    for (let b = 0; b < c.B; b++) {
      checkFinite("new KV keys (overflow inside the layer)", c.keys.subarray((b * c.capacity + from) * c.dK, (b * c.capacity + c.length) * c.dK));
      checkFinite("new KV values (overflow inside the layer)", c.values.subarray((b * c.capacity + from) * c.dV, (b * c.capacity + c.length) * c.dV));
    }
  }
}
