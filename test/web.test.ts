/**
 * The browser demo (web/): its runtime-neutral engine (src/web/*) in Node, then the built page end to
 * end in a real browser (Debian's chromium driven by playwright-core, served from 127.0.0.1, no
 * network).
 *
 * Chromium: /usr/bin/chromium (or $CHROMIUM_PATH). When it is missing the browser test FAILS if
 * CI=true and is skipped with a message otherwise (`apt-get install -y chromium`), like every
 * optional input (test/helpers.ts `missingInput`).
 * The page is built by the test (`aura web-assets --quick` + `vite build web`) unless
 * AURA_WEB_PREBUILT=1 and web/dist exists; it ships the checked-in long trace
 * web/public/samples/stream-trace.json (a real cue-stream episode, docs/demo.md), which the page
 * replays on load. Screenshots: test-output/web.png, web-stream-trace.png, web-100k.png.
 */
import { after, before, describe, test } from "node:test";
import { missingInput, type OptionalInput } from "./helpers.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MemoryConfig } from "aura-mem/config";
import { FormatError } from "aura-mem/errors";
import { AuraMemLayer } from "aura-mem/layer";
import { naiveOps, wasmOps } from "aura-mem/ops/index";
import { StepType } from "../src/tasks/types.js";
import { checkpointFromBytes } from "../src/web/checkpoint.js";
import { parseResults } from "../src/bench/results.js";
import { StreamRun, auraWriteRate, kvCacheBytesFor, makeStream, withThreshold } from "../src/web/stream.js";
import { cueShown, fitBase, pandaChain, parseTrace, type TraceStep } from "../src/web/trace.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WEB = join(ROOT, "web");
const DIST = join(WEB, "dist");
const SAMPLE_RESULTS = join(WEB, "public", "samples", "results.json");
/** The checked-in trace of a real cue-stream episode the page replays by default (docs/demo.md). */
const SAMPLE_STREAM_TRACE = join(WEB, "public", "samples", "stream-trace.json");
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function smallModel(seed = 3): AuraMemLayer {
  return new AuraMemLayer(new MemoryConfig({ dModel: 16, dAction: 8, actionKind: "discrete", dKey: 8, dVal: 8, dProj: 8, dGate: 8, dHidden: 16, seed }), { ops: wasmOps() });
}

/**
 * A SYNTHETIC trace in the `aura sim` format, for this test only: a scripted reach over three cubes
 * with made-up gate values. It is not a simulation and says so (`synthetic: true`).
 */
function syntheticTrace(n = 60): Record<string, unknown> {
  const steps: TraceStep[] = [];
  let writes = 0;
  for (let i = 0; i < n; i++) {
    const s = i / (n - 1);
    const q = [0.3 * Math.sin(2 * Math.PI * s), -0.3 + 0.4 * s, 0, -2.2 + 0.5 * s, 0, 2.0 - 0.3 * s, 0.785, 0.04, 0.04];
    const tip = pandaChain(q)[9]!;
    const cue = i === 5 || i === 30;
    const g = cue || i === 6 ? 1 : 0;
    writes += g;
    steps.push({
      t: i,
      q,
      ee: [tip[0] + 0.2, tip[1], tip[2] + 0.1],
      cubes: [
        [0.6, -0.15, 0.125, 1, 0, 0, 0],
        [0.6, 0.0, 0.125, Math.cos(0.3), 0, 0, Math.sin(0.3)],
        [0.6, 0.15 - 0.05 * s, 0.125, 1, 0, 0, 0],
      ],
      cue,
      p: g ? 0.9 : 0.1,
      g,
      writes,
      stateBytes: 4224,
    });
  }
  return { format: "aura-sim-trace", version: 1, task: "synthetic-fixture", arm: "aura", seed: 0, controlHz: 20, steps, success: true, synthetic: true };
}

describe("web engine (src/web, runs in Node too)", () => {
  test("makeStream: deterministic, event count scales with the horizon, distractor rate is the knob", () => {
    const spec = { task: "ess-hard" as const, horizon: 1280, distractorFrac: 0.28, taskSeed: 0, episodeSeed: 5, dModel: 16 };
    const a = makeStream(spec);
    const b = makeStream(spec);
    assert.deepEqual(a.z, b.z);
    assert.equal(a.T, 1280);
    const count = (ep: typeof a, st: number): number => ep.stepType.reduce((s, x) => s + (x === st ? 1 : 0), 0);
    const ev = count(a, StepType.event);
    assert.ok(ev >= 40 && ev <= 60, `ess-hard has 4-6 events per 128 steps: ${ev} in 1280`);
    assert.equal(count(a, StepType.distractor), Math.round(0.28 * 1280));
    assert.ok(a.stepType.indexOf(StepType.event) < 12, "the first event comes as early as in training (first 12 steps)");
    const none = makeStream({ ...spec, distractorFrac: 0 });
    assert.equal(count(none, StepType.distractor), 0);
    assert.throws(() => makeStream({ ...spec, distractorFrac: 0.9 }), /distractor rate/);
    assert.throws(() => makeStream({ ...spec, horizon: 10 }), /horizon/);
  });

  test("StreamRun: chunked streaming equals one forward pass; state stays 4,224 B at 32x32", () => {
    const layer = smallModel();
    const ops = wasmOps();
    const ep = makeStream({ task: "ess-hard", horizon: 300, distractorFrac: 0.28, taskSeed: 0, episodeSeed: 1, dModel: 16 });
    const full = withThreshold(layer.model, 0.5, ops).forward(ep.z, 1, 300);
    for (const chunk of [1, 7, 300]) {
      const run = new StreamRun(layer.model, ep, { arm: "aura", threshold: 0.5 }, ops);
      while (!run.done) run.advance(chunk);
      assert.equal(run.t, 300);
      for (let t = 0; t < 300; t++) {
        assert.equal(run.g[t], full.g[t], `g at ${t}, chunk ${chunk}`);
        assert.ok(Math.abs(run.p[t]! - full.p[t]!) < 1e-5, `p at ${t}, chunk ${chunk}`);
      }
      assert.equal(run.writes, full.g.reduce((s, x) => s + x, 0));
    }
    const big = new AuraMemLayer(new MemoryConfig({ dModel: 16, dAction: 8, actionKind: "discrete" }), { ops });
    const run = new StreamRun(big.model, ep, { arm: "aura", threshold: 0.5 }, ops);
    assert.equal(run.stateBytes(), 4224);
    run.runToEnd(64);
    assert.equal(run.stateBytes(), 4224);
    const kv = kvCacheBytesFor(big.model, ops);
    assert.equal(kv(0), 0);
    assert.equal(kv(500), 500 * (32 + 32) * 4);
    assert.equal(kv(100000), 25_600_000);
  });

  test("swapped arms: always-write writes every step, random / periodic hold AURA's budget", () => {
    const layer = smallModel();
    const ops = wasmOps();
    const ep = makeStream({ task: "ess-hard", horizon: 2000, distractorFrac: 0.28, taskSeed: 0, episodeSeed: 2, dModel: 16 });
    const always = new StreamRun(layer.model, ep, { arm: "always-write", threshold: 0.5 }, ops);
    always.runToEnd();
    assert.equal(always.writes, 2000);
    const rate = 0.05;
    const periodic = new StreamRun(layer.model, ep, { arm: "periodic", threshold: 0.5, budgetRate: rate }, ops);
    periodic.runToEnd(333);
    assert.ok(Math.abs(periodic.writes - rate * 2000) <= 1, `periodic writes ${periodic.writes}`);
    const random = new StreamRun(layer.model, ep, { arm: "random", threshold: 0.5, budgetRate: rate }, ops);
    random.runToEnd(500);
    assert.ok(Math.abs(random.writes - rate * 2000) < 40, `random writes ${random.writes}`);
    assert.throws(() => new StreamRun(layer.model, ep, { arm: "random", threshold: 0.5 }, ops), /budget/);
    // a higher threshold never writes more
    assert.ok(auraWriteRate(layer.model, ep, 0.9, ops) <= auraWriteRate(layer.model, ep, 0.1, ops));
  });

  test("checkpointFromBytes: the files `save` writes rebuild the same model; a mismatching checksum is refused", async () => {
    const layer = smallModel(11);
    const dir = mkdtempSync(join(tmpdir(), "aura-web-ck-"));
    try {
      const { jsonPath, safetensorsPath } = await layer.save(join(dir, "ck"), { trainedOn: { task: "ess-hard", seed: 0 } });
      const json = readFileSync(jsonPath, "utf8");
      const bytes = new Uint8Array(readFileSync(safetensorsPath));
      const ck = await checkpointFromBytes(json, bytes, naiveOps());
      assert.equal(ck.checksum, "verified");
      assert.equal(ck.arm, "aura");
      for (const [k, p] of Object.entries(layer.model.params)) assert.deepEqual(ck.model.params[k]!.data, p.data, k);
      const bad = JSON.parse(json) as Record<string, unknown>;
      bad["sha256"] = "0".repeat(64);
      await assert.rejects(checkpointFromBytes(bad, bytes, naiveOps()), FormatError);
      await assert.rejects(checkpointFromBytes("{", bytes, naiveOps()), FormatError);
      await assert.rejects(checkpointFromBytes({ ...bad, format: "other" }, bytes, naiveOps()), FormatError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("trace: validation, Panda kinematics, base fit", () => {
    // all joints at zero: flange at (0.088, 0, 0.333 + 0.316 + 0.384 - 0.107) = (0.088, 0, 0.926)
    const chain = pandaChain([0, 0, 0, 0, 0, 0, 0]);
    assert.equal(chain.length, 10);
    const flange = chain[8]!;
    assert.ok(Math.abs(flange[0] - 0.088) < 1e-9 && Math.abs(flange[1]) < 1e-9 && Math.abs(flange[2] - 0.926) < 1e-9, `flange ${flange}`);
    const tr = parseTrace(JSON.stringify(syntheticTrace()));
    assert.equal(tr.steps.length, 60);
    assert.equal(tr.extra["synthetic"], true);
    const fb = fitBase(tr.steps);
    assert.ok(fb.rms < 1e-9);
    assert.ok(Math.abs(fb.base[0] - 0.2) < 1e-9 && Math.abs(fb.base[2] - 0.1) < 1e-9);
    assert.throws(() => parseTrace("{}"), FormatError);
    const broken = syntheticTrace(3);
    (broken["steps"] as Record<string, unknown>[])[1]!["ee"] = [0, 0];
    assert.throws(() => parseTrace(broken), /steps\[1\]\.ee/);
  });

  test("the shipped stream-trace.json: a real cue-stream episode (trace v2) under 3 MB, every cue step kept, writes add up, AURA flat, the KV-cache climbing", () => {
    const size = statSync(SAMPLE_STREAM_TRACE).size;
    assert.ok(size < 3_000_000, `${size} B`);
    const tr = parseTrace(readFileSync(SAMPLE_STREAM_TRACE, "utf8"));
    assert.equal(tr.version, 2);
    assert.equal(tr.task, "cue-stream");
    assert.equal(tr.arm, "aura");
    assert.ok(tr.extra["synthetic"] === undefined, "a simulation, not a fixture");
    assert.ok(tr.horizon >= 6000, `a long episode: ${tr.horizon} steps`);
    const last = tr.steps[tr.steps.length - 1]!;
    assert.equal(last.t, tr.horizon, "ends on the state the last cue is scored on");
    assert.ok(tr.steps.length >= tr.horizon / tr.every && tr.steps.length <= tr.horizon / tr.every + 6 * tr.cues.length + 2, `${tr.steps.length} kept steps`);
    assert.ok(tr.cues.length >= tr.horizon / 800 - 1, `${tr.cues.length} cues`);
    for (const c of tr.cues) {
      const shown = tr.steps.filter((s) => s.t >= c.step && s.t < c.step + 6);
      assert.equal(shown.length, 6, `cue ${c.cue}: its 6 steps kept`);
      assert.ok(shown.every((s) => s.cue === 1 + c.goalIndex && cueShown(s.cue)), `cue ${c.cue} names its goal`);
      assert.equal(c.goalIndex, c.cube * 2 + c.zone);
      assert.equal(typeof c.success, "boolean", `cue ${c.cue} scored`);
    }
    const gate = tr.extra["gate"] as { writes: number };
    assert.equal(last.writes, gate.writes, "the running count ends at the episode's exact writes");
    assert.ok(tr.steps.every((s) => s.stateBytes === 4224), "AURA's state: 4,224 B at every kept step");
    for (const s of tr.steps) assert.equal(s.kvBytes, Math.min(s.t + 1, tr.horizon) * 256, `KV-cache bytes at ${s.t}`);
    const src = tr.extra["source"] as Record<string, unknown>;
    assert.equal(src["command"], "aura sim-stream");
    assert.ok(!JSON.stringify(src).includes("/work/") && !("robotDir" in src), "no machine path");
  });

  test("the shipped sample results.json is a valid `aura bench` results file", () => {
    const res = parseResults(readFileSync(SAMPLE_RESULTS, "utf8"));
    assert.ok(res.tasks["ess-hard"], "sample has ess-hard");
    assert.ok(res.tasks["ess-hard"]!.arms["aura"]);
    assert.ok(statSync(SAMPLE_RESULTS).size < 50_000);
    assert.throws(() => parseResults({ tasks: { x: { metric: "accuracy", chance: 0.1, horizon: 5, arms: { a: { mean: "high" } } } } }), /arms\["a"\]\.mean/);
  });
});

// ------------------------------------------------------------------------------------------------
// the built page in chromium
// ------------------------------------------------------------------------------------------------

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".safetensors": "application/octet-stream",
};

function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = normalize(join(dir, path.endsWith("/") ? path + "index.html" : path));
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => {
    const addr = server.address() as { port: number };
    ok({ server, url: `http://127.0.0.1:${addr.port}` });
  }));
}

function buildSite(): void {
  if (process.env["AURA_WEB_PREBUILT"] === "1" && existsSync(join(DIST, "index.html"))) return;
  const cli = join(ROOT, "dist", "src", "cli", "main.js");
  assert.ok(existsSync(cli), `${cli} missing: run \`npm run build\` first`);
  execFileSync(process.execPath, [cli, "web-assets", "--quick"], { cwd: ROOT, stdio: "pipe", timeout: 120_000 });
  execFileSync(process.execPath, [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "web", "--logLevel", "error"], { cwd: ROOT, stdio: "pipe", timeout: 120_000 });
  assert.ok(existsSync(join(DIST, "index.html")), "vite build wrote no web/dist/index.html");
}

describe("web demo in chromium", () => {
  const haveChromium = existsSync(CHROMIUM);
  const CHROME: OptionalInput = { name: "chromium", present: haveChromium, hint: `not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it` };
  let site: { server: Server; url: string } | null = null;
  let userDataDir = "";

  before(async () => {
    if (!haveChromium) return;
    buildSite();
    site = await serve(DIST);
    userDataDir = mkdtempSync(join(tmpdir(), "aura-chromium-"));
  });
  after(() => {
    site?.server.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  test("streams 500 steps: AURA flat at 4,224 B, the KV-cache grows, the gate writes sparsely; Pareto plot; replay; screenshot", { timeout: 180_000 }, async (t) => {
    if (missingInput(t, CHROME)) return;
    const { chromium } = await import("playwright-core");
    const ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const errors: string[] = [];
      const offsite: string[] = [];
      page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(`console: ${m.text()}`);
      });
      page.on("request", (r) => {
        const u = r.url();
        if (!u.startsWith(site!.url) && !u.startsWith("data:") && !u.startsWith("blob:") && !u.startsWith("file:")) offsite.push(u);
      });
      await page.goto(`${site!.url}/index.html?autoplay=0`);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
      const text = async (id: string): Promise<string> => ((await page.textContent(`[data-testid="${id}"]`)) ?? "").trim();
      const int = (s: string): number => Number(s.replace(/,/g, ""));

      assert.equal(await text("step"), "0");
      assert.equal(await text("aura-bytes"), "4,224");
      const kvBefore = int(await text("kv-bytes"));

      await page.click('[data-testid="run-500"]');
      await page.waitForFunction(() => document.querySelector('[data-testid="step"]')?.textContent === "500", undefined, { timeout: 30_000 });

      assert.equal(await text("aura-bytes"), "4,224", "AURA's state bytes after 500 steps");
      const kvAfter = int(await text("kv-bytes"));
      assert.ok(kvAfter > kvBefore, `KV-cache bytes grew: ${kvBefore} -> ${kvAfter}`);
      assert.equal(kvAfter, 500 * 64 * 4);
      const writes = int(await text("writes"));
      assert.ok(writes > 0 && writes < 500, `the gate fired on ${writes} of 500 steps`);
      const acc = Number(await text("accuracy"));
      assert.ok(acc > 0.5, `accuracy at the queries ${acc} (chance 0.125)`);

      // the shipped long trace, replayed on load: the Panda, the whole-episode and zoomed timelines, the
      // cues with their outcomes, and the bytes chart with both lines (read from the trace's steps)
      const shipped = parseTrace(readFileSync(SAMPLE_STREAM_TRACE, "utf8"));
      const okCues = shipped.cues.filter((c) => c.success === true).length;
      const lengthText = `${shipped.horizon.toLocaleString("en-US")} control steps (${(shipped.horizon / shipped.controlHz / 60).toFixed(1)} min) at ${shipped.controlHz} Hz`;
      await page.waitForFunction((want) => (document.querySelector('[data-testid="replay-length"]')?.textContent ?? "") === want, lengthText, { timeout: 30_000 });
      const info = (await page.textContent('[data-testid="replay-info"]')) ?? "";
      assert.match(info, /samples\/stream-trace\.json \(shipped with the page\)/);
      assert.ok(!/SYNTHETIC/.test(info), "the shipped trace is a simulation");
      assert.equal(((await page.textContent('[data-testid="replay-cues-ok"]')) ?? "").trim(), `${okCues} of ${shipped.cues.length} cues succeeded`);
      assert.equal(await page.locator('[data-testid="replay-cues"] .cue').count(), shipped.cues.length);
      // the replay plays on load: the playhead moves on its own
      const stepOf = async (): Promise<number> => int(/step ([\d,]+) of/.exec((await page.textContent('[data-testid="replay-now"]')) ?? "")?.[1] ?? "-1");
      const s0 = await stepOf();
      assert.ok(s0 >= 0, "the replay read-out names the step");
      await page.waitForFunction((s) => Number(/step ([\d,]+) of/.exec(document.querySelector('[data-testid="replay-now"]')?.textContent ?? "")?.[1]?.replace(/,/g, "") ?? -1) > s, s0, { timeout: 10_000 });
      // scrub to the end (pauses): the whole episode drawn
      await page.evaluate((last) => {
        const r = document.getElementById("rscrub") as HTMLInputElement;
        r.value = String(last);
        r.dispatchEvent(new Event("input"));
      }, shipped.steps.length - 1);
      assert.equal(await stepOf(), shipped.horizon);
      // (no named helper functions inside evaluate: tsx's keepNames would reference a __name the page lacks)
      const canvases = await page.evaluate(() => {
        const ids = ["replay-view", "replay-timeline", "replay-zoom", "replay-bytes"];
        const painted = ids.map((id) => {
          const c = document.querySelector<HTMLCanvasElement>(`[data-testid="${id}"]`)!;
          const r = c.getBoundingClientRect();
          const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
          let ink = 0;
          // the two line colours of the bytes chart (web/src/charts.ts COLORS.aura, COLORS.kv), exact
          const colours: Record<string, number> = { aura: 0, kv: 0 };
          for (let k = 0; k < d.length; k += 4) {
            if (d[k + 3]! > 0) ink++;
            if (d[k + 3] === 255 && d[k] === 0x0c && d[k + 1] === 0x85 && d[k + 2] === 0x99) colours["aura"]!++;
            if (d[k + 3] === 255 && d[k] === 0xe0 && d[k + 1] === 0x31 && d[k + 2] === 0x31) colours["kv"]!++;
          }
          return { w: r.width, h: r.height, ink, colours };
        });
        return {
          view: painted[0]!,
          timeline: painted[1]!,
          zoom: painted[2]!,
          bytes: painted[3]!,
          drawn: JSON.parse(document.querySelector<HTMLElement>('[data-testid="replay-timeline"]')!.dataset["drawn"] ?? "null") as { cues: number; writes: number; from: number; to: number },
          series: JSON.parse(document.querySelector<HTMLElement>('[data-testid="replay-bytes"]')!.dataset["series"] ?? "null") as Record<string, { points: number; first: number; last: number }>,
        };
      });
      for (const k of ["view", "timeline", "zoom", "bytes"] as const) {
        const c = canvases[k];
        assert.ok(c.w > 300 && c.h > 60 && c.ink > 1000, `${k} canvas rendered: ${JSON.stringify({ w: c.w, h: c.h, ink: c.ink })}`);
      }
      assert.equal(canvases.drawn.cues, shipped.cues.length, "every cue on the whole-episode timeline");
      assert.equal(canvases.drawn.to, shipped.horizon, "the timeline spans the episode");
      assert.ok(canvases.drawn.writes > 0, "writes drawn");
      assert.deepEqual(canvases.series["state"], { points: shipped.steps.length, first: 4224, last: 4224 }, "AURA flat at 4,224 B");
      assert.equal(canvases.series["kv"]!.points, shipped.steps.length);
      assert.equal(canvases.series["kv"]!.last, shipped.horizon * 256, "the KV-cache's bytes after the episode");
      assert.ok(canvases.series["kv"]!.first < 4224 && canvases.series["kv"]!.last > 100 * 4224, "the KV-cache climbs past AURA");
      assert.ok(canvases.bytes.colours["aura"]! > 200 && canvases.bytes.colours["kv"]! > 200, `both lines drawn: ${JSON.stringify(canvases.bytes.colours)}`);
      mkdirSync(join(ROOT, "test-output"), { recursive: true });
      await page.locator("#replay").screenshot({ path: join(ROOT, "test-output", "web-stream-trace.png") });

      // Pareto plot from the shipped sample results.json, then from a file given to the page
      await page.waitForSelector('[data-testid="pareto"][data-rendered] svg', { timeout: 30_000 });
      await page.setInputFiles('[data-testid="results-file"]', SAMPLE_RESULTS);
      await page.waitForSelector('[data-testid="pareto"][data-rendered="ess-hard"] svg', { timeout: 30_000 });
      const paretoText = (await page.textContent('[data-testid="pareto"] svg')) ?? "";
      for (const arm of ["aura", "always-write", "random"]) assert.ok(paretoText.includes(arm), `Pareto plot labels ${arm}`);

      // replay of a dropped version-1 trace (a synthetic fixture of the short-task format)
      await page.setInputFiles('[data-testid="trace-file"]', { name: "synthetic-trace.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(syntheticTrace())) });
      await page.waitForFunction(() => (document.querySelector('[data-testid="replay-info"]')?.textContent ?? "").includes("60 steps"), undefined, { timeout: 10_000 });
      assert.match((await page.textContent('[data-testid="replay-info"]')) ?? "", /SYNTHETIC FIXTURE/);
      await page.waitForTimeout(400);

      mkdirSync(join(ROOT, "test-output"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-output", "web.png"), fullPage: true });
      assert.deepEqual(errors, [], "no page errors");
      assert.deepEqual(offsite, [], "no request left 127.0.0.1");

      // the same built files opened straight from disk (file://)
      const fpage = await ctx.newPage();
      await fpage.goto(`${pathToFileURL(join(DIST, "index.html")).href}?autoplay=0`);
      await fpage.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
      await fpage.click('[data-testid="run-500"]');
      await fpage.waitForFunction(() => document.querySelector('[data-testid="step"]')?.textContent === "500", undefined, { timeout: 30_000 });
      assert.equal(((await fpage.textContent('[data-testid="aura-bytes"]')) ?? "").trim(), "4,224");

      // a 100,000-step episode streamed to the end: the KV-cache's 25,600,000 B stay inside their box, the
      // last tick of the bytes chart reads "100,000" in full, and each read-out says what it covers
      const lpage = await ctx.newPage();
      await lpage.goto(`${site!.url}/index.html?autoplay=0&horizon=100000`);
      await lpage.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
      await lpage.click('[data-testid="ffwd"]');
      await lpage.waitForFunction(() => document.querySelector('[data-testid="step"]')?.textContent === "100,000", undefined, { timeout: 90_000 });
      await lpage.waitForFunction(() => !(document.getElementById("tradeinfo")?.textContent ?? "").includes("computing"), undefined, { timeout: 60_000 });
      assert.equal(((await lpage.textContent('[data-testid="kv-bytes"]')) ?? "").trim(), "25,600,000");
      const fits = await lpage.evaluate(() => {
        const num = document.querySelector<HTMLElement>(".stat.kv .num")!;
        const box = document.querySelector<HTMLElement>(".stat.kv")!.getBoundingClientRect();
        const span = document.querySelector<HTMLElement>('[data-testid="kv-bytes"]')!.parentElement!.lastElementChild!.getBoundingClientRect();
        return { scroll: num.scrollWidth, client: num.clientWidth, unitRight: span.right, boxRight: box.right };
      });
      assert.ok(fits.scroll <= fits.client && fits.unitRight <= fits.boxRight, `KV byte count overflows its box: ${JSON.stringify(fits)}`);
      const xt = JSON.parse((await lpage.getAttribute("#bytes", "data-xticks")) ?? "null") as { width: number; ticks: { text: string; left: number; right: number }[] };
      assert.deepEqual(xt.ticks.map((k) => k.text), ["0", "25,000", "50,000", "75,000", "100,000"]);
      for (const k of xt.ticks) assert.ok(k.left >= 0 && k.right <= xt.width, `tick "${k.text}" [${k.left}, ${k.right}] leaves the ${xt.width}-px canvas`);
      assert.match((await lpage.textContent('[data-testid="live-scope"]')) ?? "", /steps 1–100,000 of this 100,000-step episode/);
      assert.match((await lpage.textContent('[data-testid="arms-scope"]')) ?? "", /first 5,000 of this episode's 100,000 steps/);
      const note = (await lpage.textContent("#budgetnote")) ?? "";
      assert.ok(!/exactly as often/.test(note) && /in expectation/.test(note), note);
      await lpage.screenshot({ path: join(ROOT, "test-output", "web-100k.png"), fullPage: true });
    } finally {
      await ctx.close();
    }
  });
});

