/**
 * The benchmark pipeline end to end on a tiny budget (in-process): job planning, budget matching,
 * aggregation into the documented results.json shape, the report files, and the CLI's --help.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { quickOptions, planJobs, runBench, type BenchOptions } from "../src/bench/run.js";
import { writeReport, aggregate } from "../src/bench/report.js";
import { ConfigError } from "aura-mem/errors";
import { AuraMemLayer } from "aura-mem";

function tiny(): BenchOptions {
  const q = quickOptions();
  return {
    ...q,
    tasks: ["ess-easy"],
    arms: ["aura", "always-write", "random", "periodic", "recon-gate", "no-memory", "kv-cache"],
    seeds: [0, 1],
    ablationTasks: ["ess-easy"],
    ablations: ["no-ib", "no-sparsity", "no-decay"],
    stepsByTask: {},
    workers: 0,
    backend: "wasm",
    // trained at alpha = 1 and run at threshold 0.7 (the recipe per task is tested below)
    trainWriteDecay: { "ess-easy": 1 },
    gateThreshold: { "ess-easy": 0.7 },
    train: { ...q.train, steps: 12, batchSize: 8, evalEvery: 6, evalBatchSize: 64, softWarmupSteps: 4 },
    // horizon panel at 4T = 256 steps for two arms (kv-cache capped below it: skipped)
    panel: { multiples: [4], extra: [], arms: ["aura", "always-write", "kv-cache"], stepsPerPoint: 512, minEpisodes: 1, maxSteps: { "kv-cache": 128 } },
  };
}

test("planJobs: AURA first, ablations added, bad names rejected", () => {
  const jobs = planJobs(tiny());
  assert.equal(jobs.length, 2 * (7 + 2), "7 arms + the no-ib and no-sparsity AURA variants per seed (no-decay is eval-only)");
  // no-decay runs the same trained model without the decay: evaluated inside AURA's job, not trained again
  for (const j of jobs) assert.deepEqual(j.derived.map((d) => d.variant), j.arm === "aura" && j.variant === "default" ? ["no-decay"] : [], `${j.arm}:${j.variant}`);
  assert.ok(planJobs({ ...tiny(), writeDecay: {} }).every((j) => j.derived.length === 0), "no no-decay variant without a decay");
  // trained with the decay, no-decay is another training run: its own job
  const trainedDecayed = planJobs({ ...tiny(), trainWriteDecay: {}, train: { ...tiny().train, trainWriteDecay: null } });
  assert.equal(trainedDecayed.length, 2 * (7 + 3));
  assert.ok(trainedDecayed.some((j) => j.variant === "no-decay") && trainedDecayed.every((j) => j.derived.length === 0));
  // the task's write decay goes to every job; the model keeps always-write and no-decay at 1
  assert.ok(jobs.every((j) => j.writeDecay === 0.8));
  // the stream recipe's deployment threshold on ess (trained at 0.5, runJob); 0.5 where the task has none
  assert.ok(jobs.every((j) => j.gateThreshold === 0.7));
  assert.ok(planJobs({ ...tiny(), gateThreshold: {} }).every((j) => j.gateThreshold === 0.5));
  assert.equal(jobs[0]!.arm, "aura");
  assert.ok(jobs.some((j) => j.variant === "no-ib") && jobs.some((j) => j.variant === "no-sparsity"));
  assert.throws(() => planJobs({ ...tiny(), tasks: ["nope"] }), ConfigError);
  assert.throws(() => planJobs({ ...tiny(), arms: ["nope" as never] }), ConfigError);
  // budget-matched arms pull in aura
  const j2 = planJobs({ ...tiny(), arms: ["random"], ablationTasks: [] });
  assert.deepEqual(j2.map((j) => j.arm).sort(), ["aura", "aura", "random", "random"]);
});

test("planJobs: the stream recipe per task (the gate reads ||z||, trained in the band [0.3, 0.9], run at 0.7 on ess-hard and 0.8 on ess-easy, both at the stream learning rate; ess-hard trained with the deployed decay, ess-easy with 0.5)", () => {
  const q = quickOptions();
  const jobs = planJobs({ ...q, tasks: ["ess-easy", "ess-hard", "mbar"], ablationTasks: ["ess-easy", "ess-hard"], seeds: [0] });
  const easy = jobs.filter((j) => j.task === "ess-easy");
  const hard = jobs.filter((j) => j.task === "ess-hard");
  assert.ok(easy.every((j) => j.train.trainWriteDecay === 0.5 && j.gateThreshold === 0.8 && j.writeDecay === 0.8 && j.gateNorm && j.train.steps === 400 && j.train.lr === 6e-3));
  assert.ok(hard.every((j) => j.train.trainWriteDecay === null && j.gateThreshold === 0.7 && j.writeDecay === 0.8 && j.gateNorm && j.train.steps === 1200 && j.train.lr === 6e-3));
  assert.ok(jobs.filter((j) => j.task === "mbar").every((j) => j.writeDecay === 1 && j.gateThreshold === 0.5 && !j.gateNorm && j.train.lr === 3e-3));
  // the ess tasks' gates are trained with the threshold band, mbar's at the single threshold
  assert.ok([...easy, ...hard].every((j) => JSON.stringify(j.train.trainGateThresholdRange) === "[0.3,0.9]"));
  assert.ok(jobs.filter((j) => j.task === "mbar").every((j) => j.train.trainGateThresholdRange === null && j.train.trainWriteDecay === null));
  const none = planJobs({ ...q, tasks: ["ess-hard"], seeds: [0], trainGateBand: { "ess-hard": null } });
  assert.ok(none.every((j) => j.train.trainGateThresholdRange === null));
  // trained with the decay, no-decay is another training run
  assert.ok(easy.some((j) => j.variant === "no-decay") && hard.some((j) => j.variant === "no-decay") && jobs.every((j) => j.derived.length === 0));
  // --train-write-decay 1 on every task: no-decay is eval-only again
  const at1 = planJobs({ ...q, tasks: ["ess-easy", "ess-hard"], seeds: [0], trainWriteDecay: { "ess-easy": 1, "ess-hard": 1 } });
  assert.ok(at1.every((j) => j.train.trainWriteDecay === 1) && !at1.some((j) => j.variant === "no-decay"));
  assert.ok(at1.some((j) => j.derived.some((d) => d.variant === "no-decay")));
});

test("eval-only no-decay equals the no-decay variant trained on its own, bit for bit", async () => {
  const o: BenchOptions = { ...tiny(), arms: ["aura"], seeds: [0], ablations: ["no-decay"], panel: { ...tiny().panel, arms: ["aura"] } };
  const derived = (await runBench(o)).find((r) => r.variant === "no-decay")!;
  // the same plan with no-decay as its own training job (trained at alpha = 1 either way)
  const own = planJobs({ ...o, trainWriteDecay: {}, train: { ...o.train, trainWriteDecay: null } }).find((j) => j.variant === "no-decay")!;
  const { runJob, TaskCache } = await import("../src/bench/jobs.js");
  const retrained = await runJob({ ...own, train: { ...own.train, trainWriteDecay: 1 } }, new TaskCache());
  assert.equal(derived.writeDecay, 1);
  assert.deepEqual(derived.test, retrained.test);
  assert.deepEqual(derived.horizons, retrained.horizons);
  assert.deepEqual(derived.pEvent, retrained.pEvent);
  assert.equal(derived.bestStep, retrained.bestStep);
});

test("runBench + report: results.json has the documented shape and budget matching holds", async () => {
  const results = await runBench(tiny());
  const dir = mkdtempSync(join(tmpdir(), "aura-bench-"));
  try {
    const files = await writeReport(dir, results, { test: true });
    for (const f of ["results.json", "summary.md", "state_bytes.svg", "pareto_ess-easy.svg"]) assert.ok(existsSync(join(dir, f)), f);
    const res = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    assert.ok(files.length >= 4);
    const t = res.tasks["ess-easy"];
    assert.equal(t.metric, "accuracy");
    for (const arm of ["aura", "always-write", "random", "periodic", "recon-gate", "no-memory", "kv-cache", "aura:no-ib", "aura:no-sparsity", "aura:no-decay", "random:swap", "periodic:swap"]) {
      const a = t.arms[arm];
      assert.ok(a, `missing arm ${arm}`);
      for (const k of ["mean", "ci95", "seeds", "writesPerEpisode", "writeReduction", "pWriteEvent", "pWriteDistractor", "stateBytes", "stateBytesAt100k", "params"]) {
        assert.ok(k in a, `${arm} lacks ${k}`);
      }
      assert.equal(a.seeds, 2);
      assert.ok(a.ci95[0] <= a.mean && a.mean <= a.ci95[1]);
      assert.ok(a.mean >= 0 && a.mean <= 1);
    }
    // horizon panel: at T (the test set) and 4T, both stream kinds, for the panel's arms only
    for (const arm of ["aura", "always-write"]) {
      const hz = t.arms[arm].horizons;
      assert.deepEqual(Object.keys(hz), ["64", "256"], arm);
      for (const kind of ["fixed", "density"]) {
        const h = hz["256"][kind];
        for (const k of ["mean", "ci95", "writesPerEpisode", "pWriteEvent", "pWriteDistractor", "seeds", "perSeed"]) assert.ok(k in h, `${arm} ${kind} lacks ${k}`);
        assert.equal(h.seeds, 2);
        assert.equal(h.episodes, 2);
        assert.ok(h.mean >= 0 && h.mean <= 1);
        assert.equal(hz["64"][kind].mean, t.arms[arm].mean, "N = T is the test set");
      }
      if (arm === "always-write") assert.equal(hz["256"].fixed.writesPerEpisode, 256);
    }
    assert.equal(t.arms["aura"].horizons["256"].fixed.writeReduction, 256 / t.arms["aura"].horizons["256"].fixed.writesPerEpisode);
    assert.equal(t.arms["kv-cache"].horizons, undefined, "kv-cache is capped below 4T");
    assert.ok(t.arms["aura:no-decay"].horizons["256"].fixed, "the no-decay ablation has the panel");
    const decayOf = (arm: string, variant = "default") => results.find((r) => r.arm === arm && r.variant === variant)!.writeDecay;
    assert.deepEqual([decayOf("aura"), decayOf("random"), decayOf("recon-gate"), decayOf("always-write"), decayOf("aura", "no-decay")], [0.8, 0.8, 0.8, 1, 1]);
    const thresholdOf = (arm: string) => results.find((r) => r.arm === arm && r.variant === "default")!.gateThreshold;
    assert.deepEqual([thresholdOf("aura"), thresholdOf("always-write")], [0.7, null]);
    assert.equal(t.arms["gru"], undefined);
    assert.equal(t.arms["random"].horizons, undefined, "not in the panel");
    assert.ok(existsSync(join(dir, "horizon_ess-easy.svg")));
    assert.equal(t.arms["aura"].stateBytes, 4224);
    assert.equal(t.arms["aura"].stateBytesAt100k, 4224);
    assert.equal(t.arms["kv-cache"].stateBytesAt100k, 100000 * 64 * 4);
    assert.equal(t.arms["always-write"].writesPerEpisode, 64);
    assert.equal(t.arms["no-memory"].writesPerEpisode, 0);
    assert.equal(t.arms["no-memory"].writeReduction, null);
    // parameter budgets within 10% of AURA's
    for (const [arm, a] of Object.entries<{ params: number }>(t.arms)) {
      assert.ok(Math.abs(a.params / t.arms["aura"].params - 1) <= 0.1, `${arm} has ${a.params} params vs aura ${t.arms["aura"].params}`);
    }
    // budget matching: the random schedule's writes follow AURA's measured rate per seed
    for (const seed of [0, 1]) {
      const aura = results.find((r) => r.arm === "aura" && r.variant === "default" && r.seed === seed)!;
      const rnd = results.find((r) => r.arm === "random" && r.seed === seed)!;
      assert.equal(rnd.writeRate, aura.test.writeRate);
      assert.ok(Math.abs(rnd.test.writesPerEpisode - aura.test.writesPerEpisode) <= 0.2 * 64 * Math.max(aura.test.writeRate, 0.05) + 1);
      assert.ok(Math.abs(aura.swap!.periodic.writesPerEpisode - aura.test.writesPerEpisode) <= 2);
    }
    const md = readFileSync(join(dir, "summary.md"), "utf8");
    assert.match(md, /Paper claims, as measured here/);
    assert.ok(md.indexOf("| claim | task | paper | here |") < md.indexOf("\n## ess-easy"), "summary.md opens with the verdict table");
    assert.ok(md.indexOf("## Configuration") > md.indexOf("## State bytes"), "the configuration closes summary.md");
    assert.match(md, /\| aura \|/);
    assert.match(md, /horizon generalisation \(trained at T = 64, evaluated at N\)/);
    assert.match(md, /\| fixed \| N = 64 \| N = 256 \|/);
    assert.ok(aggregate(results).tasks["ess-easy"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CLI: every command has --help, bad options fail clearly", () => {
  const cli = join(process.cwd(), "dist", "src", "cli", "main.js");
  assert.ok(existsSync(cli), "run npm run build first");
  for (const cmd of [[], ["bench"], ["worker"], ["bench-speed"], ["bench-ab"], ["train"], ["eval"], ["info"]]) {
    const r = spawnSync(process.execPath, [cli, ...cmd, "--help"], { encoding: "utf8" });
    assert.equal(r.status, 0, `aura ${cmd.join(" ")} --help: ${r.stderr}`);
    assert.match(r.stdout, /Usage: aura/);
  }
  const info = spawnSync(process.execPath, [cli, "info"], { encoding: "utf8" });
  assert.equal(info.status, 0);
  assert.match(info.stdout, /4,224 bytes/);
  assert.match(info.stdout, /25,600,000 bytes = 6060\.6x/);
  const bad = spawnSync(process.execPath, [cli, "bench", "--tasks", "nope", "--workers", "0"], { encoding: "utf8" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown task "nope"/);
  const badAb = spawnSync(process.execPath, [cli, "bench-ab", "--against", join(process.cwd(), "no-such-build")], { encoding: "utf8" });
  assert.notEqual(badAb.status, 0);
  assert.match(badAb.stderr, /has no dist/);
  const bad2 = spawnSync(process.execPath, [cli, "train"], { encoding: "utf8" });
  assert.notEqual(bad2.status, 0);
  assert.match(bad2.stderr, /exactly one of --task/);
});

test("CLI: aura eval --horizon --stream --episodes --json scores a checkpoint on a longer stream", () => {
  const cli = join(process.cwd(), "dist", "src", "cli", "main.js");
  const dir = mkdtempSync(join(tmpdir(), "aura-eval-"));
  try {
    const ck = join(dir, "ck");
    const tr = spawnSync(process.execPath, [cli, "train", "--task", "ess-hard", "--steps", "4", "--dmodel", "16", "--write-decay", "0.8", "--out", ck], { encoding: "utf8" });
    assert.equal(tr.status, 0, tr.stderr);
    for (const stream of ["fixed", "density"]) {
      const ev = spawnSync(process.execPath, [cli, "eval", "--checkpoint", ck, "--task", "ess-hard", "--horizon", "1024", "--stream", stream, "--episodes", "3", "--json"], { encoding: "utf8" });
      assert.equal(ev.status, 0, ev.stderr);
      const j = JSON.parse(ev.stdout);
      assert.equal(j.horizon, 1024);
      assert.equal(j.episodes, 3);
      assert.ok(j.metric >= 0 && j.metric <= 1);
      for (const k of ["writesPerEpisode", "pWriteEvent", "pWriteDistractor"]) assert.equal(typeof j[k], "number", k);
    }
    const bad = spawnSync(process.execPath, [cli, "eval", "--checkpoint", ck, "--task", "ess-hard", "--horizon", "1024", "--stream", "sideways"], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CLI: aura train uses the task's stream recipe unless flags set it (ess: decay 0.8 (ess-easy: 0.5 in training), ||z|| input, threshold 0.7 (ess-easy: 0.8) trained with the band [0.3, 0.9])", async () => {
  const cli = join(process.cwd(), "dist", "src", "cli", "main.js");
  const dir = mkdtempSync(join(tmpdir(), "aura-recipe-"));
  try {
    const cases: [string[], { writeDecay: number; gateNorm: boolean; gateThreshold: number }][] = [
      [["--task", "ess-hard"], { writeDecay: 0.8, gateNorm: true, gateThreshold: 0.7 }],
      [["--task", "ess-easy"], { writeDecay: 0.8, gateNorm: true, gateThreshold: 0.8 }],
      [["--task", "mbar"], { writeDecay: 1, gateNorm: false, gateThreshold: 0.5 }],
      [["--task", "ess-hard", "--write-decay", "1", "--no-gate-norm", "--gate-threshold", "0.5"], { writeDecay: 1, gateNorm: false, gateThreshold: 0.5 }],
      [["--task", "mbar", "--gate-norm"], { writeDecay: 1, gateNorm: true, gateThreshold: 0.5 }],
    ];
    for (const [i, [args, want]] of cases.entries()) {
      const ck = join(dir, `ck${i}`);
      const tr = spawnSync(process.execPath, [cli, "train", ...args, "--steps", "2", "--eval-every", "2", "--dmodel", "16", "--out", ck], { encoding: "utf8" });
      assert.equal(tr.status, 0, tr.stderr);
      const c = (await AuraMemLayer.load(ck)).config;
      assert.deepEqual({ writeDecay: c.writeDecay, gateNorm: c.gateNorm, gateThreshold: c.gateThreshold }, want, args.join(" "));
      if (i === 0) assert.match(tr.stdout, /trained at thresholds drawn from \[0\.3, 0\.9\]/, "ess-hard trains its gate with the recipe's band");
      if (i === 1) assert.match(tr.stdout, /write decay 0\.8 \(0\.5 in training\), gate threshold 0\.8 \(trained at thresholds drawn from \[0\.3, 0\.9\]\), gate reads \|\|z\|\|: yes, learning rate 0\.006/, "ess-easy's recipe");
    }
    // the learning rate is the recipe's unless --lr says otherwise
    const lr = spawnSync(process.execPath, [cli, "train", "--task", "ess-easy", "--lr", "0.001", "--steps", "2", "--eval-every", "2", "--dmodel", "16", "--out", join(dir, "lr")], { encoding: "utf8" });
    assert.equal(lr.status, 0, lr.stderr);
    assert.match(lr.stdout, /learning rate 0\.001 \(the stream recipe/);
    // the band is a training option: off by flag, and refused when malformed
    const off = spawnSync(process.execPath, [cli, "train", "--task", "ess-hard", "--train-gate-band", "none", "--steps", "2", "--eval-every", "2", "--dmodel", "16", "--out", join(dir, "off")], { encoding: "utf8" });
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stdout, /trained at 0\.5\)/);
    const bad = spawnSync(process.execPath, [cli, "train", "--task", "ess-hard", "--train-gate-band", "0.9,0.3", "--steps", "2", "--out", join(dir, "bad")], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /train-gate-band must be "lo,hi"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("horizon panel episodes: stepsPerPoint / N, clamped to [minEpisodes, 512]; the quick panel has at least 4 streams at 512T", async () => {
  const { panelEpisodes } = await import("../src/bench/jobs.js");
  assert.equal(panelEpisodes(1024, 32768), 32);
  assert.equal(panelEpisodes(65536, 32768), 1, "at least one by default");
  assert.equal(panelEpisodes(65536, 32768, 4), 4);
  assert.equal(panelEpisodes(8192, 32768, 4), 4);
  assert.equal(panelEpisodes(64, 1 << 20, 4), 512, "at most 512");
  const jobs = planJobs({ ...quickOptions(), tasks: ["ess-hard"], arms: ["aura"], seeds: [0], ablationTasks: [] });
  const panel = jobs[0]!.panel!;
  assert.deepEqual(panel.horizons, [1024, 8192, 65536]);
  assert.deepEqual(panel.horizons.map((N) => panelEpisodes(N, panel.stepsPerPoint, panel.minEpisodes)), [32, 4, 4]);
});
