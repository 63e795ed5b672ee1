/**
 * Downsampled traces of long cue-stream episodes (format "aura-sim-trace", version 2), for the web
 * demo's replay of the Panda over minutes (docs/demo.md). Version 1 (rollout.ts `SimTrace`) records
 * every control step of a short task; version 2 adds what a long episode needs:
 *
 *   { format: "aura-sim-trace", version: 2, task, arm, seed, controlHz, horizon, every, decimals,
 *     bodies: { cubes, zones, zoneXY, zoneRadius, cubeHalf }, cues: [{ cue, step, scoredAt, goalIndex, cube, zone, success, placed }],
 *     kvCache: { arm: "kv-cache", dKey, dVal, bytesPerStep, how }, gate?: { writes, cueWrites, distractorWrites },
 *     steps: [{ t, q[9], ee[3], cubes[[x,y,z,qw,qx,qy,qz] x3], cue, p, g, writes, stateBytes, kvBytes }],
 *     success: null, source? }
 *
 * Which steps are kept ({@link TraceDownsampler}): every `every`-th control step (t % every == 0),
 * every step on which a cue is shown (cue > 0, so each cue's 6 steps are all there), and the
 * terminal record (t = horizon, the state the last cue is scored on). No write is lost: a kept step's
 * `g` is 1 when the gate wrote on any control step since the previous kept step (this one included),
 * `p` is the largest write probability over those steps, and `writes` is the exact running count, so
 * writes[i] - writes[i-1] is the number of writes between two kept steps. `stateBytes` is the arm's
 * live state (SequenceModel.stateBytes) after the step; `kvBytes` what a full-history KV-cache arm
 * with the same MemoryConfig (dKey, dVal) would hold at that step: SequenceModel.memoryBytes(1, n) of
 * a `kv-cache` arm, n = the observations processed so far (t + 1 at control step t, the horizon at the
 * terminal record) = n * (dKey + dVal) * 4 B, which test/stream_trace.test.ts checks against a
 * kv-cache arm's measured state bytes.
 */
import { MemoryConfig } from "aura-mem/config";
import { ConfigError } from "aura-mem/errors";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel } from "aura-mem/model/model";
import type { Ops } from "aura-mem/ops/index";
import type { CueOutcome, EpisodePlan } from "./env.js";
import { CUBES, CUBE_HALF, ZONES, ZONE_RADIUS, ZONE_XY } from "./scene.js";

export const STREAM_TRACE_VERSION = 2;

/** One kept step of a version-2 trace (units as rollout.ts TraceStep: rad, m, unit quaternions w-first). */
export interface StreamTraceStep {
  /** Control step (0 .. horizon; the terminal record has t = horizon). */
  t: number;
  q: number[];
  ee: [number, number, number];
  cubes: number[][];
  /** 1 + goal index while a cue is shown, -1 during a flicker, else 0 (env.cueCode). */
  cue: number;
  /** Largest write probability since the previous kept step. */
  p: number;
  /** 1 when the gate wrote on any step since the previous kept step. */
  g: 0 | 1;
  /** Writes so far (exact running count). */
  writes: number;
  /** Bytes of the arm's memory state after this step. */
  stateBytes: number;
  /** Bytes a full-history KV-cache with the same dKey, dVal would hold after this step. */
  kvBytes: number;
}

/** One cue of the episode: its goal (cube, zone: indices into `bodies`) and its outcome. */
export interface StreamTraceCue {
  cue: number;
  /** First control step the cue is shown on, and the step it was scored on (null: not scored). */
  step: number;
  scoredAt: number | null;
  goalIndex: number;
  cube: number;
  zone: number;
  /** The cued cube in the cued zone and no other cube in a zone (env.cueOutcomes()); null if not scored. */
  success: boolean | null;
  placed: boolean | null;
}

/** A downsampled long-episode trace (format version 2). */
export interface StreamTrace {
  format: "aura-sim-trace";
  version: 2;
  task: string;
  arm: string;
  seed: number;
  controlHz: number;
  /** Control steps of the episode. */
  horizon: number;
  /** Stride of the kept steps (cue steps and the terminal record are kept besides). */
  every: number;
  /** Decimals the positions, angles and p are rounded to. */
  decimals: number;
  /** Body names; the zones' centres (x, y, m) and radius and the cubes' half edge (m), for drawing. */
  bodies: { cubes: string[]; zones: string[]; zoneXY: [number, number][]; zoneRadius: number; cubeHalf: number };
  cues: StreamTraceCue[];
  kvCache: { arm: "kv-cache"; dKey: number; dVal: number; bytesPerStep: number; how: string };
  steps: StreamTraceStep[];
  /** Exact counts over every control step: writes, and [writes, steps] at cue and at distractor steps. */
  gate?: { writes: number; cueWrites: [number, number]; distractorWrites: [number, number] };
  /** No single outcome for a stream: see `cues`. */
  success: null;
  /** How the trace was produced (options of the run; no machine paths). */
  source?: Record<string, unknown>;
}

/** What the downsampler reads from the environment at a kept step. */
export interface TraceScene {
  jointPositions(): number[];
  tcpPos(): readonly number[];
  cubePose(i: number): readonly number[];
}

/** Options of a stream trace. */
export interface StreamTraceOptions {
  /** Keep every `every`-th control step (>= 1; 1 keeps all). */
  every: number;
  /**
   * Bytes of a full-history KV-cache after `n` observations, e.g. {@link kvCacheBytesFn} of the arm's
   * MemoryConfig.
   */
  kvBytes: (n: number) => number;
  /** dKey, dVal of that KV-cache (recorded in the trace). */
  kvDims: { dKey: number; dVal: number };
  /** Decimals of positions, angles and p (default 4: 0.1 mm, 1e-4 rad). */
  decimals?: number;
}

/**
 * Bytes of a full-history `kv-cache` arm with `config`'s dKey, dVal after n observations:
 * SequenceModel.memoryBytes(1, n) = n * (dKey + dVal) * 4 (256 B per step at 32 x 32).
 */
export function kvCacheBytesFn(config: MemoryConfig, ops: Ops): (n: number) => number {
  const kv = new SequenceModel(armSpec("kv-cache", config, { matchParams: null }), ops);
  return (n: number) => kv.memoryBytes(1, n);
}

/**
 * Streams the control steps of an episode in order and keeps the ones a version-2 trace holds
 * (module TSDoc). Deterministic: the kept steps depend on t, the cue code and the values alone.
 */
export class TraceDownsampler {
  private readonly steps: StreamTraceStep[] = [];
  private pendingG = 0;
  private pendingP = 0;
  private lastT = -1;
  private readonly round: (x: number) => number;
  readonly decimals: number;

  /** @throws ConfigError when `every` is not an integer >= 1 or `decimals` not an integer in [0, 10]. */
  constructor(readonly opts: StreamTraceOptions) {
    if (!Number.isInteger(opts.every) || opts.every < 1) throw new ConfigError(`trace every must be an integer >= 1, got ${opts.every}`);
    this.decimals = opts.decimals ?? 4;
    if (!Number.isInteger(this.decimals) || this.decimals < 0 || this.decimals > 10) throw new ConfigError(`trace decimals must be an integer in [0, 10], got ${this.decimals}`);
    const f = 10 ** this.decimals;
    this.round = (x: number) => Math.round(x * f) / f + 0; // + 0: no "-0"
  }

  /**
   * Offer control step `t` (strictly increasing) with the gate's p and write g (0/1) on it, the running
   * write count and the arm's state bytes after it; `scene` is read only when the step is kept.
   * `last`: the terminal record (always kept). Returns whether the step was kept.
   * @throws ConfigError when t does not increase.
   */
  offer(scene: TraceScene, t: number, cue: number, p: number, g: number, writes: number, stateBytes: number, last = false): boolean {
    if (!(t > this.lastT)) throw new ConfigError(`trace steps must come in order: ${t} after ${this.lastT}`);
    this.lastT = t;
    this.pendingG = Math.max(this.pendingG, g > 0.5 ? 1 : 0);
    this.pendingP = Math.max(this.pendingP, p);
    if (!(last || t % this.opts.every === 0 || cue > 0)) return false;
    const r = this.round;
    const ee = scene.tcpPos();
    this.steps.push({
      t,
      q: scene.jointPositions().map(r),
      ee: [r(ee[0]!), r(ee[1]!), r(ee[2]!)],
      cubes: CUBES.map((_, i) => Array.from(scene.cubePose(i), r)),
      cue,
      p: r(this.pendingP),
      g: this.pendingG ? 1 : 0,
      writes,
      stateBytes,
      kvBytes: this.opts.kvBytes(last ? t : t + 1),
    });
    this.pendingG = 0;
    this.pendingP = 0;
    return true;
  }

  /** The kept steps so far (in order). */
  get kept(): readonly StreamTraceStep[] {
    return this.steps;
  }

  /**
   * The trace: the kept steps with the plan's cues (goal cube and zone per cue) and their outcomes.
   * @throws ConfigError when no step was kept.
   */
  build(meta: { task: string; arm: string; seed: number; controlHz: number; horizon: number; gate?: StreamTrace["gate"]; source?: Record<string, unknown> }, plan: Pick<EpisodePlan, "cues">, outcomes: readonly CueOutcome[]): StreamTrace {
    if (!this.steps.length) throw new ConfigError("trace has no steps");
    const byCue = new Map(outcomes.map((o) => [o.cue, o]));
    const { dKey, dVal } = this.opts.kvDims;
    const tr: StreamTrace = {
      format: "aura-sim-trace",
      version: 2,
      task: meta.task,
      arm: meta.arm,
      seed: meta.seed,
      controlHz: meta.controlHz,
      horizon: meta.horizon,
      every: this.opts.every,
      decimals: this.decimals,
      bodies: { cubes: [...CUBES], zones: [...ZONES], zoneXY: ZONE_XY.map(([x, y]) => [x, y]), zoneRadius: ZONE_RADIUS, cubeHalf: CUBE_HALF },
      cues: plan.cues.map((c, i) => {
        const o = byCue.get(i);
        return { cue: i, step: c.step, scoredAt: o ? o.scoredAt : null, goalIndex: c.goalIndex, cube: c.goal.cubes[0]!, zone: c.goal.zones[0]!, success: o ? o.success : null, placed: o ? o.placed : null };
      }),
      kvCache: {
        arm: "kv-cache",
        dKey,
        dVal,
        bytesPerStep: (dKey + dVal) * 4,
        how: "SequenceModel.memoryBytes(1, n) of a full-history kv-cache arm with the same dKey, dVal: n observations processed so far (t + 1 at step t) x (dKey + dVal) x 4 B; arithmetic, not a second run",
      },
      steps: this.steps,
      success: null,
    };
    if (meta.gate) tr.gate = { writes: meta.gate.writes, cueWrites: [...meta.gate.cueWrites], distractorWrites: [...meta.gate.distractorWrites] };
    if (meta.source) tr.source = meta.source;
    return tr;
  }
}

/** The MemoryConfig of a no-memory run's comparison KV-cache: the panel's arm config on the base's features. */
export function defaultKvConfig(dModel: number, dAction: number): MemoryConfig {
  return new MemoryConfig({ dModel, dAction, actionKind: "continuous" });
}
