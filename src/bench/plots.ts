/**
 * Benchmark plots: vega-lite specs compiled to vega and rendered to SVG strings headless (renderer
 * "none", no canvas, no DOM, no network: all data is inline). Text widths are estimated by vega
 * without a canvas, so output is deterministic for a given input and vega version.
 *
 * Every function validates its input first: empty input -> ConfigError, NaN/Inf -> NonFiniteError,
 * values a log axis cannot show (<= 0) -> ConfigError, mismatched series lengths -> ShapeError.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { ConfigError, NonFiniteError, ShapeError } from "aura-mem/errors";

export interface ArmPoint {
  task: string;
  arm: string;
  mean: number;
  ci95: [number, number];
  writesPerEpisode: number;
  metric: "accuracy" | "mse" | "success";
}

type VlSpec = Record<string, unknown>;

const WIDTH = 520;
const HEIGHT = 340;

const BASE_CONFIG = {
  background: "white",
  font: "Helvetica, Arial, sans-serif",
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridOpacity: 0.4 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  title: { fontSize: 14, anchor: "start" },
};

/** Compile a vega-lite spec and render it to an SVG string (no DOM, no canvas). */
export async function renderVegaLite(spec: VlSpec): Promise<string> {
  const full = { $schema: "https://vega.github.io/schema/vega-lite/v5.json", config: BASE_CONFIG, ...spec };
  const compiled = vl.compile(full as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function finite(where: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new NonFiniteError(`${where} is ${String(v)}`);
  return v;
}

/** Powers of ten covering [min, max] (min > 0), for log-axis ticks. */
function decades(min: number, max: number): number[] {
  const out: number[] = [];
  for (let d = Math.floor(Math.log10(min) + 1e-9); 10 ** d <= max * (1 + 1e-9); d++) out.push(10 ** d);
  return out;
}

/** Ticks 0, s, 2s, ... covering [0, max] with a 1-2-5 step s giving at most 8 intervals. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0];
  const base = 10 ** Math.floor(Math.log10(max / 8));
  const step = [1, 2, 5, 10].map((m) => m * base).find((s) => max / s <= 8)!;
  const out: number[] = [];
  for (let k = 0; k * step <= max * (1 + 1e-9); k++) out.push(Math.round(k * step * 1e9) / 1e9);
  return out;
}

function title(t: string | undefined): Record<string, unknown> {
  return t ? { title: t } : {};
}

const METRIC_TITLE: Record<ArmPoint["metric"], string> = {
  accuracy: "accuracy (higher is better)",
  mse: "MSE (lower is better)",
  success: "success rate (higher is better)",
};

/**
 * One colour per arm (16 well-separated hues before any repeats), paired with {@link ARM_SHAPES} so
 * every arm also has its own marker: an arm stays identifiable in grey-scale print and for readers
 * who cannot tell some of the hues apart.
 */
export const ARM_COLOURS: readonly string[] = [
  "#1f77b4", "#e6550d", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#393b79", "#637939", "#ad494a", "#7b4173", "#000000", "#fdae6b",
];

/**
 * Marker shapes, one per arm: vega's filled symbols, then filled SVG paths in vega's unit square
 * (-1..1) for a star, a pentagon, a hexagon, an X, a bow tie, an hourglass, a trapezoid and a bar.
 */
export const ARM_SHAPES: readonly string[] = [
  "circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "triangle-left", "triangle-right",
  "M0,-1.35L0.317,-0.437L1.284,-0.417L0.513,0.167L0.794,1.092L0,0.54L-0.794,1.092L-0.513,0.167L-1.284,-0.417L-0.317,-0.437Z",
  "M0,-1.15L1.094,-0.355L0.676,0.93L-0.676,0.93L-1.094,-0.355Z",
  "M-1,0L-0.5,-0.866L0.5,-0.866L1,0L0.5,0.866L-0.5,0.866Z",
  "M-1,-0.6L-0.6,-1L0,-0.4L0.6,-1L1,-0.6L0.4,0L1,0.6L0.6,1L0,0.4L-0.6,1L-1,0.6L-0.4,0Z",
  "M-1,-1L0,-0.3L1,-1L1,1L0,0.3L-1,1Z",
  "M-1,-1L1,-1L0.3,0L1,1L-1,1L-0.3,0Z",
  "M-1,0.7L1,0.7L0.5,-0.7L-0.5,-0.7Z",
  "M-1,-0.4L1,-0.4L1,0.4L-1,0.4Z",
];

/** Pixels between the centres of arms whose writes (nearly) coincide, spread sideways so none hides another. */
const DODGE_PX = 8;

/**
 * The non-dominated arms: no other arm has at most as many writes and at least as good a score, one
 * of the two strictly (score: higher is better, or lower for MSE). Returned in order of writes.
 */
export function paretoFrontier<T extends { writes: number; mean: number }>(values: readonly T[], higherIsBetter: boolean): T[] {
  const better = (a: number, b: number): boolean => (higherIsBetter ? a > b : a < b);
  const atLeast = (a: number, b: number): boolean => (higherIsBetter ? a >= b : a <= b);
  const front = values.filter((p) => !values.some((q) => q !== p && q.writes <= p.writes && atLeast(q.mean, p.mean) && (q.writes < p.writes || better(q.mean, p.mean))));
  return [...front].sort((a, b) => a.writes - b.writes || (higherIsBetter ? a.mean - b.mean : b.mean - a.mean));
}

/**
 * Score vs writes per episode for every arm of one task: one marker per arm (its own colour and
 * shape, named in the legend) with its 95% CI as an error bar, clipped to the metric's range
 * ([0, 1] for accuracy and success, >= 0 for MSE: a t-interval on few seeds can leave it), and the
 * Pareto frontier (fewer writes and a better score) as a dashed line. Arms whose writes nearly
 * coincide are spread a few pixels sideways. The x axis is log-scaled when the writes span more than
 * 10x (symlog when some arm writes 0 times), linear otherwise.
 */
export async function paretoSvg(points: ArmPoint[], opts: { task: string; title?: string }): Promise<string> {
  if (!Array.isArray(points) || points.length === 0) throw new ConfigError("paretoSvg: no points to plot");
  const mine = points.filter((p) => p.task === opts.task);
  if (mine.length === 0) {
    const tasks = [...new Set(points.map((p) => p.task))].join(", ");
    throw new ConfigError(`paretoSvg: no points for task "${opts.task}" (tasks present: ${tasks})`);
  }
  const metrics = new Set(mine.map((p) => p.metric));
  if (metrics.size !== 1) throw new ConfigError(`paretoSvg: task "${opts.task}" mixes metrics ${[...metrics].join(", ")}`);
  const metric = mine[0]!.metric;
  if (!(metric in METRIC_TITLE)) throw new ConfigError(`paretoSvg: unknown metric ${String(metric)}`);
  const bounded = metric !== "mse";
  const clip = (v: number): number => (bounded ? Math.min(1, Math.max(0, v)) : Math.max(0, v));
  const seen = new Set<string>();
  const values = mine.map((p, i) => {
    const w = `paretoSvg: point ${i} (arm "${p.arm}")`;
    if (typeof p.arm !== "string" || p.arm.length === 0) throw new ConfigError(`paretoSvg: point ${i} has no arm name`);
    if (seen.has(p.arm)) throw new ConfigError(`paretoSvg: arm "${p.arm}" appears twice for task "${opts.task}"`);
    seen.add(p.arm);
    const mean = finite(`${w} mean`, p.mean);
    if (!Array.isArray(p.ci95) || p.ci95.length !== 2) throw new ShapeError(`${w} ci95 must be [lo, hi]`);
    const lo = finite(`${w} ci95[0]`, p.ci95[0]);
    const hi = finite(`${w} ci95[1]`, p.ci95[1]);
    if (lo > hi) throw new ConfigError(`${w} ci95 has lo ${lo} > hi ${hi}`);
    const writes = finite(`${w} writesPerEpisode`, p.writesPerEpisode);
    if (writes < 0) throw new ConfigError(`${w} writesPerEpisode is negative (${writes})`);
    return { arm: p.arm, writes, mean, lo: clip(lo), hi: clip(hi), dodge: 0 };
  });
  const xs = values.map((v) => v.writes);
  const positive = xs.filter((x) => x > 0);
  const maxX = Math.max(...xs);
  const minPos = positive.length ? Math.min(...positive) : 0;
  const wide = positive.length > 0 && maxX / minPos > 10;
  const scaleType = !wide ? "linear" : positive.length === xs.length ? "log" : "symlog";

  // Sideways dodge: markers closer than DODGE_PX on the x axis (estimated pixels) are merged into
  // groups, each spread DODGE_PX apart around its centre in order of writes (ties in input order),
  // and neighbouring groups are merged again until no two markers are closer than DODGE_PX.
  const pos = (x: number): number => (scaleType === "linear" ? x : scaleType === "log" ? Math.log10(x) : Math.log10(1 + x));
  const x0 = scaleType === "log" ? pos(minPos) : pos(0);
  const span = Math.max(1e-12, pos(maxX) - x0);
  const px = values.map((v) => ((pos(v.writes) - x0) / span) * WIDTH);
  const order = values.map((_, i) => i).sort((a, b) => values[a]!.writes - values[b]!.writes || a - b);
  let groups = order.map((i) => ({ members: [i], centre: px[i]! }));
  const half = (g: { members: number[] }): number => ((g.members.length - 1) / 2) * DODGE_PX;
  for (let merged = true; merged; ) {
    merged = false;
    for (let k = 0; k + 1 < groups.length; k++) {
      const a = groups[k]!;
      const b = groups[k + 1]!;
      if (b.centre - half(b) - (a.centre + half(a)) < DODGE_PX - 1e-9) {
        const members = [...a.members, ...b.members];
        groups = [...groups.slice(0, k), { members, centre: members.reduce((s, i) => s + px[i]!, 0) / members.length }, ...groups.slice(k + 2)];
        merged = true;
        break;
      }
    }
  }
  for (const g of groups) g.members.forEach((i, k) => (values[i]!.dodge = g.centre + (k - (g.members.length - 1) / 2) * DODGE_PX - px[i]!));

  const frontier = paretoFrontier(values, bounded);
  const arms = values.map((v) => v.arm); // legend / colour / shape order = input order
  const color = { field: "arm", type: "nominal", title: "arm", scale: { domain: arms, range: arms.map((_, i) => ARM_COLOURS[i % ARM_COLOURS.length]) } };
  const shape = { field: "arm", type: "nominal", title: "arm", scale: { domain: arms, range: arms.map((_, i) => ARM_SHAPES[i % ARM_SHAPES.length]) } };
  const xScale: Record<string, unknown> = { type: scaleType, padding: 20 };
  const xAxis: Record<string, unknown> = {};
  if (scaleType === "linear") {
    // ticks from 0 at a 1-2-5 step: the padding would otherwise get a negative tick of its own
    xScale["zero"] = true;
    xScale["nice"] = false;
    xAxis["values"] = linearTicks(maxX);
  } else {
    // Explicit decade ticks (vega's symlog ticks are linear-looking); 0 is shown on symlog only.
    xAxis["values"] = [...(scaleType === "symlog" ? [0] : []), ...decades(minPos, maxX)];
    xAxis["format"] = "~s";
    if (scaleType === "symlog") {
      xScale["domainMin"] = 0;
      xScale["nice"] = false;
    }
  }
  const x = {
    field: "writes",
    type: "quantitative",
    title: `writes per episode${scaleType === "linear" ? "" : ` (${scaleType} scale)`}`,
    scale: xScale,
    axis: xAxis,
  };
  const yScale: Record<string, unknown> = bounded ? { domain: [0, 1], nice: false } : { zero: true };
  const y = { field: "mean", type: "quantitative", title: METRIC_TITLE[metric], scale: yScale };
  const dodge = { expr: "datum.dodge" };
  const better = bounded ? "higher" : "lower";
  const spec: VlSpec = {
    title: {
      text: opts.title ?? `${opts.task}: ${metric} vs writes per episode`,
      subtitle: [
        `bars: 95% CI, clipped to the metric's range ${bounded ? "[0, 1]" : "(>= 0)"}; arms with about equal writes are spread sideways`,
        `dashed: Pareto frontier (arms that no other arm beats with fewer writes and ${better} ${metric})`,
      ],
      subtitleFontSize: 11,
      subtitleColor: "#444",
    },
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values: frontier.map((f) => ({ writes: f.writes, mean: f.mean, dodge: f.dodge })) },
        mark: { type: "line", strokeDash: [6, 4], strokeWidth: 1.5, color: "#444", xOffset: dodge },
        encoding: { x, y, order: { field: "writes", type: "quantitative" } },
      },
      {
        data: { values },
        mark: { type: "rule", strokeWidth: 2, xOffset: dodge },
        encoding: { x, y: { field: "lo", type: "quantitative", title: METRIC_TITLE[metric], scale: yScale }, y2: { field: "hi" }, color },
      },
      {
        data: { values },
        mark: { type: "point", filled: true, size: 110, opacity: 1, stroke: "white", strokeWidth: 0.8, xOffset: dodge },
        encoding: {
          x,
          y,
          color,
          shape,
          tooltip: [{ field: "arm" }, { field: "mean", format: ".4f" }, { field: "lo", format: ".4f" }, { field: "hi", format: ".4f" }, { field: "writes", format: ".1f" }],
        },
      },
    ],
    resolve: { scale: { color: "shared", shape: "shared" } },
  };
  return renderVegaLite(spec);
}

/**
 * Memory-state bytes vs horizon on log-log axes, one line (with points) per arm: AURA stays flat,
 * a KV cache grows linearly with the horizon.
 */
export async function bytesVsHorizonSvg(series: { arm: string; horizons: number[]; bytes: number[] }[], opts: { title?: string } = {}): Promise<string> {
  if (!Array.isArray(series) || series.length === 0) throw new ConfigError("bytesVsHorizonSvg: no series to plot");
  const values: { arm: string; horizon: number; bytes: number }[] = [];
  const arms: string[] = [];
  for (const s of series) {
    if (typeof s.arm !== "string" || s.arm.length === 0) throw new ConfigError("bytesVsHorizonSvg: a series has no arm name");
    if (arms.includes(s.arm)) throw new ConfigError(`bytesVsHorizonSvg: arm "${s.arm}" appears twice`);
    arms.push(s.arm);
    if (!Array.isArray(s.horizons) || !Array.isArray(s.bytes) || s.horizons.length !== s.bytes.length) {
      throw new ShapeError(`bytesVsHorizonSvg: arm "${s.arm}" needs as many bytes as horizons (${s.horizons?.length} vs ${s.bytes?.length})`);
    }
    s.horizons.forEach((h, i) => {
      const horizon = finite(`bytesVsHorizonSvg: arm "${s.arm}" horizons[${i}]`, h);
      const bytes = finite(`bytesVsHorizonSvg: arm "${s.arm}" bytes[${i}]`, s.bytes[i]);
      if (horizon <= 0 || bytes <= 0) throw new ConfigError(`bytesVsHorizonSvg: arm "${s.arm}" point ${i} (${horizon}, ${bytes}) must be positive for log axes`);
      values.push({ arm: s.arm, horizon, bytes });
    });
  }
  if (values.length === 0) throw new ConfigError("bytesVsHorizonSvg: every series is empty");
  const hs = values.map((v) => v.horizon);
  const bs = values.map((v) => v.bytes);
  const spec: VlSpec = {
    ...title(opts.title ?? "memory state bytes vs horizon"),
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: "line", point: { filled: true, size: 50 }, strokeWidth: 2 },
    encoding: {
      x: { field: "horizon", type: "quantitative", title: "horizon (steps, log scale)", scale: { type: "log" }, axis: { format: "~s", values: decades(Math.min(...hs), Math.max(...hs)) } },
      y: { field: "bytes", type: "quantitative", title: "state bytes (log scale)", scale: { type: "log" }, axis: { format: "~s", values: decades(Math.min(...bs), Math.max(...bs)) } },
      color: { field: "arm", type: "nominal", title: "arm", scale: { domain: arms } },
      tooltip: [{ field: "arm" }, { field: "horizon" }, { field: "bytes" }],
    },
  };
  return renderVegaLite(spec);
}

/**
 * Overlaid histograms of `value` per group, as the fraction of each group's values per bin (so a
 * small group such as "event" is comparable with a large one such as "distractor"). 20 bins over
 * [0, 1] when every value lies there (probabilities), else over the data range.
 */
export async function histogramSvg(values: { group: string; value: number }[], opts: { title: string; xTitle: string }): Promise<string> {
  if (!Array.isArray(values) || values.length === 0) throw new ConfigError("histogramSvg: no values to plot");
  let lo = Infinity;
  let hi = -Infinity;
  const groups: string[] = [];
  values.forEach((v, i) => {
    if (typeof v.group !== "string" || v.group.length === 0) throw new ConfigError(`histogramSvg: values[${i}] has no group`);
    const x = finite(`histogramSvg: values[${i}].value`, v.value);
    if (!groups.includes(v.group)) groups.push(v.group);
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  });
  if (lo >= 0 && hi <= 1) {
    lo = 0;
    hi = 1;
  } else if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const nBins = 20;
  const width = (hi - lo) / nBins;
  const counts = new Map<string, number[]>(groups.map((g) => [g, new Array<number>(nBins).fill(0)]));
  const totals = new Map<string, number>(groups.map((g) => [g, 0]));
  for (const v of values) {
    const b = Math.min(nBins - 1, Math.max(0, Math.floor((v.value - lo) / width)));
    counts.get(v.group)![b]! += 1;
    totals.set(v.group, totals.get(v.group)! + 1);
  }
  const rows: { group: string; start: number; end: number; fraction: number; count: number }[] = [];
  for (const g of groups) {
    const c = counts.get(g)!;
    const total = totals.get(g)!;
    for (let b = 0; b < nBins; b++) {
      rows.push({ group: `${g} (n=${total})`, start: lo + b * width, end: lo + (b + 1) * width, fraction: c[b]! / total, count: c[b]! });
    }
  }
  const spec: VlSpec = {
    title: opts.title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    mark: { type: "bar", orient: "vertical", opacity: 0.55, binSpacing: 0 },
    encoding: {
      x: { field: "start", type: "quantitative", title: opts.xTitle, scale: { domain: [lo, hi], nice: false, padding: 0 } },
      x2: { field: "end" },
      y: { field: "fraction", type: "quantitative", title: "fraction of the group's values", stack: null, scale: { domainMin: 0 } },
      color: { field: "group", type: "nominal", title: "group", scale: { domain: groups.map((g) => `${g} (n=${totals.get(g)})`) } },
      tooltip: [{ field: "group" }, { field: "start", format: ".3f" }, { field: "end", format: ".3f" }, { field: "count" }, { field: "fraction", format: ".3f" }],
    },
  };
  return renderVegaLite(spec);
}

/** One point of {@link horizonSvg}: an arm's metric and write rate at horizon N for one stream kind. */
export interface HorizonPlotPoint {
  arm: string;
  /** "fixed" (events fixed per episode) or "density" (events scale with N). */
  stream: string;
  /** Horizon N (steps, > 0). */
  horizon: number;
  /** Mean metric over seeds, with its 95% interval (clipped to [0, 1] for accuracy). */
  mean: number;
  ci95: [number, number];
  /** Writes per 1,000 steps (mean over seeds). */
  writesPer1k: number;
}

/**
 * Horizon generalisation: accuracy (left) and writes per 1,000 steps (right) vs the evaluation horizon N
 * (log x), one colour and marker per arm, solid = fixed events, dashed = constant event density.
 * @throws ConfigError on an empty input or a non-positive horizon, NonFiniteError on NaN/Inf.
 */
export async function horizonSvg(points: HorizonPlotPoint[], opts: { title?: string } = {}): Promise<string> {
  if (!Array.isArray(points) || points.length === 0) throw new ConfigError("horizonSvg: no points to plot");
  const arms: string[] = [];
  const values = points.map((p, i) => {
    const horizon = finite(`horizonSvg: points[${i}].horizon`, p.horizon);
    if (horizon <= 0) throw new ConfigError(`horizonSvg: points[${i}].horizon must be > 0 for a log axis, got ${horizon}`);
    if (!arms.includes(p.arm)) arms.push(p.arm);
    const mean = finite(`horizonSvg: points[${i}].mean`, p.mean);
    const lo = Math.max(0, Math.min(1, finite(`horizonSvg: points[${i}].ci95[0]`, p.ci95[0])));
    const hi = Math.max(0, Math.min(1, finite(`horizonSvg: points[${i}].ci95[1]`, p.ci95[1])));
    const w = finite(`horizonSvg: points[${i}].writesPer1k`, p.writesPer1k);
    return { arm: p.arm, stream: p.stream, horizon, mean, lo, hi, writes: Math.max(w, 0.01) };
  });
  const hs = values.map((v) => v.horizon);
  const colour = { field: "arm", type: "nominal", title: "arm", scale: { domain: arms, range: arms.map((_, i) => ARM_COLOURS[i % ARM_COLOURS.length]) }, legend: { title: "arm", symbolType: "circle" } };
  const shape = { field: "arm", type: "nominal", title: "arm", scale: { domain: arms, range: arms.map((_, i) => ARM_SHAPES[i % ARM_SHAPES.length]) } };
  const dash = {
    field: "stream",
    type: "nominal",
    title: "stream",
    scale: { domain: ["fixed", "density"], range: [[1, 0], [5, 3]] },
    legend: { title: "stream", symbolType: "stroke", symbolStrokeWidth: 2, symbolStrokeColor: "#333", labelExpr: "datum.label === 'fixed' ? 'fixed events' : 'constant density'" },
  };
  const x = { field: "horizon", type: "quantitative", title: "evaluation horizon N (steps, log scale)", scale: { type: "log" }, axis: { format: "~s", values: decades(Math.min(...hs), Math.max(...hs)) } };
  const spec: VlSpec = {
    ...title(opts.title ?? "horizon generalisation"),
    data: { values },
    resolve: { legend: { color: "shared", shape: "shared", strokeDash: "shared" } },
    hconcat: [
      {
        width: WIDTH * 0.8,
        height: HEIGHT,
        layer: [
          { mark: { type: "rule", opacity: 0.5 }, encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" }, color: colour } },
          {
            mark: { type: "line", point: { filled: true, size: 50 }, strokeWidth: 2 },
            encoding: { x, y: { field: "mean", type: "quantitative", title: "accuracy", scale: { domain: [0, 1] } }, color: colour, strokeDash: dash, shape },
          },
        ],
      },
      {
        width: WIDTH * 0.8,
        height: HEIGHT,
        mark: { type: "line", point: { filled: true, size: 50 }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: "writes", type: "quantitative", title: "writes per 1,000 steps (log scale)", scale: { type: "log" } },
          color: colour,
          strokeDash: dash,
          shape,
        },
      },
    ],
  };
  return renderVegaLite(spec);
}
