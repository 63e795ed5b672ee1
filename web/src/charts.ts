/**
 * Canvas drawing of the demo's live views: the stream tape, the memory-bytes chart, the accuracy /
 * writes trade-off and the replay of a sim trace. Plain 2D canvas, sized to the element's CSS box
 * at the device pixel ratio.
 */
import { StepType } from "../../src/tasks/types.js";
import type { StreamRun, TradeoffPoint } from "../../src/web/stream.js";
import { cueShown, flickerShown, pandaChain, quatYaw, stepIndexAt, type SimTrace, type TraceCue, type Vec3 } from "../../src/web/trace.js";

export const COLORS = {
  event: "#e8590c",
  lure: "#c2255c",
  novel: "#7048e8",
  background: "#dee2e6",
  query: "#1c7ed6",
  write: "#2f9e44",
  noWrite: "#adb5bd",
  threshold: "#e03131",
  aura: "#0c8599",
  kv: "#e03131",
  grid: "#e9ecef",
  axis: "#868e96",
  text: "#343a40",
  muted: "#868e96",
};

/**
 * The action-vs-target track encodes the goal class by position, not colour (the step-type legend
 * owns the colours): one lane per class, the target as a grey band, the model's action as a dark tick.
 */
export const GOAL_TRACK = { target: "#adb5bd", action: "#212529", empty: "#f8f9fa" } as const;

export const ARM_COLORS: Record<string, string> = {
  aura: "#0c8599",
  "always-write": "#495057",
  random: "#f59f00",
  periodic: "#d6336c",
};

const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
const FONT_SMALL = "11px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";

/** Size the canvas backing store to its CSS box; returns a context in CSS pixels. */
export function fit(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; w: number; h: number } {
  const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const w = Math.max(10, canvas.clientWidth);
  const h = Math.max(10, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

/** Colour of the observation at step t (lures and novel distractors told apart by the generator's truth). */
export function obsColor(run: StreamRun, t: number): string {
  const st = run.ep.stepType[t]!;
  if (st === StepType.event) return COLORS.event;
  if (st === StepType.query) return COLORS.query;
  if (st === StepType.distractor) return (run.ep.truth?.lureClass?.[t] ?? -1) >= 0 ? COLORS.lure : COLORS.novel;
  return COLORS.background;
}

/**
 * The last `window` steps of the stream: observation type, write probability (bars, with the
 * threshold), writes, and the action vs the target per step.
 */
export function drawTape(canvas: HTMLCanvasElement, run: StreamRun, threshold: number, showThreshold: boolean): void {
  const { ctx, w, h } = fit(canvas);
  const gutter = 92;
  const W = Math.max(40, Math.floor((w - gutter - 8) / 4));
  const colW = (w - gutter - 8) / W;
  const t1 = run.t;
  const t0 = Math.max(0, t1 - W);
  const nClass = 8;
  const lane = 6;
  const rows = { obs: [10, 22], p: [44, 100], write: [152, 10], goal: [170, nClass * lane] } as const;
  ctx.font = FONT_SMALL;
  ctx.fillStyle = COLORS.muted;
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  const label = (s: string, y: number): void => void ctx.fillText(s, gutter - 10, y);
  label("observation", rows.obs[0] + rows.obs[1] / 2);
  label("p(write)", rows.p[0] + rows.p[1] / 2);
  label("write", rows.write[0] + rows.write[1] / 2);
  label("action /", rows.goal[0] + rows.goal[1] / 2 - 7);
  label("target", rows.goal[0] + rows.goal[1] / 2 + 7);
  // p axis
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  for (const v of [0, 0.5, 1]) {
    const y = rows.p[0] + rows.p[1] * (1 - v);
    ctx.beginPath();
    ctx.moveTo(gutter, y + 0.5);
    ctx.lineTo(w - 8, y + 0.5);
    ctx.stroke();
  }
  ctx.textAlign = "left";
  for (let t = t0; t < t1; t++) {
    const x = gutter + (t - (t1 - W)) * colW;
    const cw = Math.max(1, colW - 0.6);
    ctx.fillStyle = obsColor(run, t);
    ctx.fillRect(x, rows.obs[0], cw, rows.obs[1]);
    const p = run.p[t]!;
    const g = run.g[t]!;
    ctx.fillStyle = g ? COLORS.write : COLORS.noWrite;
    const ph = Math.max(1, p * rows.p[1]);
    ctx.fillRect(x, rows.p[0] + rows.p[1] - ph, cw, ph);
    if (g) {
      ctx.fillStyle = COLORS.write;
      ctx.fillRect(x, rows.write[0], cw, rows.write[1]);
    }
    const a = run.pred[t]!;
    const y = run.ep.label![t]!;
    // class c sits in lane c counted from the top; the target as a grey band, the action as a dark tick
    const laneY = (c: number): number => rows.goal[0] + (c % nClass) * lane;
    ctx.fillStyle = GOAL_TRACK.empty;
    ctx.fillRect(x, rows.goal[0], cw, rows.goal[1]);
    if (y >= 0) {
      ctx.fillStyle = GOAL_TRACK.target;
      ctx.fillRect(x, laneY(y), cw, lane);
      ctx.fillStyle = GOAL_TRACK.action;
      ctx.fillRect(x, laneY(a) + 2, cw, lane - 4);
    }
  }
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  ctx.strokeRect(gutter + 0.5, rows.goal[0] - 0.5, w - 8 - gutter - 1, rows.goal[1] + 1);
  ctx.font = "9px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = "right";
  ctx.fillText("0", gutter - 2, rows.goal[0] + lane / 2);
  ctx.fillText(String(nClass - 1), gutter - 2, rows.goal[0] + rows.goal[1] - lane / 2);
  if (showThreshold) {
    const yT = rows.p[0] + rows.p[1] * (1 - threshold);
    ctx.strokeStyle = COLORS.threshold;
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(gutter, yT);
    ctx.lineTo(w - 8, yT);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.threshold;
    ctx.font = FONT_SMALL;
    ctx.textAlign = "right";
    ctx.fillText(`threshold ${threshold.toFixed(2)}`, w - 10, yT - 7);
  }
  // "now" marker
  ctx.fillStyle = COLORS.text;
  ctx.textAlign = "right";
  ctx.font = FONT_SMALL;
  ctx.fillText(t1 > 0 ? `step ${(t1 - 1).toLocaleString("en-US")} →` : "press play", w - 10, h - 6);
  ctx.textAlign = "left";
  ctx.fillStyle = COLORS.muted;
  if (t1 > 0) ctx.fillText(`← step ${t0.toLocaleString("en-US")}`, gutter, h - 6);
}

function fmtBytes(b: number): string {
  if (b >= 1e6) return `${+(b / 1e6).toPrecision(3)} MB`;
  if (b >= 1e3) return `${+(b / 1e3).toPrecision(3)} KB`;
  return `${b} B`;
}

/** AURA's state bytes (flat) and a KV-cache's (growing) from step 0 to the current step, on a log axis over the whole horizon. */
export function drawBytes(canvas: HTMLCanvasElement, t: number, N: number, auraBytes: number, kv: (t: number) => number): void {
  const { ctx, w, h } = fit(canvas);
  const L = 64, R = 16, T = 14, B = 34;
  const pw = w - L - R, ph = h - T - B;
  const yMin = 1e3;
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(kv(N), auraBytes * 10)));
  const X = (s: number): number => L + (s / N) * pw;
  const Y = (b: number): number => T + ph * (1 - (Math.log10(Math.max(b, yMin)) - 3) / (Math.log10(yMax) - 3));
  ctx.font = FONT_SMALL;
  ctx.textBaseline = "middle";
  for (let e = 3; 10 ** e <= yMax; e++) {
    const y = Y(10 ** e);
    ctx.strokeStyle = COLORS.grid;
    ctx.beginPath();
    ctx.moveTo(L, y + 0.5);
    ctx.lineTo(w - R, y + 0.5);
    ctx.stroke();
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = "right";
    ctx.fillText(fmtBytes(10 ** e), L - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  // x ticks: centred under their step, but shifted inwards where a label would leave the canvas
  // (the last one, "100,000", used to lose its last digit at the right edge)
  const ticks: { text: string; left: number; right: number }[] = [];
  for (let i = 0; i <= 4; i++) {
    const s = Math.round((N * i) / 4);
    const text = s.toLocaleString("en-US");
    const tw = ctx.measureText(text).width;
    const cx = Math.min(Math.max(X(s), tw / 2 + 1), w - tw / 2 - 1);
    ctx.fillStyle = COLORS.muted;
    ctx.fillText(text, cx, T + ph + 6);
    ticks.push({ text, left: Math.round((cx - tw / 2) * 10) / 10, right: Math.round((cx + tw / 2) * 10) / 10 });
  }
  canvas.dataset["xticks"] = JSON.stringify({ width: w, ticks });
  ctx.fillText("step", L + pw / 2, T + ph + 20);
  ctx.strokeStyle = COLORS.axis;
  ctx.beginPath();
  ctx.moveTo(L, T);
  ctx.lineTo(L, T + ph);
  ctx.lineTo(w - R, T + ph);
  ctx.stroke();
  // ghost of the KV-cache over the whole horizon
  ctx.strokeStyle = "rgba(224, 49, 49, 0.18)";
  ctx.setLineDash([4, 4]);
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let i = 1; i <= 200; i++) {
    const s = Math.max(1, (N * i) / 200);
    if (i === 1) ctx.moveTo(X(s), Y(kv(s)));
    else ctx.lineTo(X(s), Y(kv(s)));
  }
  ctx.stroke();
  ctx.setLineDash([]);
  if (t > 0) {
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = COLORS.kv;
    ctx.beginPath();
    const n = 200;
    for (let i = 1; i <= n; i++) {
      const s = Math.max(1, (t * i) / n);
      if (i === 1) ctx.moveTo(X(s), Y(kv(s)));
      else ctx.lineTo(X(s), Y(kv(s)));
    }
    ctx.stroke();
    ctx.strokeStyle = COLORS.aura;
    ctx.beginPath();
    ctx.moveTo(X(0), Y(auraBytes));
    ctx.lineTo(X(t), Y(auraBytes));
    ctx.stroke();
    for (const [b, c] of [[kv(t), COLORS.kv], [auraBytes, COLORS.aura]] as const) {
      ctx.fillStyle = c;
      ctx.beginPath();
      ctx.arc(X(t), Y(b), 4, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.font = FONT;
    ctx.textBaseline = "bottom";
    ctx.textAlign = X(t) > L + pw * 0.6 ? "right" : "left";
    const dx = ctx.textAlign === "right" ? -8 : 8;
    ctx.fillStyle = COLORS.kv;
    ctx.fillText(`KV-cache ${kv(t).toLocaleString("en-US")} B`, X(t) + dx, Y(kv(t)) - 4);
    ctx.fillStyle = COLORS.aura;
    ctx.textBaseline = "top";
    ctx.fillText(`AURA ${auraBytes.toLocaleString("en-US")} B`, X(t) + dx, Y(auraBytes) + 5);
  }
}

/** Accuracy at the query steps vs writes per 1,000 steps: AURA's curve over thresholds (line) and marked points (the current threshold, the swapped arms). */
export function drawTradeoff(canvas: HTMLCanvasElement, curve: TradeoffPoint[], marks: TradeoffPoint[], chance: number): void {
  const { ctx, w, h } = fit(canvas);
  const L = 48, R = 20, T = 14, B = 40;
  const pw = w - L - R, ph = h - T - B;
  const xMin = 1, xMax = 1000;
  const X = (v: number): number => L + (pw * (Math.log10(Math.max(v, xMin)) - 0)) / 3;
  const Y = (a: number): number => T + ph * (1 - a);
  ctx.font = FONT_SMALL;
  ctx.textBaseline = "middle";
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.strokeStyle = COLORS.grid;
    ctx.beginPath();
    ctx.moveTo(L, Y(a) + 0.5);
    ctx.lineTo(w - R, Y(a) + 0.5);
    ctx.stroke();
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = "right";
    ctx.fillText(a.toFixed(2), L - 6, Y(a));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of [1, 10, 100, 1000]) {
    ctx.strokeStyle = COLORS.grid;
    ctx.beginPath();
    ctx.moveTo(X(v) + 0.5, T);
    ctx.lineTo(X(v) + 0.5, T + ph);
    ctx.stroke();
    ctx.fillStyle = COLORS.muted;
    ctx.fillText(v.toLocaleString("en-US"), X(v), T + ph + 6);
  }
  ctx.fillText("writes per 1,000 steps (log scale)", L + pw / 2, T + ph + 22);
  ctx.save();
  ctx.translate(12, T + ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("accuracy at queries", 0, -4);
  ctx.restore();
  // chance
  ctx.strokeStyle = COLORS.muted;
  ctx.setLineDash([3, 4]);
  ctx.beginPath();
  ctx.moveTo(L, Y(chance));
  ctx.lineTo(w - R, Y(chance));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  ctx.fillText(`chance ${chance.toFixed(3)}`, L + 4, Y(chance) - 2);
  const per1k = (p: TradeoffPoint): number => (p.steps ? (1000 * p.writes) / p.steps : 0);
  const pts = curve.filter((p) => p.accuracy !== null).sort((a, b) => per1k(a) - per1k(b));
  if (pts.length) {
    ctx.strokeStyle = ARM_COLORS["aura"]!;
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(X(per1k(p)), Y(p.accuracy!)) : ctx.moveTo(X(per1k(p)), Y(p.accuracy!))));
    ctx.stroke();
    for (const p of pts) {
      ctx.fillStyle = ARM_COLORS["aura"]!;
      ctx.beginPath();
      ctx.arc(X(per1k(p)), Y(p.accuracy!), 3, 0, Math.PI * 2);
      ctx.fill();
    }
  }
  // legend
  ctx.font = FONT_SMALL;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.strokeStyle = ARM_COLORS["aura"]!;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(L + 10, T + 12);
  ctx.lineTo(L + 30, T + 12);
  ctx.stroke();
  ctx.fillStyle = COLORS.text;
  ctx.fillText("AURA at thresholds 0.98 … 0.02 (left to right)", L + 36, T + 12);
  ctx.fillStyle = COLORS.muted;
  ctx.fillRect(L + 15, T + 26, 9, 9);
  ctx.fillStyle = COLORS.text;
  ctx.fillText("same model, gate swapped", L + 36, T + 31);
  for (const p of marks) {
    if (p.accuracy === null) continue;
    const x = X(per1k(p));
    const y = Y(p.accuracy);
    ctx.fillStyle = ARM_COLORS[p.arm] ?? COLORS.text;
    ctx.strokeStyle = "white";
    ctx.lineWidth = 2;
    ctx.beginPath();
    if (p.arm === "aura") ctx.arc(x, y, 7, 0, Math.PI * 2);
    else ctx.rect(x - 5.5, y - 5.5, 11, 11);
    ctx.fill();
    ctx.stroke();
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    const right = x > L + pw * 0.75;
    ctx.textAlign = right ? "right" : "left";
    const name = p.arm === "aura" ? `AURA @ ${p.threshold!.toFixed(2)}` : p.arm === "always-write" ? "always-write" : `${p.arm} (same budget)`;
    ctx.fillText(name, x + (right ? -11 : 11), y + (p.arm === "periodic" ? 14 : p.arm === "random" ? -12 : 0));
  }
}

// ------------------------------------------------------------------------------------------------
// Replay of a sim trace
// ------------------------------------------------------------------------------------------------

/** Drawing context of a trace (fitted once per trace). */
export interface ReplayGeometry {
  base: Vec3;
  drawLinks: boolean;
  /** World bounds of everything in the trace (x, y, z min / max). */
  lo: Vec3;
  hi: Vec3;
}

/** Bounds over the ee path, the cubes and (when drawn) the arm links. */
export function replayGeometry(trace: SimTrace, base: Vec3, drawLinks: boolean): ReplayGeometry {
  const lo: Vec3 = [Infinity, Infinity, 0];
  const hi: Vec3 = [-Infinity, -Infinity, -Infinity];
  const add = (p: readonly number[]): void => {
    for (let k = 0; k < 3; k++) {
      lo[k] = Math.min(lo[k]!, p[k]!);
      hi[k] = Math.max(hi[k]!, p[k]!);
    }
  };
  add(base);
  const every = Math.max(1, Math.floor(trace.steps.length / 60));
  trace.steps.forEach((s, i) => {
    add(s.ee);
    for (const c of s.cubes) add(c);
    if (drawLinks && i % every === 0) for (const p of pandaChain(s.q)) add([p[0] + base[0], p[1] + base[1], p[2] + base[2]]);
  });
  return { base, drawLinks, lo, hi };
}

const CUBE_COLORS = ["#e03131", "#2f9e44", "#1971c2", "#f08c00", "#9c36b5"];
/** Edge of the cubes as drawn when the trace does not carry their size (m). */
const CUBE_EDGE = 0.05;

/** Minutes:seconds of a time in seconds ("3:07"); tenths below one minute when `tenths`. */
export function fmtClock(sec: number, tenths = false): string {
  const m = Math.floor(sec / 60);
  const s = sec - 60 * m;
  return `${m}:${(tenths ? s.toFixed(1) : Math.floor(s).toFixed(0)).padStart(tenths ? 4 : 2, "0")}`;
}

/** The cue of a version-2 trace in force at control step t (the last shown at or before t), or null. */
export function cueAt(trace: SimTrace, t: number): TraceCue | null {
  let cur: TraceCue | null = null;
  for (const c of trace.cues) if (c.step <= t) cur = c;
  return cur;
}

/** Options of {@link drawReplay}. */
export interface ReplayOptions {
  /** Draw the end-effector path (and its writes) only over the last `trail` control steps (default: all). */
  trail?: number;
}

/** Top-down (x-y) and side (x-z) views of one step of a trace. */
export function drawReplay(canvas: HTMLCanvasElement, trace: SimTrace, geo: ReplayGeometry, i: number, opts: ReplayOptions = {}): void {
  const { ctx, w, h } = fit(canvas);
  const s = trace.steps[i]!;
  const t0 = opts.trail === undefined ? -Infinity : s.t - opts.trail;
  const cue = cueAt(trace, s.t);
  const edge = trace.bodies?.cubeHalf ? 2 * trace.bodies.cubeHalf : CUBE_EDGE;
  const panels = [
    { name: "top view (x–y)", a: 0, b: 1, x0: 0 },
    { name: "side view (x–z)", a: 0, b: 2, x0: w / 2 },
  ];
  const pad = 26;
  for (const P of panels) {
    const pw = w / 2 - 2 * pad;
    const ph = h - 2 * pad;
    const spanA = Math.max(0.2, geo.hi[P.a]! - geo.lo[P.a]! + 0.1);
    const spanB = Math.max(0.2, geo.hi[P.b]! - geo.lo[P.b]! + 0.1);
    const k = Math.min(pw / spanA, ph / spanB);
    const ca = (geo.hi[P.a]! + geo.lo[P.a]!) / 2;
    const cb = (geo.hi[P.b]! + geo.lo[P.b]!) / 2;
    const X = (v: number): number => P.x0 + pad + pw / 2 + (v - ca) * k;
    const Y = (v: number): number => pad + ph / 2 - (v - cb) * k;
    ctx.fillStyle = "#f8f9fa";
    ctx.fillRect(P.x0 + 6, 6, w / 2 - 12, h - 12);
    ctx.fillStyle = COLORS.muted;
    ctx.font = FONT_SMALL;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(P.name, P.x0 + 14, 12);
    if (P.b === 2) {
      ctx.strokeStyle = COLORS.axis;
      ctx.beginPath();
      ctx.moveTo(P.x0 + 10, Y(0));
      ctx.lineTo(P.x0 + w / 2 - 10, Y(0));
      ctx.stroke();
    }
    // the place zones (top view), the current cue's zone outlined
    const zxy = trace.bodies?.zoneXY;
    if (P.b === 1 && zxy) {
      const r = trace.bodies!.zoneRadius ?? 0.05;
      zxy.forEach(([zx, zy], z) => {
        ctx.fillStyle = "rgba(134, 142, 150, 0.14)";
        ctx.strokeStyle = cue && cue.zone === z ? COLORS.event : "rgba(134, 142, 150, 0.6)";
        ctx.lineWidth = cue && cue.zone === z ? 2.5 : 1;
        ctx.beginPath();
        ctx.arc(X(zx), Y(zy), r * k, 0, Math.PI * 2);
        ctx.fill();
        ctx.stroke();
        ctx.fillStyle = COLORS.muted;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(trace.bodies!.zones[z]!.replace(/^zone_/, ""), X(zx), Y(zy) + r * k + 8);
      });
    }
    // ee path so far (the last `trail` steps)
    ctx.strokeStyle = "rgba(12, 133, 153, 0.35)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    for (let j = 0; j <= i; j++) {
      const st = trace.steps[j]!;
      if (st.t < t0) continue;
      const e = st.ee;
      if (!started) ctx.moveTo(X(e[P.a]!), Y(e[P.b]!));
      else ctx.lineTo(X(e[P.a]!), Y(e[P.b]!));
      started = true;
    }
    ctx.stroke();
    // writes along the path
    for (let j = 0; j <= i; j++) {
      const st = trace.steps[j]!;
      if (st.g > 0.5 && st.t >= t0) {
        ctx.fillStyle = COLORS.write;
        ctx.beginPath();
        ctx.arc(X(st.ee[P.a]!), Y(st.ee[P.b]!), 2.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    // cubes (the current cue's cube outlined)
    s.cubes.forEach((c, j) => {
      const yaw = P.b === 1 ? quatYaw(c[3], c[4], c[5], c[6]) : 0;
      ctx.save();
      ctx.translate(X(c[P.a]!), Y(c[P.b]!));
      ctx.rotate(-yaw);
      ctx.fillStyle = CUBE_COLORS[j % CUBE_COLORS.length]!;
      const e = edge * k;
      ctx.fillRect(-e / 2, -e / 2, e, e);
      if (cue && cue.cube === j) {
        ctx.strokeStyle = COLORS.event;
        ctx.lineWidth = 2.5;
        ctx.strokeRect(-e / 2 - 3, -e / 2 - 3, e + 6, e + 6);
      }
      ctx.restore();
    });
    // arm
    if (geo.drawLinks) {
      const pts = pandaChain(s.q).map((p) => [p[0] + geo.base[0], p[1] + geo.base[1], p[2] + geo.base[2]]);
      ctx.strokeStyle = "#495057";
      ctx.lineWidth = 5;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      pts.forEach((p, j) => (j ? ctx.lineTo(X(p[P.a]!), Y(p[P.b]!)) : ctx.moveTo(X(p[P.a]!), Y(p[P.b]!))));
      ctx.stroke();
      ctx.fillStyle = "#212529";
      for (const p of pts.slice(0, 8)) {
        ctx.beginPath();
        ctx.arc(X(p[P.a]!), Y(p[P.b]!), 3.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    ctx.fillStyle = s.g > 0.5 ? COLORS.write : COLORS.aura;
    ctx.beginPath();
    ctx.arc(X(s.ee[P.a]!), Y(s.ee[P.b]!), 6, 0, Math.PI * 2);
    ctx.fill();
    if (cueShown(s.cue)) {
      ctx.strokeStyle = COLORS.event;
      ctx.lineWidth = 3;
      ctx.strokeRect(P.x0 + 7.5, 7.5, w / 2 - 15, h - 15);
    }
  }
}

/** Options of {@link drawTimeline}. */
export interface TimelineOptions {
  /** Control steps [from, to] shown (default: the whole trace). */
  window?: [number, number];
  /** A caption drawn at the top left. */
  caption?: string;
}

/**
 * The gate over a trace against control steps: p as a line, writes as ticks, cue steps as bands
 * (version 2: every cue, with its outcome above: a green dot succeeded, a red cross failed), flickers
 * as thin purple marks, and the playhead at step i. The canvas gets `data-drawn` = counts of what was
 * drawn (cues, writes, steps) for tests.
 */
export function drawTimeline(canvas: HTMLCanvasElement, trace: SimTrace, i: number, opts: TimelineOptions = {}): void {
  const { ctx, w, h } = fit(canvas);
  const L = 56, R = 12, T = opts.caption ? 22 : 16, B = 24;
  const steps = trace.steps;
  const last = steps[steps.length - 1]!.t;
  const [a, b] = opts.window ?? [steps[0]!.t, Math.max(last, steps[0]!.t + 1)];
  const span = Math.max(1, b - a);
  const pw = w - L - R, ph = h - T - B - 14;
  const X = (t: number): number => L + ((t - a) / span) * pw;
  const Y = (p: number): number => T + ph * (1 - p);
  const inWin = (t: number): boolean => t >= a && t <= b;
  const hz = trace.controlHz;
  const long = span / hz >= 90;
  ctx.font = FONT_SMALL;
  if (opts.caption) {
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(opts.caption, L, 3);
  }
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.fillText("p(write)", L - 6, Y(0.5));
  ctx.fillText("write", L - 6, T + ph + 8);
  const stepW = Math.max(2, (pw / span) * (trace.every || 1));
  // cue bands: version 2 from its cue list (6 steps each, at least 2 px), version 1 from the steps
  let nCues = 0;
  if (trace.cues.length) {
    for (const c of trace.cues) {
      // the band runs over the kept steps showing this cue, from its first step on
      let k = stepIndexAt(steps, c.step);
      let end = c.step + 1;
      while (k < steps.length && steps[k]!.t < c.step) k++;
      while (k < steps.length && cueShown(steps[k]!.cue)) end = steps[k++]!.t + 1;
      if (end < a || c.step > b) continue;
      nCues++;
      const x0 = X(c.step);
      ctx.fillStyle = "rgba(232, 89, 12, 0.28)";
      ctx.fillRect(x0 - 1, T, Math.max(3, X(end) - x0), ph);
      // outcome above the band
      const cx = x0;
      const cy = T - 7;
      if (c.success === true) {
        ctx.fillStyle = COLORS.write;
        ctx.beginPath();
        ctx.arc(cx, cy, 3.5, 0, Math.PI * 2);
        ctx.fill();
      } else if (c.success === false) {
        ctx.strokeStyle = COLORS.kv;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(cx - 3, cy - 3);
        ctx.lineTo(cx + 3, cy + 3);
        ctx.moveTo(cx + 3, cy - 3);
        ctx.lineTo(cx - 3, cy + 3);
        ctx.stroke();
      }
    }
  } else {
    for (const s of steps) {
      if (inWin(s.t) && cueShown(s.cue)) {
        nCues++;
        ctx.fillStyle = "rgba(232, 89, 12, 0.16)";
        ctx.fillRect(X(s.t) - stepW / 2, T, stepW, ph);
      }
    }
  }
  for (const s of steps) {
    if (inWin(s.t) && flickerShown(s.cue)) {
      ctx.fillStyle = "rgba(112, 72, 232, 0.35)";
      ctx.fillRect(X(s.t) - 0.75, T + ph * 0.6, 1.5, ph * 0.4);
    }
  }
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  for (const v of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(L, Y(v) + 0.5);
    ctx.lineTo(w - R, Y(v) + 0.5);
    ctx.stroke();
  }
  ctx.strokeStyle = COLORS.aura;
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  let first = true;
  let nSteps = 0;
  for (const s of steps) {
    if (!inWin(s.t)) continue;
    nSteps++;
    if (first) ctx.moveTo(X(s.t), Y(s.p));
    else ctx.lineTo(X(s.t), Y(s.p));
    first = false;
  }
  ctx.stroke();
  ctx.fillStyle = COLORS.write;
  let nWrites = 0;
  for (const s of steps) {
    if (inWin(s.t) && s.g > 0.5) {
      nWrites++;
      ctx.fillRect(X(s.t) - stepW / 2, T + ph + 3, stepW, 10);
    }
  }
  const tNow = steps[i]!.t;
  if (inWin(tNow)) {
    ctx.strokeStyle = COLORS.text;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(X(tNow), T - 2);
    ctx.lineTo(X(tNow), T + ph + 14);
    ctx.stroke();
  }
  ctx.fillStyle = COLORS.muted;
  ctx.textBaseline = "top";
  if (long) {
    // a tick per minute (per 5 minutes past 20 minutes)
    const every = span / hz > 1200 ? 300 : 60;
    ctx.textAlign = "center";
    for (let sec = Math.ceil(a / hz / every) * every; sec <= b / hz; sec += every) {
      const x = X(sec * hz);
      ctx.fillRect(x, T + ph + 14, 1, 3);
      const text = fmtClock(sec);
      const tw = ctx.measureText(text).width;
      ctx.fillText(text, Math.min(Math.max(x, L + tw / 2), w - R - tw / 2), h - 12);
    }
  } else {
    ctx.textAlign = "left";
    ctx.fillText(`${(a / hz).toFixed(1)} s`, L, h - 12);
    ctx.textAlign = "right";
    ctx.fillText(`${(b / hz).toFixed(1)} s`, w - R, h - 12);
  }
  canvas.dataset["drawn"] = JSON.stringify({ cues: nCues, writes: nWrites, steps: nSteps, from: a, to: b });
}

/**
 * A version-2 trace's memory over the episode, on a log axis: the arm's state bytes (`stateBytes`,
 * AURA: flat) and a full-history KV-cache's (`kvBytes`, growing), both read from the trace's steps;
 * solid up to the playhead (step i), faint after it. The canvas gets `data-series` = per line the
 * number of points and the first and last values drawn, for tests.
 */
export function drawTraceBytes(canvas: HTMLCanvasElement, trace: SimTrace, i: number): void {
  const { ctx, w, h } = fit(canvas);
  const L = 64, R = 16, T = 14, B = 34;
  const pw = w - L - R, ph = h - T - B;
  const steps = trace.steps;
  const N = Math.max(1, trace.horizon);
  const kvOf = (s: (typeof steps)[number]): number => s.kvBytes ?? NaN;
  const maxB = steps.reduce((m, s) => Math.max(m, s.stateBytes, Number.isFinite(kvOf(s)) ? kvOf(s) : 0), 1);
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(maxB, 1e4)));
  const yMin = 1e2;
  const X = (t: number): number => L + (t / N) * pw;
  const Y = (b: number): number => T + ph * (1 - (Math.log10(Math.max(b, yMin)) - 2) / (Math.log10(yMax) - 2));
  ctx.font = FONT_SMALL;
  ctx.textBaseline = "middle";
  for (let e = 2; 10 ** e <= yMax; e++) {
    const y = Y(10 ** e);
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(L, y + 0.5);
    ctx.lineTo(w - R, y + 0.5);
    ctx.stroke();
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = "right";
    ctx.fillText(fmtBytes(10 ** e), L - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const hz = trace.controlHz;
  const perTick = N / hz > 1200 ? 300 : N / hz > 120 ? 60 : 10;
  for (let sec = 0; sec <= N / hz; sec += perTick) {
    const text = fmtClock(sec);
    const tw = ctx.measureText(text).width;
    ctx.fillStyle = COLORS.muted;
    ctx.fillText(text, Math.min(Math.max(X(sec * hz), L + tw / 2), w - R - tw / 2), T + ph + 6);
  }
  ctx.fillText("time (min:s)", L + pw / 2, T + ph + 20);
  ctx.strokeStyle = COLORS.axis;
  ctx.beginPath();
  ctx.moveTo(L, T);
  ctx.lineTo(L, T + ph);
  ctx.lineTo(w - R, T + ph);
  ctx.stroke();
  const series: Record<string, { points: number; first: number; last: number }> = {};
  const line = (name: string, colour: string, faint: string, value: (s: (typeof steps)[number]) => number): void => {
    const pts = steps.map((s) => [s.t, value(s)] as const).filter(([, v]) => Number.isFinite(v));
    if (!pts.length) return;
    ctx.lineWidth = 2.5;
    for (const [from, to, col] of [[0, pts.length, faint], [0, Math.min(pts.length, i + 1), colour]] as const) {
      ctx.strokeStyle = col;
      ctx.beginPath();
      for (let k = from; k < to; k++) {
        const [t, v] = pts[k]!;
        if (k === from) ctx.moveTo(X(t), Y(v));
        else ctx.lineTo(X(t), Y(v));
      }
      ctx.stroke();
    }
    const cur = pts[Math.min(pts.length - 1, i)]!;
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(X(cur[0]), Y(cur[1]), 4, 0, Math.PI * 2);
    ctx.fill();
    series[name] = { points: pts.length, first: pts[0]![1], last: pts[pts.length - 1]![1] };
  };
  line("kv", COLORS.kv, "rgba(224, 49, 49, 0.18)", kvOf);
  line("state", COLORS.aura, "rgba(12, 133, 153, 0.25)", (s) => s.stateBytes);
  const s = steps[i]!;
  ctx.font = FONT;
  const right = X(s.t) > L + pw * 0.6;
  ctx.textAlign = right ? "right" : "left";
  const dx = right ? -8 : 8;
  if (Number.isFinite(kvOf(s))) {
    ctx.fillStyle = COLORS.kv;
    ctx.textBaseline = "bottom";
    ctx.fillText(`KV-cache ${Math.round(kvOf(s)).toLocaleString("en-US")} B`, X(s.t) + dx, Y(kvOf(s)) - 4);
  }
  if (Number.isFinite(s.stateBytes)) {
    ctx.fillStyle = COLORS.aura;
    ctx.textBaseline = "top";
    ctx.fillText(`${trace.arm === "aura" ? "AURA" : trace.arm} ${Math.round(s.stateBytes).toLocaleString("en-US")} B`, X(s.t) + dx, Y(s.stateBytes) + 5);
  }
  canvas.dataset["series"] = JSON.stringify(series);
}
