/**
 * `aura plot`: SVG -> PNG rasterising, the figures derived from results.json, summary.md, and the
 * command itself.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, FormatError } from "aura-mem/errors";
import { renderVegaLite } from "../src/bench/plots.js";
import { plotResults, sansSerifFont, selectivitySvg, svgToPng } from "../src/cli/plot.js";
import { bytesSeries, paretoPoints, parseResults, taskSlug, type ResultsFile } from "../src/bench/results.js";
import { missingInput } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SAMPLE = join(ROOT, "web", "public", "samples", "results.json");

/** Width and height from a PNG's IHDR chunk. */
function pngSize(b: Uint8Array): { w: number; h: number } {
  assert.deepEqual([...b.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { w: v.getUint32(16), h: v.getUint32(20) };
}

function arm(mean: number, writes: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mean, ci95: [mean - 0.01, mean + 0.01], seeds: 2, writesPerEpisode: writes, writeReduction: null, pWriteEvent: 0.9, pWriteDistractor: 0.1, stateBytes: 4224, stateBytesAt100k: 4224, params: 100, ...extra };
}

function tiny(): ResultsFile {
  return parseResults({
    tasks: {
      "ess-hard": {
        metric: "accuracy",
        chance: 0.125,
        horizon: 128,
        arms: {
          aura: arm(0.95, 9),
          "always-write": arm(0.9, 128),
          "kv-cache": arm(0.5, 128, { stateBytes: 128 * 256, stateBytesAt100k: 25_600_000, pWriteEvent: 1, pWriteDistractor: 1 }),
          "no-memory": arm(0.12, 0, { stateBytes: 0, stateBytesAt100k: 0, pWriteEvent: 0, pWriteDistractor: 0 }),
        },
      },
    },
    meta: { mode: "test" },
  });
}

describe("svgToPng (resvg)", () => {
  test("PNG of the SVG's size times the scale", async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect x="10" y="10" width="50" height="30" fill="#e03131"/></svg>';
    const one = await svgToPng(svg, { scale: 1 });
    assert.deepEqual(pngSize(one), { w: 120, h: 80 });
    assert.deepEqual(pngSize(await svgToPng(svg)), { w: 240, h: 160 }, "default scale 2");
  });

  test("renders text with an installed sans-serif font", async (t) => {
    if (missingInput(t, { name: "a sans-serif font", present: sansSerifFont() !== null, hint: "apt-get install fonts-dejavu-core (.ci/run does)" })) return;
    const { Resvg } = await import("@resvg/resvg-js");
    const blank = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><rect width="200" height="60" fill="white"/></svg>';
    const withText = blank.replace("</svg>", '<text x="10" y="40" font-family="Helvetica, Arial, sans-serif" font-size="32" fill="black">aura 4,224</text></svg>');
    // count dark pixels of svgToPng's output (decoded by embedding the PNG in an SVG for resvg)
    const count = async (svg: string): Promise<number> => {
      const png = await svgToPng(svg, { scale: 1 });
      const { w, h } = pngSize(png);
      const wrap = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h}"><image width="${w}" height="${h}" xlink:href="data:image/png;base64,${Buffer.from(png).toString("base64")}"/></svg>`;
      const px = new Resvg(wrap, { font: { loadSystemFonts: false } }).render().pixels;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i]! < 100 && px[i + 3]! > 200) n++;
      return n;
    };
    assert.equal(await count(blank), 0);
    assert.ok((await count(withText)) > 200, "text pixels drawn");
  });

  test("rejects what is not an SVG, and bad scales", async () => {
    await assert.rejects(svgToPng("hello"), ConfigError);
    await assert.rejects(svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', { scale: 0 }), ConfigError);
    await assert.rejects(svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', { scale: Number.NaN }), ConfigError);
    await assert.rejects(svgToPng("<svg <<< broken"), FormatError);
  });

  test("a vega-lite figure rasterises at its own aspect ratio", async () => {
    const svg = await renderVegaLite({ width: 200, height: 100, data: { values: [{ x: 1, y: 2 }] }, mark: "point", encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } });
    const w = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
    const h = Number(/height="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
    const size = pngSize(await svgToPng(svg, { scale: 1.5 }));
    assert.equal(size.w, Math.round(w * 1.5));
    assert.equal(size.h, Math.round(h * 1.5));
  });
});

describe("figures from results.json", () => {
  test("paretoPoints / taskSlug", () => {
    const res = tiny();
    const pts = paretoPoints(res, "ess-hard");
    assert.deepEqual(pts.map((p) => p.arm), ["aura", "always-write", "kv-cache", "no-memory"]);
    assert.equal(pts[0]!.metric, "accuracy");
    assert.throws(() => paretoPoints(res, "mbar"), /no task "mbar"/);
    assert.equal(taskSlug("ess-hard@N=256"), "ess-hard_N_256");
  });

  test("bytesSeries: flat, linear, and skipped arms", () => {
    const { series, skipped } = bytesSeries(tiny());
    const by = Object.fromEntries(series.map((s) => [s.arm, s]));
    assert.deepEqual(skipped, ["no-memory"]);
    assert.deepEqual(Object.keys(by), ["aura, always-write", "kv-cache"], "identical curves share one line");
    assert.deepEqual(by["aura, always-write"]!.horizons, [128, 1000, 10000, 100000]);
    assert.ok(by["aura, always-write"]!.bytes.every((b) => b === 4224));
    assert.deepEqual(by["kv-cache"]!.bytes, [128 * 256, 1000 * 256, 10000 * 256, 100000 * 256]);
  });

  test("selectivitySvg: grouped bars per arm; refuses a task without rates", async () => {
    const res = tiny();
    const svg = await selectivitySvg("ess-hard", res.tasks["ess-hard"]!);
    assert.match(svg, /^<svg/);
    for (const a of ["aura", "always-write", "kv-cache"]) assert.ok(svg.includes(a), a);
    const none = { ...res.tasks["ess-hard"]!, arms: { aura: { ...res.tasks["ess-hard"]!.arms["aura"]!, pWriteEvent: null, pWriteDistractor: null } } };
    await assert.rejects(selectivitySvg("ess-hard", none), ConfigError);
  });

  test("plotResults on the shipped sample: SVG + PNG per figure and a summary.md that embeds them", async () => {
    const res = parseResults(readFileSync(SAMPLE, "utf8"));
    const dir = mkdtempSync(join(tmpdir(), "aura-plot-"));
    try {
      const files = await plotResults(res, dir, { scale: 1, source: "samples/results.json" });
      const names = files.map((f) => f.slice(dir.length + 1));
      for (const task of Object.keys(res.tasks)) {
        const slug = taskSlug(task);
        // the selectivity figure needs P(write|event) and P(write|distractor): pusht has no distractor steps
        const selective = Object.values(res.tasks[task]!.arms).some((a) => a.pWriteEvent !== null && a.pWriteDistractor !== null);
        for (const ext of ["svg", "png"]) {
          assert.ok(names.includes(`pareto_${slug}.${ext}`), `pareto_${slug}.${ext}`);
          assert.equal(names.includes(`gate_${slug}.${ext}`), selective, `gate_${slug}.${ext}`);
        }
      }
      assert.ok(names.includes("state_bytes.svg") && names.includes("state_bytes.png"));
      const md = readFileSync(join(dir, "summary.md"), "utf8");
      assert.match(md, /!\[[^\]]*\]\(pareto_ess-hard\.png\)/);
      assert.match(md, /!\[[^\]]*\]\(state_bytes\.png\)/);
      assert.match(md, /\| aura \|/);
      assert.match(md, /Paper claims/);
      // the report people read first: the claim-by-claim verdict opens it, the configuration closes it
      const verdict = md.indexOf("## Paper claims, as measured here");
      const table = md.indexOf("| claim | task | paper | here | AURA − other, 95% CI | verdict |");
      const firstTask = md.indexOf("\n## ess-easy");
      const config = md.indexOf("## Configuration");
      assert.ok(verdict > 0 && table > verdict && firstTask > table, "verdict table before the first task section");
      assert.ok(config > md.lastIndexOf("\n## State bytes"), "configuration after every figure and table");
      assert.equal(md.indexOf("```json"), md.indexOf("```json", config), "the configuration block sits at the end");
      assert.match(md, /\| beats budget-matched random\/periodic writes \| ess-easy \|/);
      assert.match(md, /\|  \| ess-hard \|  \| random 0\.227 [^\n]*\(paired, n = 3\) \| AURA better \|/);
      assert.match(md, /\| parity with the best fixed-size baseline \| ess-easy \|/);
      for (const f of files.filter((f) => f.endsWith(".png"))) pngSize(readFileSync(f));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("per-step gate probabilities in the file give a histogram", async () => {
    const res = tiny();
    res.tasks["ess-hard"]!.arms["aura"]!["pEvent"] = [0.9, 0.95, 0.99];
    res.tasks["ess-hard"]!.arms["aura"]!["pDistractor"] = [0.05, 0.1, 0.6];
    const dir = mkdtempSync(join(tmpdir(), "aura-plot-"));
    try {
      await plotResults(res, dir, { png: false });
      const svg = readFileSync(join(dir, "gate_ess-hard.svg"), "utf8");
      assert.ok(svg.includes("event (n=3)") && svg.includes("distractor (n=3)"), "histogram groups");
      assert.ok(!existsSync(join(dir, "gate_ess-hard.png")), "--no-png");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("aura plot (CLI)", () => {
  test("writes the figures next to --out and fails cleanly on a bad file", () => {
    const dir = mkdtempSync(join(tmpdir(), "aura-plot-cli-"));
    try {
      const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
      const ok = run("plot", SAMPLE, "--out", dir, "--no-png");
      assert.equal(ok.status, 0, ok.stderr);
      assert.ok(existsSync(join(dir, "pareto_ess-hard.svg")));
      assert.ok(existsSync(join(dir, "summary.md")));
      const badFile = join(dir, "bad.json");
      spawnSync(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(badFile)}, '{"tasks": {}}')`]);
      const bad = run("plot", badFile, "--out", dir);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /FormatError: results.json: `tasks` is empty/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
