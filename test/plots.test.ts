import { test } from "node:test";
import assert from "node:assert/strict";
import { paretoSvg, paretoFrontier, bytesVsHorizonSvg, histogramSvg, type ArmPoint } from "../src/bench/plots.js";
import { ConfigError, NonFiniteError, ShapeError } from "aura-mem/errors";

const P = (arm: string, mean: number, writes: number, task = "recall", metric: ArmPoint["metric"] = "accuracy"): ArmPoint => ({
  task,
  arm,
  mean,
  ci95: [mean - 0.05, mean + 0.05],
  writesPerEpisode: writes,
  metric,
});

/** Contents of the <g> mark container with the given class prefix (first match). */
function markGroup(svg: string, cls: string): string {
  const i = svg.indexOf(`class="${cls}`);
  assert.ok(i >= 0, `no mark group ${cls}`);
  const end = svg.indexOf("</g>", i);
  return svg.slice(i, end);
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

function assertSvg(svg: string): void {
  assert.ok(svg.startsWith("<svg"), svg.slice(0, 80));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.match(svg, /width="\d+(\.\d+)?" height="\d+(\.\d+)?"/);
  assert.ok(!/NaN|undefined/.test(svg), "no NaN/undefined in the SVG");
}

const arms = [P("aura", 0.9, 3), P("kv-cache", 0.93, 200), P("gru", 0.6, 200), P("no-mem", 0.35, 0), P("other-task", 0.5, 1, "other")];

test("paretoSvg: one point per arm, legend, axis titles, CI bars, symlog with zero writes", async () => {
  const svg = await paretoSvg(arms, { task: "recall", title: "recall: accuracy" });
  assertSvg(svg);
  const pts = markGroup(svg, "mark-symbol role-mark");
  assert.equal((pts.match(/<path/g) ?? []).length, 4, "one point per arm of the task");
  const rules = markGroup(svg, "mark-rule role-mark");
  assert.equal((rules.match(/<line/g) ?? []).length, 4, "one CI bar per arm");
  assert.ok(!svg.includes('class="mark-text role-mark'), "no text labels on the points (they overlap): arms are named in the legend");
  const legend = markGroup(svg, "mark-group role-legend");
  for (const a of ["aura", "kv-cache", "gru", "no-mem"]) assert.ok(svg.slice(svg.indexOf(legend)).includes(`>${a}<`), `legend entry ${a}`);
  assert.ok(!svg.includes("other-task"), "points of other tasks are left out");
  const t = texts(svg);
  assert.ok(t.includes("writes per episode (symlog scale)"), t.join("|"));
  assert.ok(t.includes("accuracy (higher is better)"));
  assert.ok(t.includes("recall: accuracy"));
  // every arm its own colour and its own marker shape
  const fills = [...pts.matchAll(/fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
  assert.equal(new Set(fills).size, 4);
  const shapes = [...pts.matchAll(/ d="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(shapes).size, 4, "one marker shape per arm");
});

test("paretoSvg: 16 arms get 16 colours and 16 shapes; equal writes are spread sideways", async () => {
  const many = Array.from({ length: 16 }, (_, i) => P(`arm${i}`, 0.1 + i * 0.05, 64));
  const svg = await paretoSvg(many, { task: "recall" });
  const pts = markGroup(svg, "mark-symbol role-mark");
  assert.equal(new Set([...pts.matchAll(/fill="(#[0-9a-f]{6})"/g)].map((m) => m[1])).size, 16);
  assert.equal(new Set([...pts.matchAll(/ d="([^"]+)"/g)].map((m) => m[1])).size, 16);
  const xs = [...pts.matchAll(/translate\(([-\d.]+),/g)].map((m) => Number(m[1]));
  assert.equal(new Set(xs.map((x) => x.toFixed(1))).size, 16, "no two markers at the same x");
});

test("paretoSvg: accuracy intervals are clipped to [0, 1], MSE intervals to >= 0", async () => {
  const svg = await paretoSvg([{ ...P("wide", 0.9, 10), ci95: [0.5, 1.3] }, { ...P("low", 0.1, 20), ci95: [-0.4, 0.6] }], { task: "recall" });
  const rules = markGroup(svg, "mark-rule role-mark");
  const ys = [...rules.matchAll(/<line[^>]*y2="([-\d.]+)"/g)].map((m) => Number(m[1]));
  const top = [...rules.matchAll(/translate\([-\d.]+,([-\d.]+)\)/g)].map((m) => Number(m[1]));
  // the plot is 340 px high with y = 1 at 0 and y = 0 at 340: nothing may leave [0, 340]
  for (const y of [...top, ...top.map((t, i) => t + (ys[i] ?? 0))]) assert.ok(y >= -1e-6 && y <= 340 + 1e-6, `rule end at ${y} px leaves [0, 1]`);
  const t = texts(svg);
  assert.ok(t.includes("1.0") && t.includes("0.0"), "accuracy axis spans [0, 1]");
  assert.ok(!t.includes("1.2") && !t.includes("-0.2") && !t.includes("−0.2"), t.join("|"));
  const mse = await paretoSvg([{ ...P("a", 10, 1, "t", "mse"), ci95: [-5, 25] }, P("b", 5, 3, "t", "mse")], { task: "t" });
  assert.ok(!texts(mse).some((s) => /^[-−]/.test(s)), "no negative MSE tick");
});

test("paretoFrontier: non-dominated arms in order of writes; direction follows the metric", () => {
  const pts = [
    { arm: "none", writes: 0, mean: 0.1 },
    { arm: "aura", writes: 10, mean: 0.9 },
    { arm: "random", writes: 10, mean: 0.3 },
    { arm: "always", writes: 100, mean: 0.95 },
    { arm: "gru", writes: 100, mean: 0.8 },
    { arm: "tie", writes: 100, mean: 0.95 },
  ];
  assert.deepEqual(paretoFrontier(pts, true).map((p) => p.arm), ["none", "aura", "always", "tie"]);
  assert.deepEqual(paretoFrontier(pts, false).map((p) => p.arm), ["none"]);
});

test("paretoSvg: the frontier is drawn as a line through the non-dominated arms", async () => {
  const svg = await paretoSvg(arms, { task: "recall" });
  const line = markGroup(svg, "mark-line role-mark");
  // aura (3 writes, 0.9) and kv-cache (200, 0.93) and no-mem (0, 0.35) are non-dominated; gru is not
  const d = /<path[^>]* d="([^"]+)"/.exec(line)?.[1] ?? "";
  assert.equal((d.match(/[ML]/g) ?? []).length, 3, `three vertices: ${d}`);
});

test("paretoSvg: log scale when writes span > 10x, linear otherwise; metric titles", async () => {
  const logSvg = await paretoSvg([P("a", 0.1, 1, "t", "mse"), P("b", 0.2, 1000, "t", "mse")], { task: "t" });
  assert.ok(texts(logSvg).includes("writes per episode (log scale)"));
  assert.ok(texts(logSvg).includes("MSE (lower is better)"));
  const lin = await paretoSvg([P("a", 0.5, 4, "t", "success"), P("b", 0.7, 8, "t", "success")], { task: "t" });
  assert.ok(texts(lin).includes("writes per episode"));
  assert.ok(texts(lin).includes("success rate (higher is better)"));
  const one = await paretoSvg([P("only", 0.5, 0, "t")], { task: "t" });
  assertSvg(one);
});

test("plots are deterministic and escape names", async () => {
  const a = await paretoSvg([...arms, P("a<&>\"b", 0.5, 10)], { task: "recall" });
  const b = await paretoSvg([...arms, P("a<&>\"b", 0.5, 10)], { task: "recall" });
  assert.equal(a, b);
  assert.ok(a.includes("a&lt;&amp;&gt;"), "names are escaped");
  assert.ok(!a.includes("a<&>"));
  const h = [1, 10, 100, 1000, 10000, 100000];
  const s = [
    { arm: "aura", horizons: h, bytes: h.map(() => 4224) },
    { arm: "kv-cache", horizons: h, bytes: h.map((x) => x * 256) },
  ];
  assert.equal(await bytesVsHorizonSvg(s), await bytesVsHorizonSvg(s));
});

test("bytesVsHorizonSvg: log-log lines per arm up to 100k steps", async () => {
  const h = [1, 10, 100, 1000, 10000, 100000];
  const svg = await bytesVsHorizonSvg(
    [
      { arm: "aura", horizons: h, bytes: h.map(() => 4224) },
      { arm: "kv-cache", horizons: h, bytes: h.map((x) => x * 256) },
      { arm: "gru (H=32)", horizons: h, bytes: h.map(() => 128) },
    ],
    { title: "state bytes" },
  );
  assertSvg(svg);
  const t = texts(svg);
  for (const s of ["aura", "kv-cache", "gru (H=32)", "horizon (steps, log scale)", "state bytes (log scale)", "state bytes", "100k"]) assert.ok(t.includes(s), `${s} in ${t.join("|")}`);
  assert.equal((svg.match(/class="mark-line role-mark/g) ?? []).length, 3, "one line per arm");
  const pts = markGroup(svg, "mark-symbol role-mark");
  assert.equal((pts.match(/<path/g) ?? []).length, 3 * h.length, "one point per (arm, horizon)");
  const flat = await bytesVsHorizonSvg([{ arm: "aura", horizons: h, bytes: h.map(() => 4224) }]);
  assertSvg(flat);
});

test("histogramSvg: groups as fractions, axis titles", async () => {
  const vals = [
    ...Array.from({ length: 40 }, (_, i) => ({ group: "event", value: 0.8 + (i % 10) / 50 })),
    ...Array.from({ length: 400 }, (_, i) => ({ group: "distractor", value: (i % 20) / 100 })),
  ];
  const svg = await histogramSvg(vals, { title: "gate selectivity", xTitle: "write probability p" });
  assertSvg(svg);
  const t = texts(svg);
  for (const s of ["gate selectivity", "write probability p", "fraction of the group's values", "event (n=40)", "distractor (n=400)"]) assert.ok(t.includes(s), `${s} in ${t.join("|")}`);
  const bars = markGroup(svg, "mark-rect role-mark");
  assert.equal((bars.match(/<path/g) ?? []).length, 40, "20 bins x 2 groups");
  // values outside [0, 1] and a constant sample still render
  assertSvg(await histogramSvg([{ group: "g", value: -3 }, { group: "g", value: 5 }], { title: "x", xTitle: "v" }));
  assertSvg(await histogramSvg([{ group: "g", value: 2 }, { group: "g", value: 2 }], { title: "x", xTitle: "v" }));
});

test("plots reject empty or invalid input with typed errors", async () => {
  await assert.rejects(paretoSvg([], { task: "t" }), ConfigError);
  await assert.rejects(paretoSvg(arms, { task: "missing" }), (e: unknown) => e instanceof ConfigError && /missing/.test((e as Error).message));
  await assert.rejects(paretoSvg([P("a", NaN, 1)], { task: "recall" }), NonFiniteError);
  await assert.rejects(paretoSvg([{ ...P("a", 0.5, 1), ci95: [0.5, Infinity] }], { task: "recall" }), NonFiniteError);
  await assert.rejects(paretoSvg([P("a", 0.5, -1)], { task: "recall" }), ConfigError);
  await assert.rejects(paretoSvg([P("a", 0.5, 1), P("a", 0.6, 2)], { task: "recall" }), ConfigError);
  await assert.rejects(paretoSvg([P("a", 0.5, 1), P("b", 0.6, 2, "recall", "mse")], { task: "recall" }), ConfigError);
  await assert.rejects(bytesVsHorizonSvg([]), ConfigError);
  await assert.rejects(bytesVsHorizonSvg([{ arm: "a", horizons: [], bytes: [] }]), ConfigError);
  await assert.rejects(bytesVsHorizonSvg([{ arm: "a", horizons: [1, 2], bytes: [1] }]), ShapeError);
  await assert.rejects(bytesVsHorizonSvg([{ arm: "a", horizons: [0], bytes: [1] }]), ConfigError);
  await assert.rejects(bytesVsHorizonSvg([{ arm: "a", horizons: [1], bytes: [NaN] }]), NonFiniteError);
  await assert.rejects(histogramSvg([], { title: "t", xTitle: "x" }), ConfigError);
  await assert.rejects(histogramSvg([{ group: "g", value: Infinity }], { title: "t", xTitle: "x" }), NonFiniteError);
});
