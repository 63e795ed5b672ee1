/**
 * Closed-loop episode traces written by `aura sim` (format "aura-sim-trace", version 1), read
 * without Node, plus the Franka Panda forward kinematics the replay view draws the arm with.
 *
 *   { format: "aura-sim-trace", version: 1, task, arm, seed, controlHz,
 *     steps: [{ t, q: number[9], ee: [x,y,z], cubes: [[x,y,z,qw,qx,qy,qz], ...], cue, p, g, writes, stateBytes }],
 *     success }
 *
 * q holds the 7 arm joints then the 2 finger joints (radians, metres); ee and cube positions are
 * metres in the world frame; cube orientations are unit quaternions (w, x, y, z); p is the gate's
 * write probability, g the write (0/1), writes the running count, stateBytes the memory size.
 */
import { FormatError } from "aura-mem/errors";

export const TRACE_FORMAT = "aura-sim-trace";
export const TRACE_VERSION = 1;

export type Vec3 = [number, number, number];

/** One control tick of a trace. */
export interface TraceStep {
  t: number;
  q: number[];
  ee: Vec3;
  cubes: [number, number, number, number, number, number, number][];
  /** Whether (or which) cue was shown at this tick: false / null / 0 / "" mean none. */
  cue: boolean | number | string | null;
  p: number;
  g: number;
  writes: number;
  stateBytes: number;
}

/** A parsed trace. */
export interface SimTrace {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  task: string;
  arm: string;
  seed: number;
  controlHz: number;
  steps: TraceStep[];
  success: boolean | null;
  /** Any other top-level fields, kept as they are (e.g. a `synthetic` flag). */
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

/** True when a step's cue field says a cue was shown. */
export function cueShown(cue: TraceStep["cue"]): boolean {
  return cue !== null && cue !== false && cue !== 0 && cue !== "";
}

/**
 * Validate a trace (text or parsed JSON).
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
  if (data["version"] !== TRACE_VERSION) throw new FormatError(`trace version ${JSON.stringify(data["version"])} is not supported (this page reads version ${TRACE_VERSION})`);
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
    return {
      t: num(`${w}.t`, s["t"]),
      q,
      ee,
      cubes,
      cue: cue as TraceStep["cue"],
      p,
      g,
      writes: s["writes"] === undefined ? NaN : num(`${w}.writes`, s["writes"]),
      stateBytes: s["stateBytes"] === undefined ? NaN : num(`${w}.stateBytes`, s["stateBytes"]),
    };
  });
  // running write count when the trace does not carry it
  if (out.some((s) => Number.isNaN(s.writes))) {
    let c = 0;
    for (const s of out) s.writes = c += s.g > 0.5 ? 1 : 0;
  }
  const known = new Set(["format", "version", "task", "arm", "seed", "controlHz", "steps", "success"]);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (!known.has(k)) extra[k] = v;
  const hz = data["controlHz"];
  return {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    task: typeof data["task"] === "string" ? data["task"] : "?",
    arm: typeof data["arm"] === "string" ? data["arm"] : "?",
    seed: typeof data["seed"] === "number" ? data["seed"] : 0,
    controlHz: typeof hz === "number" && hz > 0 ? hz : 10,
    steps: out,
    success: typeof data["success"] === "boolean" ? data["success"] : null,
    extra,
  };
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
