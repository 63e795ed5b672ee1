/**
 * Canvas drawing of the demo's live views: the stream tape, the memory-bytes chart, the accuracy /
 * writes trade-off and the replay of a sim trace. Plain 2D canvas, sized to the element's CSS box
 * at the device pixel ratio.
 */
import { StepType } from "../../src/tasks/types.js";
import type { StreamRun, TradeoffPoint } from "../../src/web/stream.js";
import { cueShown, pandaChain, quatYaw, type SimTrace, type Vec3 } from "../../src/web/trace.js";

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
/** Edge of the cubes as drawn (the trace does not carry their size). */
const CUBE_EDGE = 0.05;

/** Top-down (x-y) and side (x-z) views of one step of a trace. */
export function drawReplay(canvas: HTMLCanvasElement, trace: SimTrace, geo: ReplayGeometry, i: number): void {
  const { ctx, w, h } = fit(canvas);
  const s = trace.steps[i]!;
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
    // ee path so far
    ctx.strokeStyle = "rgba(12, 133, 153, 0.35)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let j = 0; j <= i; j++) {
      const e = trace.steps[j]!.ee;
      if (j === 0) ctx.moveTo(X(e[P.a]!), Y(e[P.b]!));
      else ctx.lineTo(X(e[P.a]!), Y(e[P.b]!));
    }
    ctx.stroke();
    // writes along the path
    for (let j = 0; j <= i; j++) {
      const st = trace.steps[j]!;
      if (st.g > 0.5) {
        ctx.fillStyle = COLORS.write;
        ctx.beginPath();
        ctx.arc(X(st.ee[P.a]!), Y(st.ee[P.b]!), 2.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    // cubes
    s.cubes.forEach((c, j) => {
      const yaw = P.b === 1 ? quatYaw(c[3], c[4], c[5], c[6]) : 0;
      ctx.save();
      ctx.translate(X(c[P.a]!), Y(c[P.b]!));
      ctx.rotate(-yaw);
      ctx.fillStyle = CUBE_COLORS[j % CUBE_COLORS.length]!;
      const e = CUBE_EDGE * k;
      ctx.fillRect(-e / 2, -e / 2, e, e);
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

/** The gate over a trace: p as a line, writes as ticks, cue steps as bands, and the playhead. */
export function drawTimeline(canvas: HTMLCanvasElement, trace: SimTrace, i: number): void {
  const { ctx, w, h } = fit(canvas);
  const L = 56, R = 12, T = 10, B = 24;
  const n = trace.steps.length;
  const pw = w - L - R, ph = h - T - B - 14;
  const X = (j: number): number => L + (n > 1 ? (j / (n - 1)) * pw : 0);
  const Y = (p: number): number => T + ph * (1 - p);
  ctx.font = FONT_SMALL;
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.fillText("p(write)", L - 6, Y(0.5));
  ctx.fillText("write", L - 6, T + ph + 8);
  trace.steps.forEach((s, j) => {
    if (cueShown(s.cue)) {
      ctx.fillStyle = "rgba(232, 89, 12, 0.16)";
      ctx.fillRect(X(j) - Math.max(1, pw / n / 2), T, Math.max(2, pw / n), ph);
    }
  });
  ctx.strokeStyle = COLORS.grid;
  for (const v of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(L, Y(v) + 0.5);
    ctx.lineTo(w - R, Y(v) + 0.5);
    ctx.stroke();
  }
  ctx.strokeStyle = COLORS.aura;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  trace.steps.forEach((s, j) => (j ? ctx.lineTo(X(j), Y(s.p)) : ctx.moveTo(X(j), Y(s.p))));
  ctx.stroke();
  ctx.fillStyle = COLORS.write;
  trace.steps.forEach((s, j) => {
    if (s.g > 0.5) ctx.fillRect(X(j) - 1, T + ph + 3, 2.5, 10);
  });
  ctx.strokeStyle = COLORS.text;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(X(i), T - 2);
  ctx.lineTo(X(i), T + ph + 14);
  ctx.stroke();
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText("0 s", L, h - 12);
  ctx.textAlign = "right";
  ctx.fillText(`${((n - 1) / trace.controlHz).toFixed(1)} s`, w - R, h - 12);
}
