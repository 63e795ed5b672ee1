import { test } from "node:test";
import assert from "node:assert/strict";
import { paretoSvg, bytesVsHorizonSvg, histogramSvg, type ArmPoint } from "../src/bench/plots.js";
import { ConfigError, NonFiniteError, ShapeError } from "../src/errors.js";

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

test("paretoSvg: one point per arm, labels, axis titles, CI bars, symlog with zero writes", async () => {
  const svg = await paretoSvg(arms, { task: "recall", title: "recall: accuracy" });
  assertSvg(svg);
  const pts = markGroup(svg, "mark-symbol role-mark");
  assert.equal((pts.match(/<path/g) ?? []).length, 4, "one point per arm of the task");
  const rules = markGroup(svg, "mark-rule role-mark");
  assert.equal((rules.match(/<line/g) ?? []).length, 4, "one CI bar per arm");
  const labels = markGroup(svg, "mark-text role-mark");
  for (const a of ["aura", "kv-cache", "gru", "no-mem"]) assert.ok(labels.includes(`>${a}<`), `label ${a}`);
  assert.ok(!svg.includes("other-task"), "points of other tasks are left out");
  const t = texts(svg);
  assert.ok(t.includes("writes per episode (symlog scale)"), t.join("|"));
  assert.ok(t.includes("accuracy (higher is better)"));
  assert.ok(t.includes("recall: accuracy"));
  // distinct colours per arm
  const fills = [...pts.matchAll(/fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
  assert.equal(new Set(fills).size, 4);
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
