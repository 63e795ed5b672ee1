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
import { ConfigError, NonFiniteError, ShapeError } from "../errors.js";

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

function title(t: string | undefined): Record<string, unknown> {
  return t ? { title: t } : {};
}

const METRIC_TITLE: Record<ArmPoint["metric"], string> = {
  accuracy: "accuracy (higher is better)",
  mse: "MSE (lower is better)",
  success: "success rate (higher is better)",
};

/**
 * Score vs writes per episode for every arm of one task: one point per arm (one colour each) with
 * its 95% CI as an error bar and the arm's name next to it. The x axis is log-scaled when the writes
 * span more than 10x (symlog when some arm writes 0 times), linear otherwise.
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
    return { arm: p.arm, writes, mean, lo, hi };
  });
  const xs = values.map((v) => v.writes);
  const positive = xs.filter((x) => x > 0);
  const maxX = Math.max(...xs);
  const minPos = positive.length ? Math.min(...positive) : 0;
  const wide = positive.length > 0 && maxX / minPos > 10;
  const scaleType = !wide ? "linear" : positive.length === xs.length ? "log" : "symlog";
  const arms = values.map((v) => v.arm); // legend / colour order = input order
  const color = { field: "arm", type: "nominal", title: "arm", scale: { domain: arms } };
  const xScale: Record<string, unknown> = { type: scaleType, padding: 16 };
  const xAxis: Record<string, unknown> = {};
  if (scaleType === "linear") xScale["zero"] = true;
  else {
    // Explicit decade ticks (vega's symlog ticks are linear-looking); 0 is shown on symlog only.
    xAxis["values"] = [...(scaleType === "symlog" ? [0] : []), ...decades(minPos, maxX)];
    xAxis["format"] = "~s";
  }
  const x = {
    field: "writes",
    type: "quantitative",
    title: `writes per episode${scaleType === "linear" ? "" : ` (${scaleType} scale)`}`,
    scale: xScale,
    axis: xAxis,
  };
  const spec: VlSpec = {
    ...title(opts.title ?? `${opts.task}: ${metric} vs writes per episode`),
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    encoding: { x, color },
    layer: [
      {
        mark: { type: "rule", strokeWidth: 2 },
        encoding: { y: { field: "lo", type: "quantitative", title: METRIC_TITLE[metric], scale: { zero: false } }, y2: { field: "hi" } },
      },
      {
        mark: { type: "point", filled: true, size: 90, opacity: 1 },
        encoding: {
          y: { field: "mean", type: "quantitative" },
          tooltip: [{ field: "arm" }, { field: "mean", format: ".4f" }, { field: "lo", format: ".4f" }, { field: "hi", format: ".4f" }, { field: "writes", format: ".1f" }],
        },
      },
      {
        mark: { type: "text", align: "left", dx: 8, dy: -8, fontSize: 11 },
        encoding: { y: { field: "mean", type: "quantitative" }, text: { field: "arm" } },
      },
    ],
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
