/**
 * `aura plot` and `aura web-assets` (registered by src/cli/main.ts).
 *
 *   aura plot <results.json> [--out dir] [--trace file...] [--no-png] [--scale x]
 *       SVG figures (vega-lite, src/bench/plots.ts) and PNGs of them (resvg, a maintained Rust SVG
 *       rasteriser): pareto_<task>.svg/.png per task, state_bytes.svg/.png, gate_<task>.svg/.png,
 *       and a summary.md embedding them with the tables.
 *   aura web-assets [--quick] [--force] [--out web/public] [--trace file]
 *       the generated files of the browser demo (web/): the kernel module, a trained aura
 *       checkpoint and a manifest; `npm run build:web` runs it before `vite build web`.
 *
 * Gate selectivity: results.json keeps per-arm rates P(write | event), P(write | distractor), not the
 * per-step write probabilities, so `gate_<task>` is a bar chart of those rates per arm; a histogram
 * of p is drawn when the file carries per-step probabilities (`arms[...].pEvent` / `pDistractor`
 * arrays) and, for sim traces given with --trace, of p at cue steps vs the other steps.
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, FormatError } from "aura-mem/errors";
import { bytesVsHorizonSvg, histogramSvg, horizonSvg, paretoSvg, renderVegaLite } from "../bench/plots.js";
import { claimsSection, configSection, horizonPoints, horizonTable, taskTable, type BenchResults } from "../bench/report.js";
import { bytesSeries, paretoPoints, parseResults, taskSlug, type ResultsFile, type ResultsTask } from "../bench/results.js";
import { cueShown, parseTrace, type SimTrace } from "../web/trace.js";

// ------------------------------------------------------------------------------------------------
// SVG -> PNG
// ------------------------------------------------------------------------------------------------

/** Sans-serif fonts looked for (first found wins) so PNG text never depends on what fontconfig picks. */
const FONT_CANDIDATES: readonly [string, string][] = [
  ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVu Sans"],
  ["/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "Liberation Sans"],
  ["/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf", "Liberation Sans"],
  ["/usr/share/fonts/truetype/freefont/FreeSans.ttf", "FreeSans"],
  ["/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVu Sans"],
  ["/System/Library/Fonts/Helvetica.ttc", "Helvetica"],
  ["C:\\Windows\\Fonts\\arial.ttf", "Arial"],
];

/** The sans-serif family the rasteriser falls back to, or null when none of the known fonts is installed. */
export function sansSerifFont(): { file: string; family: string } | null {
  for (const [file, family] of FONT_CANDIDATES) if (existsSync(file)) return { file, family };
  return null;
}

/** Options of {@link svgToPng}. */
export interface PngOptions {
  /** Zoom factor over the SVG's own size (default 2: sharp on high-density screens). */
  scale?: number;
  /** Background colour (default white; the vega SVGs have a white background already). */
  background?: string;
}

let warnedFont = false;

/**
 * Rasterise an SVG string to PNG bytes with resvg. System fonts are loaded; the generic sans-serif
 * family is mapped to an installed font so text renders the same whatever fontconfig prefers.
 * @throws ConfigError on an empty input or a bad scale; FormatError when resvg cannot parse the SVG.
 */
export async function svgToPng(svg: string, opts: PngOptions = {}): Promise<Uint8Array> {
  if (typeof svg !== "string" || !svg.includes("<svg")) throw new ConfigError("svgToPng: input is not an SVG document");
  const scale = opts.scale ?? 2;
  if (!(Number.isFinite(scale) && scale > 0 && scale <= 16)) throw new ConfigError(`svgToPng: scale must be in (0, 16], got ${scale}`);
  const { Resvg } = await import("@resvg/resvg-js");
  const font = sansSerifFont();
  if (!font && !warnedFont) {
    warnedFont = true;
    console.warn("aura plot: no known sans-serif font found (e.g. apt-get install fonts-dejavu-core); PNG text uses whatever system font resvg finds");
  }
  let resvg;
  try {
    resvg = new Resvg(svg, {
      fitTo: { mode: "zoom", value: scale },
      background: opts.background ?? "white",
      font: font
        ? { loadSystemFonts: true, fontFiles: [font.file], defaultFontFamily: font.family, sansSerifFamily: font.family }
        : { loadSystemFonts: true },
      logLevel: "off",
    });
  } catch (err) {
    throw new FormatError(`svgToPng: resvg cannot read the SVG (${(err as Error).message})`);
  }
  return new Uint8Array(resvg.render().asPng());
}

// ------------------------------------------------------------------------------------------------
// Figures from results.json
// ------------------------------------------------------------------------------------------------

/**
 * Grouped bars: P(write | event) and P(write | distractor) per arm of one task (arms that record
 * both). @throws ConfigError when no arm has both rates.
 */
export async function selectivitySvg(task: string, t: ResultsTask): Promise<string> {
  const rows: { arm: string; step: string; rate: number }[] = [];
  const arms: string[] = [];
  for (const [arm, a] of Object.entries(t.arms)) {
    if (typeof a.pWriteEvent !== "number" || typeof a.pWriteDistractor !== "number") continue;
    arms.push(arm);
    rows.push({ arm, step: "event", rate: a.pWriteEvent }, { arm, step: "distractor", rate: a.pWriteDistractor });
  }
  if (rows.length === 0) throw new ConfigError(`selectivitySvg: no arm of task "${task}" records both P(write|event) and P(write|distractor)`);
  return renderVegaLite({
    title: `${task}: how often each arm writes at events vs distractors`,
    width: { step: 14 },
    height: 300,
    data: { values: rows },
    mark: { type: "bar" },
    encoding: {
      x: { field: "arm", type: "nominal", title: null, sort: arms, axis: { labelAngle: -35 } },
      xOffset: { field: "step", type: "nominal", sort: ["event", "distractor"] },
      y: { field: "rate", type: "quantitative", title: "P(write | step type)", scale: { domain: [0, 1] } },
      color: { field: "step", type: "nominal", title: "step type", sort: ["event", "distractor"], scale: { range: ["#e8590c", "#7048e8"] } },
      tooltip: [{ field: "arm" }, { field: "step" }, { field: "rate", format: ".3f" }],
    },
  });
}

/** Options of {@link plotResults}. */
export interface PlotOptions {
  /** Also write PNGs (default true). */
  png?: boolean;
  /** PNG zoom (default 2). */
  scale?: number;
  /** Sim traces whose per-step p feed a gate histogram. */
  traces?: { name: string; trace: SimTrace }[];
  /** Where the results came from (shown in summary.md). */
  source?: string;
}

/** Write the figures and summary.md for `res` into `outDir`; returns the files written. */
export async function plotResults(res: ResultsFile, outDir: string, opts: PlotOptions = {}): Promise<string[]> {
  const png = opts.png ?? true;
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const md: string[] = ["# aura-mem results", ""];
  // The verdict first: it needs per-seed metrics (paired differences), which `aura bench` records.
  const complete = Object.values(res.tasks).every((t) => Object.values(t.arms).every((a) => Array.isArray(a["perSeed"]) && Array.isArray(a["seedIds"])));
  if (complete) md.push(...claimsSection(res as unknown as BenchResults));
  else md.push("(No claim-by-claim verdict: this file has no per-seed metrics, `perSeed` and `seedIds`, to pair.)", "");

  const emit = async (stem: string, svg: string, alt: string): Promise<void> => {
    const svgPath = join(outDir, `${stem}.svg`);
    await writeFile(svgPath, svg);
    files.push(svgPath);
    if (png) {
      const pngPath = join(outDir, `${stem}.png`);
      await writeFile(pngPath, await svgToPng(svg, { scale: opts.scale }));
      files.push(pngPath);
      md.push(`![${alt}](${stem}.png)`, "", `([SVG](${stem}.svg))`, "");
    } else {
      md.push(`![${alt}](${stem}.svg)`, "");
    }
  };

  for (const [task, t] of Object.entries(res.tasks)) {
    const slug = taskSlug(task);
    md.push(`## ${task}`, "");
    await emit(`pareto_${slug}`, await paretoSvg(paretoPoints(res, task), { task, title: `${task}: ${t.metric} vs writes per episode` }), `${task}: ${t.metric} vs writes per episode`);
    md.push(taskTable(task, t as unknown as BenchResults["tasks"][string]), "");
    // the horizon-generalisation panel, where the file has one
    const hz = horizonTable(task, t as unknown as BenchResults["tasks"][string]);
    if (hz) {
      md.push(hz, "");
      const pts = horizonPoints(t as unknown as BenchResults["tasks"][string]);
      await emit(`horizon_${slug}`, await horizonSvg(pts, { title: `${task}: accuracy and writes vs evaluation horizon (trained at T = ${t.horizon}; solid: fixed events, dashed: constant density)` }), `${task} horizon generalisation`);
    }
    const aura = t.arms["aura"];
    const pe = aura?.["pEvent"];
    const pd = aura?.["pDistractor"];
    if (Array.isArray(pe) && Array.isArray(pd) && pe.length + pd.length > 0) {
      const values = [
        ...pe.filter((v): v is number => typeof v === "number").map((value) => ({ group: "event", value })),
        ...pd.filter((v): v is number => typeof v === "number").map((value) => ({ group: "distractor", value })),
      ];
      await emit(`gate_${slug}`, await histogramSvg(values, { title: `${task}: AURA write probability at events vs distractors`, xTitle: "write probability p" }), `${task} gate histogram`);
    } else if (Object.values(t.arms).some((a) => typeof a.pWriteEvent === "number" && typeof a.pWriteDistractor === "number")) {
      md.push("Gate selectivity (the file records write rates per step type, not per-step probabilities, so this is a bar chart, not a histogram):", "");
      await emit(`gate_${slug}`, await selectivitySvg(task, t), `${task} gate selectivity`);
    }
  }

  const { series, skipped } = bytesSeries(res);
  if (series.length) {
    md.push("## State bytes vs horizon", "");
    await emit("state_bytes", await bytesVsHorizonSvg(series, { title: "memory state bytes vs horizon (batch 1, fp32, from results.json)" }), "state bytes vs horizon");
    md.push(
      "Each arm's bytes as recorded at the evaluation horizon T and at 100,000 steps: equal bytes are drawn flat, bytes growing by exactly 100,000/T are drawn linear in the horizon." +
        series
          .filter((x) => x.members.length > 2)
          .map((x) => ` "${x.arm}" = ${x.members.join(", ")} (the same bytes).`)
          .join("") +
        (skipped.length ? ` Not drawn (0 bytes cannot sit on a log axis): ${skipped.join(", ")}.` : ""),
      "",
    );
  }

  for (const { name, trace } of opts.traces ?? []) {
    const values = trace.steps.map((s) => ({ group: cueShown(s.cue) ? "cue step" : "other step", value: s.p }));
    const stem = `gate_trace_${taskSlug(basename(name).replace(/\.json$/, ""))}`;
    md.push(`## Gate on a closed-loop trace: ${name}`, "", `task ${trace.task}, arm ${trace.arm}, seed ${trace.seed}, ${trace.steps.length} steps, success ${String(trace.success)}`, "");
    await emit(stem, await histogramSvg(values, { title: `${trace.task} (${trace.arm}): write probability at cue steps vs the rest`, xTitle: "write probability p" }), `${name} gate histogram`);
  }

  const meta = res.meta;
  const metaBits = ["mode", "seeds", "dModel", "backend", "date", "wallSeconds"]
    .filter((k) => meta[k] !== undefined)
    .map((k) => `${k}: ${JSON.stringify(meta[k])}`);
  const config = configSection(meta, opts.source);
  if (metaBits.length) config.splice(2, 0, metaBits.join(" · "), "");
  md.push(...config);
  const mdPath = join(outDir, "summary.md");
  await writeFile(mdPath, md.join("\n"));
  files.push(mdPath);
  return files;
}

// ------------------------------------------------------------------------------------------------
// Web assets
// ------------------------------------------------------------------------------------------------

/** Options of {@link buildWebAssets}. */
export interface WebAssetsOptions {
  /** Output folder (default web/public of the package). */
  out: string;
  /** Fewer training steps (300 instead of 600). */
  quick?: boolean;
  /** Retrain even when a matching checkpoint exists. */
  force?: boolean;
  /**
   * An `aura sim` / `aura sim-stream --trace` trace to ship as the default replay (copied to
   * `trace.json`); without it, the checked-in long cue-stream trace `samples/stream-trace.json` when
   * `out` has one ({@link STREAM_TRACE_SAMPLE}).
   */
  trace?: string;
  /** Training seed = task seed (default 0). */
  seed?: number;
  log?: (msg: string) => void;
}

/** The checked-in trace the demo replays by default (relative to web/public): a real cue-stream episode (docs/demo.md). */
export const STREAM_TRACE_SAMPLE = "samples/stream-trace.json";

/** The task, width and step counts of the demo checkpoint. */
export const WEB_CHECKPOINT = { task: "ess-hard" as const, dModel: 64, steps: 600, quickSteps: 300 };

/** The package root (where package.json and web/ live). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "src"))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/**
 * Prepare the generated assets of the browser demo in `out`: aura.wasm (copied from build/), a
 * trained aura checkpoint on ess-hard (dModel 64, seed 0; reused when one trained with at least as
 * many steps exists), the replay's trace (`trace`, else the checked-in samples/stream-trace.json),
 * and manifest.json listing them and the checked-in samples. Training is deterministic (seeded data, initialisation and batch order; WASM kernels).
 */
export async function buildWebAssets(o: WebAssetsOptions): Promise<{ files: string[]; trained: boolean; manifest: Record<string, unknown> }> {
  const log = o.log ?? ((m: string) => console.log(m));
  const out = resolve(o.out);
  const seed = o.seed ?? 0;
  const steps = o.quick ? WEB_CHECKPOINT.quickSteps : WEB_CHECKPOINT.steps;
  const { task: taskName, dModel } = WEB_CHECKPOINT;
  await mkdir(join(out, "checkpoints"), { recursive: true });
  const files: string[] = [];

  const { defaultWasmPath } = await import("aura-mem/wasm/runtime");
  const wasmSrc = defaultWasmPath();
  if (!existsSync(wasmSrc)) throw new ConfigError(`kernel module not found at ${wasmSrc}: run \`npm run build\``);
  await copyFile(wasmSrc, join(out, "aura.wasm"));
  files.push(join(out, "aura.wasm"));

  const base = join(out, "checkpoints", `aura-${taskName}`);
  let trained = false;
  let info: Record<string, unknown> | null = null;
  if (!o.force && existsSync(`${base}.json`) && existsSync(`${base}.safetensors`)) {
    try {
      const j = JSON.parse(await readFile(`${base}.json`, "utf8")) as { extra?: { webAssets?: Record<string, unknown> } };
      const w = j.extra?.webAssets;
      if (w && w["task"] === taskName && w["seed"] === seed && w["dModel"] === dModel && typeof w["steps"] === "number" && w["steps"] >= steps) {
        const { AuraMemLayer } = await import("aura-mem/layer");
        await AuraMemLayer.load(base, { backend: "ts" }); // checks the pair is intact
        info = w;
        log(`web-assets: reusing ${relative(process.cwd(), base)} (${w["steps"]} steps; --force retrains)`);
      }
    } catch (err) {
      log(`web-assets: existing checkpoint unusable (${(err as Error).message}); retraining`);
    }
  }
  if (!info) {
    const [{ createTask }, { createOps }, { MemoryConfig }, { SequenceModel }, { armSpec }, { train }, { evaluate }, { AuraMemLayer }] = await Promise.all([
      import("../tasks/index.js"),
      import("aura-mem/ops/index"),
      import("aura-mem/config"),
      import("aura-mem/model/model"),
      import("aura-mem/model/arms"),
      import("aura-mem/train/train"),
      import("aura-mem/train/evaluate"),
      import("aura-mem/layer"),
    ]);
    const task = await createTask(taskName, { seed, dModel, valEpisodes: 128, testEpisodes: 256 });
    const ops = createOps("auto");
    const config = new MemoryConfig({ dModel, dAction: task.dAction, actionKind: task.kind, seed });
    const model = new SequenceModel(armSpec("aura", config, { matchParams: null }), ops);
    log(`web-assets: training aura on ${taskName} (dModel ${dModel}, seed ${seed}, ${steps} steps, ${ops.backend} ops)...`);
    const t0 = Date.now();
    const tr = train(model, task, {
      steps,
      seed,
      evalEvery: 100,
      onStep: (s) => {
        if (s.val !== undefined) log(`  step ${s.step}/${s.steps}: loss ${s.loss.toFixed(3)}, val accuracy ${s.val.toFixed(3)}, mean p ${s.meanP.toFixed(3)}`);
      },
    });
    const ev = evaluate(model, task.evalSet("test", 64), { metric: task.metric, dAction: task.dAction, metricScale: task.metricScale });
    info = {
      task: taskName,
      seed,
      dModel,
      steps,
      bestStep: tr.bestStep,
      trainSeconds: Math.round((Date.now() - t0) / 100) / 10,
      testEpisodes: ev.episodes,
      testAccuracy: ev.metric,
      writesPerEpisode: ev.writesPerEpisode,
      horizon: task.horizon,
      pWriteEvent: ev.pWriteEvent,
      pWriteDistractor: ev.pWriteDistractor,
    };
    await AuraMemLayer.fromModel(model).save(base, { webAssets: info, trainedOn: { task: taskName, seed } });
    trained = true;
    log(`web-assets: test accuracy ${ev.metric.toFixed(3)}, ${ev.writesPerEpisode.toFixed(1)} writes per ${task.horizon}-step episode (${info["trainSeconds"]} s)`);
  }
  files.push(`${base}.json`, `${base}.safetensors`);

  let trace: string | null = null;
  if (o.trace) {
    const text = await readFile(resolve(o.trace), "utf8");
    parseTrace(text); // validate before shipping
    await writeFile(join(out, "trace.json"), text);
    files.push(join(out, "trace.json"));
    trace = "trace.json";
  } else if (existsSync(join(out, STREAM_TRACE_SAMPLE))) {
    parseTrace(await readFile(join(out, STREAM_TRACE_SAMPLE), "utf8")); // a broken checked-in sample fails the build
    trace = STREAM_TRACE_SAMPLE;
    if (existsSync(join(out, "trace.json"))) log(`web-assets: shipping ${STREAM_TRACE_SAMPLE}; the trace.json of an earlier --trace is ignored (pass --trace again to ship it)`);
  }
  const samples: Record<string, string> = {};
  if (existsSync(join(out, "samples", "results.json"))) samples["results"] = "samples/results.json";
  const manifest = {
    format: "aura-web-assets",
    version: 1,
    wasm: "aura.wasm",
    checkpoint: {
      json: `checkpoints/aura-${taskName}.json`,
      safetensors: `checkpoints/aura-${taskName}.safetensors`,
      ...info,
    },
    samples,
    trace,
  };
  await writeFile(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  files.push(join(out, "manifest.json"));
  // The same data as one classic script, so the built page also works opened from disk (file://),
  // where browsers refuse fetch() and module scripts.
  const b64 = async (p: string): Promise<string> => Buffer.from(await readFile(p)).toString("base64");
  const text = async (p: string): Promise<string | null> => (existsSync(p) ? readFile(p, "utf8") : null);
  const inline = {
    manifest,
    wasm: await b64(join(out, "aura.wasm")),
    checkpointJson: await readFile(`${base}.json`, "utf8"),
    checkpointTensors: await b64(`${base}.safetensors`),
    results: samples["results"] ? await text(join(out, samples["results"])) : null,
    trace: trace ? await text(join(out, trace)) : null,
  };
  await writeFile(join(out, "bundle-data.js"), `/* generated by \`aura web-assets\` (do not edit): the demo's kernels, checkpoint and samples */\nwindow.AURA_WEB_DATA = ${JSON.stringify(inline)};\n`);
  files.push(join(out, "bundle-data.js"));
  return { files, trained, manifest };
}

// ------------------------------------------------------------------------------------------------
// Commands
// ------------------------------------------------------------------------------------------------

function scaleArg(v: string): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0 && n <= 16)) throw new InvalidArgumentError("scale must be a number in (0, 16]");
  return n;
}

/** Add `aura plot` and `aura web-assets` to the CLI. */
export function registerPlotCommands(program: Command): void {
  program
    .command("plot")
    .description("write the figures of a results.json (Pareto per task, state bytes vs horizon, gate selectivity) as SVG and PNG, and a summary.md embedding them")
    .argument("<results>", "results.json written by `aura bench` or `aura sim`")
    .option("--out <dir>", "output folder (default: the folder of results.json)")
    .option("--trace <files...>", "`aura sim` trace(s): also plot a histogram of the gate's write probability at cue vs other steps")
    .option("--no-png", "SVG only")
    .option("--scale <x>", "PNG zoom over the SVG size", scaleArg, 2)
    .action(async (file: string, o: { out?: string; trace?: string[]; png: boolean; scale: number }) => {
      const path = resolve(file);
      if (!existsSync(path)) throw new ConfigError(`results file not found: ${path}`);
      const res = parseResults(await readFile(path, "utf8"));
      const traces: { name: string; trace: SimTrace }[] = [];
      for (const t of o.trace ?? []) traces.push({ name: basename(t), trace: parseTrace(await readFile(resolve(t), "utf8")) });
      const outDir = resolve(o.out ?? dirname(path));
      const written = await plotResults(res, outDir, { png: o.png, scale: o.scale, traces, source: relative(outDir, path) || basename(path) });
      console.log(`wrote:\n${written.map((f) => "  " + relative(process.cwd(), f)).join("\n")}`);
    });

  program
    .command("web-assets")
    .description("prepare the browser demo's generated files (kernel module, trained checkpoint, manifest) in web/public")
    .option("--quick", `train the demo checkpoint for ${WEB_CHECKPOINT.quickSteps} steps instead of ${WEB_CHECKPOINT.steps}`, false)
    .option("--force", "retrain even if a matching checkpoint exists", false)
    .option("--out <dir>", "output folder", join(packageRoot(), "web", "public"))
    .option("--trace <file>", `an \`aura sim\` or \`aura sim-stream --trace\` trace to ship as the default replay (default: the checked-in ${STREAM_TRACE_SAMPLE})`)
    .action(async (o: { quick: boolean; force: boolean; out: string; trace?: string }) => {
      const r = await buildWebAssets({ out: o.out, quick: o.quick, force: o.force, trace: o.trace });
      console.log(`web-assets: wrote ${r.files.length} files in ${relative(process.cwd(), resolve(o.out)) || "."}`);
    });
}
