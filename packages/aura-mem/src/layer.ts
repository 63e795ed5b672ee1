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
  /**
   * [B] 1 where the state guard ({@link LayerOptions.stateLimit}) reset that stream's memory to zeros after this
   * step, else 0; absent without a guard.
   */
  reset?: Float32Array;
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
  /**
   * State guard of {@link AuraMemLayer.step} (fast-weight arms): after a step, a stream whose `||M||_F` or `||m||_2`
   * exceeds this limit has its memory reset to zeros (reported in `reset`). A huge-but-finite observation that
   * gets written poisons the state (`||m||` ~ 100x the usual and more), after which a trained gate can stay shut on
   * the enormous surprise for the rest of the run; the reset forgets the poisoned goal so the memory comes back at
   * the next event (docs/edge.md, "Huge observations"). The state going in is checked too (a poisoned state can
   * overflow inside the step, which would refuse every later step). NaN / Inf in a state still throw
   * NonFiniteError. Trained ess-hard states stay near 1-2, so {@link STATE_LIMIT} (20) leaves every clean step
   * alone. Positive; default none (no guard; `forward()` never guards). @throws ConfigError on a non-positive or
   * non-finite limit.
   */
  stateLimit?: number;
}

/** A state limit ~12-15x the fast-weight norms a trained ess-hard model runs at (`||M||_F` 1.0-1.7, `||m||_2` <= 1.3). */
export const STATE_LIMIT = 20;

/** The AURA memory layer (or, with `arm`, any baseline arm behind the same interface). */
export class AuraMemLayer {
  readonly config: MemoryConfig;
  /** The underlying model: parameters, forward/backward. */
  readonly model: SequenceModel;
  /** Whether step() may use the fused engine (LayerOptions.fusedStep). */
  private fusedStep: boolean;
  /** The fused step engine, built on the first step that uses it (null: not yet). */
  private engine: StepEngine | null = null;
  /** LayerOptions.stateLimit (null: no guard). */
  readonly stateLimit: number | null;

  constructor(config: MemoryConfig | MemoryConfigInit, opts: LayerOptions = {}) {
    this.config = config instanceof MemoryConfig ? config : new MemoryConfig(config);
    const ops = opts.ops ?? createOps(opts.backend ?? "auto");
    const arm = opts.arm ?? "aura";
    const spec = armSpec(arm, this.config, { matchParams: null, ...opts.armOptions });
    this.model = new SequenceModel(spec, ops);
    this.fusedStep = opts.fusedStep ?? true;
    this.stateLimit = checkStateLimit(opts.stateLimit);
  }

  /** Wrap an existing (e.g. trained) model; its parameters stay shared with it. */
  static fromModel(model: SequenceModel, opts: Pick<LayerOptions, "fusedStep" | "stateLimit"> = {}): AuraMemLayer {
    const layer = Object.create(AuraMemLayer.prototype) as AuraMemLayer;
    Object.assign(layer, { config: model.spec.config, model, fusedStep: opts.fusedStep ?? true, engine: null, stateLimit: checkStateLimit(opts.stateLimit) });
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
    // the guard also looks at the state going in: a poisoned state can overflow inside the step, which would
    // refuse every later step and keep the poison for good
    const pre = this.stateLimit === null ? null : resetOverLimit(state, this.stateLimit);
    if (pre) state = pre.state;
    const engine = this.stepPath() === "fused" ? this.fusedEngine() : null;
    let out: LayerStepOutput;
    if (engine) {
      out = engine.step(zt, state); // checks zt, state and outputs like the lines below
    } else {
      checkFinite("zt", zt);
      const fr = this.model.forward(zt, B, 1, { initialState: state, validate: false });
      checkFiniteResult(fr);
      out = { action: fr.out, g: fr.g, p: fr.p, surprise: fr.surprise, state: fr.finalState };
    }
    if (this.stateLimit === null) return out;
    const post = resetOverLimit(out.state, this.stateLimit);
    const reset = post.reset;
    if (pre) for (let b = 0; b < reset.length; b++) reset[b] = Math.max(reset[b]!, pre.reset[b]!);
    return { ...out, state: post.state, reset };
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

/** Validate LayerOptions.stateLimit; null when absent. */
function checkStateLimit(limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (typeof limit !== "number" || !Number.isFinite(limit) || !(limit > 0)) {
    throw new ConfigError(`stateLimit must be a positive finite number, got ${String(limit)}`);
  }
  return limit;
}

/**
 * The state guard: every stream b whose ||M_b||_F or ||m_b||_2 exceeds `limit` gets zeros (in a copy: the
 * given arrays are not mutated); `reset[b]` says which. Other state kinds pass through (reset all 0).
 */
function resetOverLimit(st: MemoryState, limit: number): { state: MemoryState; reset: Float32Array } {
  const B = st.B;
  const reset = new Float32Array(B);
  if (st.kind !== "fast-weights") return { state: st, reset };
  const S = st.M.length / B;
  const V = st.m.length / B;
  let M: Float32Array | null = null;
  let m: Float32Array | null = null;
  for (let b = 0; b < B; b++) {
    let a = 0;
    for (let i = b * S; i < (b + 1) * S; i++) a += st.M[i]! * st.M[i]!;
    let c = 0;
    for (let j = b * V; j < (b + 1) * V; j++) c += st.m[j]! * st.m[j]!;
    // NaN / Inf entries are left to the step's own finite checks (a typed error): float32 values square to
    // at most ~1.2e77, so a non-finite sum means a non-finite entry
    if (!Number.isFinite(a) || !Number.isFinite(c)) continue;
    if (Math.sqrt(a) > limit || Math.sqrt(c) > limit) {
      M ??= Float32Array.from(st.M);
      m ??= Float32Array.from(st.m);
      M.fill(0, b * S, (b + 1) * S);
      m.fill(0, b * V, (b + 1) * V);
      reset[b] = 1;
    }
  }
  return { state: M && m ? { ...st, M, m } : st, reset };
}
