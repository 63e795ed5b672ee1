/**
 * Closed-loop episode traces written by `aura sim` (format "aura-sim-trace", version 1) and by
 * `aura sim-stream --trace` (version 2: a long cue-stream episode, downsampled), read without Node,
 * plus the Franka Panda forward kinematics the replay view draws the arm with.
 *
 * Version 1 (every control step of a short episode):
 *
 *   { format: "aura-sim-trace", version: 1, task, arm, seed, controlHz,
 *     steps: [{ t, q: number[9], ee: [x,y,z], cubes: [[x,y,z,qw,qx,qy,qz], ...], cue, p, g, writes, stateBytes }],
 *     success }
 *
 * q holds the 7 arm joints then the 2 finger joints (radians, metres); ee and cube positions are
 * metres in the world frame; cube orientations are unit quaternions (w, x, y, z); p is the gate's
 * write probability, g the write (0/1), writes the running count, stateBytes the memory size.
 *
 * Version 2 (src/sim/stream_trace.ts) adds, all required:
 *
 *   horizon (control steps of the episode), every (stride of the kept steps), bodies: { cubes, zones,
 *   zoneXY?, zoneRadius?, cubeHalf? } (names; optional drawing geometry in metres),
 *   cues: [{ cue, step, scoredAt, goalIndex, cube, zone, success, placed }] (each cue's goal: indices
 *   into bodies; its outcome, null when not scored), and per step kvBytes (what a full-history
 *   KV-cache with the arm's dKey, dVal holds at that step). Steps are a subset of the control steps:
 *   t strictly increasing integers in [0, horizon]; g = 1 when the gate wrote on any step since the
 *   previous kept one; writes the exact running count (non-decreasing); success is null (see cues).
 */
import { FormatError } from "aura-mem/errors";

export const TRACE_FORMAT = "aura-sim-trace";
/** The newest version this reader knows; it reads {@link TRACE_VERSIONS}. */
export const TRACE_VERSION = 2;
export const TRACE_VERSIONS = [1, 2] as const;

export type Vec3 = [number, number, number];

/** One control tick of a trace (version 2: one kept tick). */
export interface TraceStep {
  t: number;
  q: number[];
  ee: Vec3;
  cubes: [number, number, number, number, number, number, number][];
  /** Whether (or which) cue was shown at this tick: false / null / 0 / "" / a negative number (a flicker) mean none. */
  cue: boolean | number | string | null;
  p: number;
  g: number;
  writes: number;
  stateBytes: number;
  /** Version 2: bytes of a full-history KV-cache at this step (NaN when the trace does not carry it). */
  kvBytes?: number;
}

/** One cue of a version-2 trace: its goal and outcome. */
export interface TraceCue {
  cue: number;
  /** First control step it is shown on; the step it was scored on (null: not scored). */
  step: number;
  scoredAt: number | null;
  goalIndex: number;
  /** Indices into `bodies.cubes` / `bodies.zones`. */
  cube: number;
  zone: number;
  success: boolean | null;
  placed: boolean | null;
}

/** Names (and drawing geometry) of a trace's bodies. */
export interface TraceBodies {
  cubes: string[];
  zones: string[];
  zoneXY?: [number, number][];
  zoneRadius?: number;
  cubeHalf?: number;
}

/** A parsed trace. */
export interface SimTrace {
  format: typeof TRACE_FORMAT;
  version: (typeof TRACE_VERSIONS)[number];
  task: string;
  arm: string;
  seed: number;
  controlHz: number;
  steps: TraceStep[];
  success: boolean | null;
  /** Control steps of the episode (version 1: the last step's t). */
  horizon: number;
  /** Stride of the kept steps (version 1: 1). */
  every: number;
  /** Version 2: every cue with its goal and outcome (version 1: []). */
  cues: TraceCue[];
  /**
   * Body names, and optionally the zones' centres (x, y, m), their radius and the cubes' half edge (m)
   * (version 1: when the trace carries valid names, else null; they also stay in `extra`).
   */
  bodies: TraceBodies | null;
  /** Any other top-level fields, kept as they are (e.g. a `synthetic` flag, version 2's kvCache and source). */
  extra: Record<string, unknown>;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nums(where: string, v: unknown, n: number | null): number[] {
  if (!Array.isArray(v) || (n !== null && v.length !== n) || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new FormatError(`${where} must be ${n === null ? "an array of" : `${n}`} finite numbers`);
  }
  return v as number[];
}

function num(where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new FormatError(`${where} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function int(where: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new FormatError(`${where} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function boolOrNull(where: string, v: unknown): boolean | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "boolean") throw new FormatError(`${where} must be true, false or null, got ${JSON.stringify(v)}`);
  return v;
}

function names(where: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.length || !v.every((x) => typeof x === "string")) throw new FormatError(`${where} must be a non-empty array of names`);
  return v as string[];
}

/** True when a step's cue field says a cue was shown (a negative number is a flicker, not a cue). */
export function cueShown(cue: TraceStep["cue"]): boolean {
  return cue !== null && cue !== false && cue !== 0 && cue !== "" && !(typeof cue === "number" && cue < 0);
}

/** True when a step's cue field marks a flicker (a distractor: `aura sim` writes -1). */
export function flickerShown(cue: TraceStep["cue"]): boolean {
  return typeof cue === "number" && cue < 0;
}

/**
 * Validate a trace (text or parsed JSON), version 1 or 2 (module TSDoc).
 * @throws FormatError naming the first bad field.
 */
export function parseTrace(input: unknown): SimTrace {
  let data = input;
  if (typeof input === "string") {
    try {
      data = JSON.parse(input);
    } catch (e) {
      throw new FormatError(`trace is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObj(data)) throw new FormatError("trace must be a JSON object");
  if (data["format"] !== TRACE_FORMAT) throw new FormatError(`trace format must be "${TRACE_FORMAT}", got ${JSON.stringify(data["format"])}`);
  const version = data["version"];
  if (version !== 1 && version !== 2) throw new FormatError(`trace version ${JSON.stringify(version)} is not supported (this page reads versions ${TRACE_VERSIONS.join(" and ")})`);
  const v2 = version === 2;
  const steps = data["steps"];
  if (!Array.isArray(steps) || steps.length === 0) throw new FormatError("trace.steps must be a non-empty array");
  const out: TraceStep[] = steps.map((s, i) => {
    const w = `trace.steps[${i}]`;
    if (!isObj(s)) throw new FormatError(`${w} must be an object`);
    const q = nums(`${w}.q`, s["q"], null);
    if (q.length < 7) throw new FormatError(`${w}.q must hold at least the 7 arm joints, got ${q.length}`);
    const ee = nums(`${w}.ee`, s["ee"], 3) as Vec3;
    const cubesIn = s["cubes"] ?? [];
    if (!Array.isArray(cubesIn)) throw new FormatError(`${w}.cubes must be an array of [x, y, z, qw, qx, qy, qz]`);
    const cubes = cubesIn.map((c, j) => nums(`${w}.cubes[${j}]`, c, 7) as TraceStep["cubes"][number]);
    const cue = s["cue"] ?? null;
    if (cue !== null && !["boolean", "number", "string"].includes(typeof cue)) throw new FormatError(`${w}.cue must be a boolean, number, string or null`);
    const p = num(`${w}.p`, s["p"]);
    const g = num(`${w}.g`, s["g"]);
    const step: TraceStep = {
      t: num(`${w}.t`, s["t"]),
      q,
      ee,
      cubes,
      cue: cue as TraceStep["cue"],
      p,
      g,
      writes: s["writes"] === undefined && !v2 ? NaN : num(`${w}.writes`, s["writes"]),
      stateBytes: s["stateBytes"] === undefined && !v2 ? NaN : num(`${w}.stateBytes`, s["stateBytes"]),
    };
    if (v2) {
      step.kvBytes = num(`${w}.kvBytes`, s["kvBytes"]);
      if (!Number.isInteger(step.t) || step.t < 0) throw new FormatError(`${w}.t must be an integer >= 0, got ${step.t}`);
      if (g !== 0 && g !== 1) throw new FormatError(`${w}.g must be 0 or 1, got ${g}`);
      if (!Number.isInteger(step.writes) || step.writes < 0) throw new FormatError(`${w}.writes must be an integer >= 0, got ${step.writes}`);
      if (step.stateBytes < 0 || step.kvBytes < 0) throw new FormatError(`${w}: byte counts must be >= 0`);
    }
    return step;
  });
  // running write count when the trace does not carry it
  if (out.some((s) => Number.isNaN(s.writes))) {
    let c = 0;
    for (const s of out) s.writes = c += s.g > 0.5 ? 1 : 0;
  }
  let horizon = out[out.length - 1]!.t;
  let every = 1;
  let cues: TraceCue[] = [];
  let bodies: SimTrace["bodies"] = null;
  const b = data["bodies"];
  if (v2) {
    if (!isObj(b)) throw new FormatError("trace.bodies must be an object { cubes, zones }");
    bodies = { cubes: names("trace.bodies.cubes", b["cubes"]), zones: names("trace.bodies.zones", b["zones"]) };
    if (b["zoneXY"] !== undefined) {
      const zx = b["zoneXY"];
      if (!Array.isArray(zx) || zx.length !== bodies.zones.length) throw new FormatError(`trace.bodies.zoneXY must hold one [x, y] per zone (${bodies.zones.length})`);
      bodies.zoneXY = zx.map((v, i) => nums(`trace.bodies.zoneXY[${i}]`, v, 2) as [number, number]);
    }
    for (const k of ["zoneRadius", "cubeHalf"] as const) {
      if (b[k] === undefined) continue;
      const v = num(`trace.bodies.${k}`, b[k]);
      if (!(v > 0)) throw new FormatError(`trace.bodies.${k} must be > 0, got ${v}`);
      bodies[k] = v;
    }
  } else if (isObj(b)) {
    // version 1: optional and never checked (older readers ignored it)
    try {
      bodies = { cubes: names("trace.bodies.cubes", b["cubes"]), zones: names("trace.bodies.zones", b["zones"]) };
    } catch {
      bodies = null;
    }
  }
  if (v2) {
    horizon = int("trace.horizon", data["horizon"], 1);
    every = int("trace.every", data["every"], 1);
    for (let i = 0; i < out.length; i++) {
      const s = out[i]!;
      const prev = out[i - 1];
      if (s.t > horizon) throw new FormatError(`trace.steps[${i}].t = ${s.t} is past the horizon ${horizon}`);
      if (prev && s.t <= prev.t) throw new FormatError(`trace.steps[${i}].t = ${s.t} does not increase (previous ${prev.t})`);
      if (prev && s.writes < prev.writes) throw new FormatError(`trace.steps[${i}].writes = ${s.writes} decreases (previous ${prev.writes})`);
      if (prev && s.writes > prev.writes && s.g !== 1) throw new FormatError(`trace.steps[${i}]: ${s.writes - prev.writes} writes since the previous kept step but g = 0`);
    }
    const cs = data["cues"];
    if (!Array.isArray(cs)) throw new FormatError("trace.cues must be an array");
    cues = cs.map((c, i): TraceCue => {
      const w = `trace.cues[${i}]`;
      if (!isObj(c)) throw new FormatError(`${w} must be an object`);
      const cube = int(`${w}.cube`, c["cube"], 0);
      const zone = int(`${w}.zone`, c["zone"], 0);
      if (cube >= bodies!.cubes.length) throw new FormatError(`${w}.cube = ${cube} names no cube (${bodies!.cubes.length} in bodies)`);
      if (zone >= bodies!.zones.length) throw new FormatError(`${w}.zone = ${zone} names no zone (${bodies!.zones.length} in bodies)`);
      const step = int(`${w}.step`, c["step"], 0);
      if (step > horizon) throw new FormatError(`${w}.step = ${step} is past the horizon ${horizon}`);
      const sc = c["scoredAt"];
      return {
        cue: int(`${w}.cue`, c["cue"], 0),
        step,
        scoredAt: sc === null || sc === undefined ? null : int(`${w}.scoredAt`, sc, 0),
        goalIndex: int(`${w}.goalIndex`, c["goalIndex"], 0),
        cube,
        zone,
        success: boolOrNull(`${w}.success`, c["success"]),
        placed: boolOrNull(`${w}.placed`, c["placed"]),
      };
    });
  }
  const known = new Set(["format", "version", "task", "arm", "seed", "controlHz", "steps", "success", ...(v2 ? ["bodies", "horizon", "every", "cues"] : [])]);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!known.has(k)) extra[k] = v;
  const hz = data["controlHz"];
  return {
    format: TRACE_FORMAT,
    version,
    task: typeof data["task"] === "string" ? data["task"] : "?",
    arm: typeof data["arm"] === "string" ? data["arm"] : "?",
    seed: typeof data["seed"] === "number" ? data["seed"] : 0,
    controlHz: typeof hz === "number" && hz > 0 ? hz : 10,
    steps: out,
    success: typeof data["success"] === "boolean" ? data["success"] : null,
    horizon,
    every,
    cues,
    bodies,
    extra,
  };
}

/**
 * Index of the last step at or before control step `t` (binary search; steps in increasing t).
 * Returns 0 when t precedes every step.
 */
export function stepIndexAt(steps: readonly Pick<TraceStep, "t">[], t: number): number {
  let lo = 0;
  let hi = steps.length - 1;
  if (hi < 0 || t <= steps[0]!.t) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid]!.t <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// ------------------------------------------------------------------------------------------------
// Franka Panda forward kinematics (modified Denavit-Hartenberg parameters of the Franka manual)
// ------------------------------------------------------------------------------------------------

/** [a, d, alpha] of joints 1..7, then the flange (metres, radians). */
const PANDA_DH: readonly [number, number, number][] = [
  [0, 0.333, 0],
  [0, 0, -Math.PI / 2],
  [0, 0.316, Math.PI / 2],
  [0.0825, 0, Math.PI / 2],
  [-0.0825, 0.384, -Math.PI / 2],
  [0, 0, Math.PI / 2],
  [0.088, 0, Math.PI / 2],
];
const FLANGE_D = 0.107;
/** Flange to the point between the fingertips of the Franka hand. */
const HAND_TCP = 0.1034;

type Mat4 = Float64Array;

function mul(a: Mat4, b: Mat4): Mat4 {
  const o = new Float64Array(16);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += a[i * 4 + k]! * b[k * 4 + j]!;
    o[i * 4 + j] = s;
  }
  return o;
}

/** RotX(alpha) TransX(a) RotZ(theta) TransZ(d): one modified-DH link. */
function link(a: number, d: number, alpha: number, theta: number): Mat4 {
  const ca = Math.cos(alpha), sa = Math.sin(alpha), ct = Math.cos(theta), st = Math.sin(theta);
  return new Float64Array([ct, -st, 0, a, st * ca, ct * ca, -sa, -d * sa, st * sa, ct * sa, ca, d * ca, 0, 0, 0, 1]);
}

/**
 * Positions (robot base frame, metres) of the base, every joint origin, the flange and the hand's
 * tool centre point for joint angles q[0..6]: 10 points.
 */
export function pandaChain(q: readonly number[]): Vec3[] {
  let T: Mat4 = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  const pts: Vec3[] = [[0, 0, 0]];
  for (let i = 0; i < 7; i++) {
    const [a, d, alpha] = PANDA_DH[i]!;
    T = mul(T, link(a, d, alpha, q[i] ?? 0));
    pts.push([T[3]!, T[7]!, T[11]!]);
  }
  T = mul(T, link(0, FLANGE_D, 0, 0));
  pts.push([T[3]!, T[7]!, T[11]!]);
  T = mul(T, link(0, HAND_TCP, 0, 0));
  pts.push([T[3]!, T[7]!, T[11]!]);
  return pts;
}

/**
 * Where the robot base sits in the trace's world frame, estimated as the mean offset between the
 * recorded ee and the kinematic tool point, and how well that fixed offset explains every step
 * (RMS residual, metres). The replay draws the links only when the residual is small; otherwise the
 * trace's joint angles do not match these kinematics (another ee site, a moving base) and it draws
 * the recorded ee alone.
 */
export function fitBase(steps: readonly TraceStep[]): { base: Vec3; rms: number } {
  const n = steps.length;
  const tips = steps.map((s) => pandaChain(s.q)[9]!);
  const base: Vec3 = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) base[k] += (steps[i]!.ee[k]! - tips[i]![k]!) / n;
  let ss = 0;
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) ss += (steps[i]!.ee[k]! - tips[i]![k]! - base[k]!) ** 2;
  return { base, rms: Math.sqrt(ss / n) };
}

/** Yaw (rotation about world z, radians) of a unit quaternion (w, x, y, z). */
export function quatYaw(w: number, x: number, y: number, z: number): number {
  return Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}
