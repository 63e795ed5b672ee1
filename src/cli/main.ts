#!/usr/bin/env node
/**
 * `aura` — command-line interface of aura-mem (commander). Every command has `--help`.
 *   aura bench        the main job: train and compare every arm on the tasks (quick by default, --full for the sweep)
 *   aura bench-speed  kernel and step timing (a benchmark, not a test)
 *   aura train        train an arm on a task or on your own features (--data), write a checkpoint
 *   aura eval         evaluate a checkpoint on a task or a dataset
 *   aura info         parameter count and memory bytes of a configuration
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { intArg, numArg, listArg, bandArg, bandValue } from "./args.js";
import cliProgress from "cli-progress";
import { join, resolve } from "node:path";
import { ARMS, isArm, type ArmName } from "aura-mem/model/model";
import { taskNames } from "../tasks/index.js";
import { RECIPE_GATE_THRESHOLD, fullOptions, quickOptions, runBench, type BenchOptions } from "../bench/run.js";
import { withDerived, type JobResult } from "../bench/jobs.js";
import type { JobStore } from "../bench/store.js";
import { writeReport, aggregate, taskTable } from "../bench/report.js";
import { AuraError } from "aura-mem/errors";
import { DEFAULT_TRAIN } from "aura-mem/train/train";
import { STREAM_LR } from "aura-mem/config";
import { trainCommand, evalCommand, infoCommand } from "./commands.js";
import { registerEdgeCommands } from "./edge.js";
import { registerSimCommands } from "./sim.js";
import { registerPlotCommands } from "./plot.js";
import { registerOnnxCommands } from "./onnx.js";
import { registerSoakCommands } from "./edge_soak.js";
import { registerDataCommands } from "./data.js";
import { locateData, whereLooked } from "../data/paths.js";

function seedsArg(v: string): number[] {
  const out: number[] = [];
  for (const part of listArg(v)) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    else if (/^\d+$/.test(part)) out.push(Number(part));
    else throw new InvalidArgumentError(`seeds must be like 0,1,2 or 0-4, got "${part}"`);
  }
  return out;
}

/** "0.8 on ess-easy, 0.7 on ess-hard": the per-task deployment thresholds of the stream recipe, for the help texts. */
const RECIPE_THRESHOLDS = Object.entries(RECIPE_GATE_THRESHOLD)
  .map(([t, p]) => `${p} on ${t}`)
  .join(", ");

const program = new Command();
program
  .name("aura")
  .description("aura-mem: action-gated, constant-size fast-weight memory for robot policies (AURA, arXiv 2606.02775)")
  .showHelpAfterError();

program
  .command("bench")
  .description("train and compare every arm on the benchmark tasks; writes results/<timestamp>/{summary.md,results.json,*.svg}")
  .option("--full", "paper-scale sweep: 5 seeds, ess N in {64,128,256,512}, mbar N in {8,16,32,64}, longer training", false)
  .option("--tasks <list>", `comma-separated tasks (${taskNames.join(", ")})`, listArg)
  .option("--arms <list>", `comma-separated arms (${ARMS.join(", ")})`, listArg)
  .option("--seeds <list>", "seeds, e.g. 0,1,2 or 0-4", seedsArg)
  .option("--steps <n>", "Adam steps per training run (default per task: ess-easy 400, ess-hard 1200, mbar 600, pusht 400; --full 1500)", intArg("steps"))
  .option("--batch <n>", "episodes per batch", intArg("batch"))
  .option("--lr <x>", `Adam learning rate on every task (default: ${STREAM_LR} on ess-easy / ess-hard, the stream recipe; ${DEFAULT_TRAIN.lr} elsewhere)`, numArg("lr"))
  .option("--lambda-ib <x>", `weight of the action-IB term (default ${DEFAULT_TRAIN.lambdaIB}; 0 = off)`, numArg("lambda-ib"))
  .option("--lambda-w <x>", `weight of the write-sparsity term (default ${DEFAULT_TRAIN.lambdaW}; 0 = off)`, numArg("lambda-w"))
  .option("--target-rate <x>", "target write rate rho of the sparsity hinge (writes per step)", numArg("target-rate"))
  .option("--no-ablation", "skip the AURA ablation variants (quick: no-decay; --full: also lambda_IB = 0, lambda_w = 0)")
  .option("--write-decay <x>", "write decay alpha of the gated fast-weight arms (aura, random, periodic, recon-gate) on every task, in training and when they run (default: 0.8 on ess-easy / ess-hard, 1 = none elsewhere)", numArg("write-decay"))
  .option("--gate-threshold <p>", `deployment write threshold on p of AURA's gate on every task, trained at 0.5 or in a band (default: ${RECIPE_THRESHOLDS}, 0.5 elsewhere)`, numArg("gate-threshold"))
  .option("--train-write-decay <x>", "write decay alpha the gated fast-weight arms are trained with, on every task (default: 0.5 on ess-easy, elsewhere the one they run with, --write-decay; docs/method.md)", numArg("train-write-decay"))
  .addOption(new Option("--gate-norm <on|off>", "whether AURA's gate reads the observation norm ||z||, on every task (default: on for ess-easy / ess-hard, the stream recipe; off elsewhere)").choices(["on", "off"]))
  .option("--train-gate-band <lo,hi|none>", "threshold band AURA's gate is trained with, on every task: each hard training step gated at a threshold drawn from [lo, hi] (default: 0.3,0.9 on ess-easy / ess-hard, none elsewhere; docs/method.md)", bandArg("train-gate-band"))
  .option("--no-horizons", "skip the horizon-generalisation panel (ess tasks evaluated at 8T, 64T, 512T)")
  .option("--horizon-arms <list>", "arms that get the horizon panel (default: aura, always-write, gru, kv-window; --full: all)", listArg)
  .option("--dmodel <n>", "backbone feature width of the synthetic tasks", intArg("dmodel"))
  .option("--pusht-path <path>", "Push-T zarr store (default: ../shared/data/pusht_cchi_v7_replay.zarr if present, else the copy `aura data fetch pusht` made)")
  .option("--workers <n>", "worker threads (0 = in-process)", intArg("workers"))
  .addOption(new Option("--backend <name>", "op backend").choices(["auto", "wasm", "ts"]).default("auto"))
  .option("--out <dir>", "output directory (default results/<timestamp>)")
  .option("--store <dir>", "job store: one <key>.json per finished job; jobs already there are not run again", "results/store")
  .option("--no-store", "keep results in memory only (every job runs)")
  .option("--resume", "go on with a sweep that stopped (a crash, a SIGKILL, a reboot): only jobs without a stored result run; with --queue, reattach to the queued jobs", false)
  .option("--plan", "print the plan's jobs, how many are done in the store and an ETA; run nothing", false)
  .option("--queue <url>", "run the jobs on BullMQ workers (aura worker) through Redis, e.g. redis://host:6379/0 (docs/distributed.md)")
  .option("--attempts <n>", "--queue: tries per job before it is failed", intArg("attempts"), 3)
  .option("--backoff <ms>", "--queue: delay before the first retry, doubling after each", intArg("backoff"), 5000)
  .option("--poll <ms>", "--queue: how often progress is read from Redis", intArg("poll"), 2000)
  .action(async (o) => {
    const base: BenchOptions = o.full ? fullOptions() : quickOptions();
    const opts: BenchOptions = {
      ...base,
      tasks: o.tasks ?? base.tasks,
      arms: (o.arms ?? base.arms) as ArmName[],
      seeds: o.seeds ?? base.seeds,
      dModel: o.dmodel ?? base.dModel,
      pushtPath: locateData("pusht", o.pushtPath).path,
      backend: o.backend,
      workers: o.workers ?? base.workers,
      ablationTasks: o.ablation === false ? [] : base.ablationTasks,
      writeDecay: o.writeDecay !== undefined ? Object.fromEntries((o.tasks ?? base.tasks).map((t: string) => [t, o.writeDecay])) : base.writeDecay,
      gateThreshold: o.gateThreshold !== undefined ? Object.fromEntries((o.tasks ?? base.tasks).map((t: string) => [t, o.gateThreshold])) : base.gateThreshold,
      gateNorm: o.gateNorm !== undefined ? Object.fromEntries((o.tasks ?? base.tasks).map((t: string) => [t, o.gateNorm === "on"])) : base.gateNorm,
      trainWriteDecay: o.trainWriteDecay !== undefined ? Object.fromEntries((o.tasks ?? base.tasks).map((t: string) => [t, o.trainWriteDecay])) : base.trainWriteDecay,
      trainGateBand: o.trainGateBand !== undefined ? Object.fromEntries((o.tasks ?? base.tasks).map((t: string) => [t, bandValue(o.trainGateBand)])) : base.trainGateBand,
      panel: o.horizons === false ? { ...base.panel, multiples: [], extra: [] } : { ...base.panel, arms: (o.horizonArms ?? base.panel.arms) as ArmName[] },
      stepsByTask: o.steps !== undefined ? {} : base.stepsByTask,
      lrByTask: o.lr !== undefined ? {} : base.lrByTask,
      train: {
        ...base.train,
        ...(o.steps !== undefined ? { steps: o.steps } : {}),
        ...(o.batch !== undefined ? { batchSize: o.batch } : {}),
        ...(o.lr !== undefined ? { lr: o.lr } : {}),
        ...(o.lambdaIb !== undefined ? { lambdaIB: o.lambdaIb } : {}),
        ...(o.lambdaW !== undefined ? { lambdaW: o.lambdaW } : {}),
        ...(o.targetRate !== undefined ? { targetWriteRate: o.targetRate } : {}),
      },
    };
    for (const a of opts.arms) if (!isArm(a)) throw new AuraError(`unknown arm "${a}" (valid: ${ARMS.join(", ")})`);
    if (opts.tasks.includes("pusht")) {
      const { existsSync } = await import("node:fs");
      if (!existsSync(opts.pushtPath)) {
        console.error(`pusht data not found at ${opts.pushtPath} (--pusht-path; ${whereLooked("pusht")}); skipping the pusht task`);
        opts.tasks = opts.tasks.filter((t) => t !== "pusht");
      }
    }
    const { planJobs, keyJobs } = await import("../bench/run.js");
    const { JobStore, planStatus, fmtDuration } = await import("../bench/store.js");
    const total = planJobs(opts).length; // validates tasks / arms / seeds before anything starts
    if ((o.plan || o.queue || o.resume) && o.store === false) throw new AuraError("--plan, --queue and --resume need the job store (drop --no-store)");
    const store = o.store === false ? undefined : new JobStore(resolve(o.store));
    if (o.plan) {
      const keyed = keyJobs(planJobs(opts));
      const st = await planStatus(keyed, store!, o.queue ? 1 : Math.max(1, opts.workers));
      for (const r of st.rows) {
        const j = r.k.job;
        const name = `${j.arm}${j.variant !== "default" ? ":" + j.variant : ""} ${j.task}${j.horizon ? "@" + j.horizon : ""} s${j.seed}`;
        console.log(`${String(j.id).padStart(5)}  ${r.k.key}  ${name.padEnd(34)} ${j.train.steps} steps  ${r.done ? `done (${r.seconds!.toFixed(1)} s)` : r.k.dependsOn ? `to run after ${r.k.dependsOn.slice(0, 8)}` : "to run"}`);
      }
      console.log(`\n${st.total} jobs, ${st.done} done, ${st.total - st.done} to run; code version ${keyed[0]?.fields.codeVersion}; store ${store!.dir}`);
      console.log(`ETA ${fmtDuration(st.etaSeconds)}${o.queue ? " on one worker (divide by the workers)" : ` on ${Math.max(1, opts.workers)} worker(s)`}${st.etaSeconds === null && st.done < st.total ? " (nothing measured in this store yet)" : ""}`);
      return;
    }
    if (o.queue) {
      await queuedBench(o, opts, store!);
      return;
    }
    const started = Date.now();
    const multibar = new cliProgress.MultiBar(
      {
        clearOnComplete: false,
        hideCursor: true,
        format: "{label} |{bar}| {value}/{total} {unit} {info}",
        noTTYOutput: true,
        notTTYSchedule: 10000,
      },
      cliProgress.Presets.shades_classic,
    );
    const overall = multibar.create(total, 0, { label: "bench".padEnd(34), unit: "runs", info: "" });
    const bars = new Map<number, cliProgress.SingleBar>();
    const results = await runBench(opts, {
      onStart(job) {
        const label = `${job.arm}${job.variant !== "default" ? ":" + job.variant : ""} ${job.task}${job.horizon ? "@" + job.horizon : ""} s${job.seed}`;
        bars.set(job.id, multibar.create(job.train.steps, 0, { label: label.padEnd(34), unit: "steps", info: "" }));
      },
      onProgress(job, step, _steps, loss) {
        bars.get(job.id)?.update(step, { info: `loss ${loss.toFixed(3)}` });
      },
      onDone(job, r) {
        const bar = bars.get(job.id);
        if (bar) {
          bar.update(job.train.steps, { info: `${r.metricName} ${r.test.metric.toFixed(3)} | ${r.test.writesPerEpisode.toFixed(1)} writes/ep` });
          bar.stop();
          multibar.remove(bar);
          bars.delete(job.id);
        }
        overall.increment(1, { info: `${((Date.now() - started) / 1000).toFixed(0)} s` });
      },
      onWarn(m) {
        multibar.log(m + "\n");
      },
    }, { store });
    multibar.stop();
    await report(o, opts, results, started, opts.workers);
  });

/** Write results.json, summary.md and the figures of a finished plan, and print the tables. */
async function report(o: { full?: boolean; out?: string }, opts: BenchOptions, results: JobResult[], started: number, workers: number | string): Promise<void> {
  const stamp = new Date(started).toISOString().replace(/[:.]/g, "-");
  const outDir = resolve(o.out ?? join("results", stamp));
  const meta = {
    mode: o.full ? "full" : "quick",
    tasks: opts.tasks,
    arms: opts.arms,
    seeds: opts.seeds,
    dModel: opts.dModel,
    train: opts.train,
    // the stream recipe per task (write decay, deployment gate threshold, observation-norm gate input, decay and threshold band in training)
    recipe: { writeDecay: opts.writeDecay, gateThreshold: opts.gateThreshold, gateNorm: opts.gateNorm, trainWriteDecay: opts.trainWriteDecay, trainGateBand: opts.trainGateBand },
    backend: opts.backend,
    workers,
    wallSeconds: (Date.now() - started) / 1000,
    node: process.version,
    date: new Date().toISOString(),
  };
  const files = await writeReport(outDir, results, meta);
  const agg = aggregate(results, meta);
  for (const [task, t] of Object.entries(agg.tasks)) console.log("\n" + taskTable(task, t));
  console.log(`\nwall time ${meta.wallSeconds.toFixed(0)} s; wrote:\n${files.map((f) => "  " + f).join("\n")}`);
}

/** `aura bench --queue`: enqueue the plan on BullMQ, wait with one progress bar, then report as a local run. */
async function queuedBench(o: { full?: boolean; out?: string; queue: string; attempts: number; backoff: number; poll: number }, opts: BenchOptions, store: JobStore): Promise<void> {
  const { planJobs, keyJobs } = await import("../bench/run.js");
  const { runQueued, collect } = await import("../bench/queue.js");
  const { fmtDuration } = await import("../bench/store.js");
  const keyed = keyJobs(planJobs(opts));
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    { format: "bench (queue) |{bar}| {value}/{total} done | {failed} failed | {running} running | ETA {eta_text}", hideCursor: true, noTTYOutput: true, notTTYSchedule: 10000 },
    cliProgress.Presets.shades_classic,
  );
  let first: { t: number; done: number } | null = null;
  bar.start(keyed.length, 0, { failed: 0, running: 0, eta_text: "unknown" });
  try {
    await runQueued(keyed, store, {
      url: o.queue,
      settings: { attempts: o.attempts, backoffMs: o.backoff },
      pollMs: o.poll,
      log: (m) => console.error(m),
      onProgress(p) {
        const now = Date.now();
        first ??= { t: now, done: p.done };
        const rate = (p.done - first.done) / Math.max(1e-3, (now - first.t) / 1000);
        bar.update(p.done, { failed: p.failed, running: p.running, eta_text: rate > 0 ? fmtDuration((p.total - p.done) / rate) : "unknown" });
      },
    });
  } finally {
    bar.stop();
  }
  const results = withDerived((await collect(keyed, store)).map((s) => s.result));
  await report(o, opts, results, started, `queue ${o.queue.replace(/\/\/[^@/]*@/, "//")}`);
}

program
  .command("worker")
  .description("run `aura bench --queue` and `aura sim / sim-stream --queue` jobs from Redis (BullMQ) until SIGINT/SIGTERM; start one per machine (docs/distributed.md)")
  .requiredOption("--queue <url>", "Redis of the sweep, e.g. redis://host:6379/0")
  .option("--concurrency <n>", "jobs at once, each in its own child process (training uses one core per job)", intArg("concurrency"), 1)
  .option("--lock-duration <ms>", "a job's lock, renewed every half of it while the job runs; a dead worker's job is retried once it expires", intArg("lock-duration"), 60000)
  .option("--stalled-interval <ms>", "how often this worker looks for jobs whose worker died", intArg("stalled-interval"), 30000)
  .option("--store <dir>", "also write each result into this store folder (a shared file system); Redis always gets it")
  .option("--pusht-path <path>", "Push-T zarr store on this machine (default: the coordinator's path)")
  .option("--robot-dir <path>", "sim jobs (aura sim --queue): the Menagerie franka_emika_panda directory on this machine (default: the coordinator's path)")
  .action(async (o) => {
    const { runWorker } = await import("../bench/queue.js");
    await runWorker({
      url: o.queue,
      concurrency: o.concurrency,
      lockDurationMs: o.lockDuration,
      stalledIntervalMs: o.stalledInterval,
      store: o.store ? resolve(o.store) : null,
      pushtPath: o.pushtPath ? resolve(o.pushtPath) : null,
      robotDir: o.robotDir ? resolve(o.robotDir) : null,
      log: (m) => console.log(`${new Date().toISOString()} ${m}`),
    });
  });

program
  .command("bench-speed")
  .description("timing benchmark: training step per arm (WASM vs TS reference vs tfjs-wasm), batch-1 step() of aura vs kv-cache, and the roofline (SIMD peak, bandwidth, per-op GFLOP/s)")
  .option("--quick", "fewer repetitions", false)
  .option("--out <file>", "also write the tables as markdown to this file")
  .option("--json <file>", "also write every figure as JSON to this file (peakGflops, trainStep, tfjsStepMs, dataParallel, stepEngineUs, onnxruntimeUs, roofline, ...)")
  .action(async (o) => {
    const { runSpeedBench } = await import("../bench/speed.js");
    await runSpeedBench({ quick: o.quick, out: o.out, json: o.json });
  });

program
  .command("bench-ab")
  .description("the training step of this build against another build of aura-mem, interleaved step by step in one process (so both see the same machine load); ratios with 95% CIs over rounds")
  .requiredOption("--against <dir>", "root of the other aura-mem package, built (its dist/ and build/aura.wasm), e.g. a git worktree's packages/aura-mem")
  .option("--arms <list>", "arms to compare", listArg, ["aura", "always-write", "gru", "kv-cache"])
  .option("--steps <n>", "interleaved steps per build per round", intArg("steps"), 20)
  .option("--rounds <n>", "rounds (the order of the builds alternates)", intArg("rounds"), 3)
  .option("--json <file>", "also write the figures as JSON")
  .action(async (o) => {
    const { runStepAb } = await import("../bench/speed_ab.js");
    await runStepAb({ against: o.against, arms: o.arms, steps: o.steps, rounds: o.rounds, json: o.json });
  });

program
  .command("train")
  .description("train an arm on a benchmark task or on your own features (--data) and write a checkpoint")
  .option("--task <name>", `benchmark task (${taskNames.join(", ")})`)
  .option("--data <file>", "dataset safetensors: z [E,T,dModel], action [E,T,dAction] or label [E,T], optional mask [E,T] (docs/data-format.md)")
  .addOption(new Option("--arm <name>", "arm to train").choices([...ARMS]).default("aura"))
  .option("--out <path>", "checkpoint path (writes <path>.safetensors and <path>.json)", "checkpoints/aura")
  .option("--steps <n>", "Adam steps", intArg("steps"), DEFAULT_TRAIN.steps)
  .option("--batch <n>", "episodes per batch", intArg("batch"), DEFAULT_TRAIN.batchSize)
  .option("--lr <x>", `Adam learning rate (default: the task's stream recipe, ${STREAM_LR} on ess-easy / ess-hard; ${DEFAULT_TRAIN.lr} elsewhere)`, numArg("lr"))
  .option("--lambda-ib <x>", "action-IB weight (0 = off)", numArg("lambda-ib"), DEFAULT_TRAIN.lambdaIB)
  .option("--lambda-w <x>", "write-sparsity weight (0 = off)", numArg("lambda-w"), DEFAULT_TRAIN.lambdaW)
  .option("--target-rate <x>", "target write rate of the sparsity hinge", numArg("target-rate"), DEFAULT_TRAIN.targetWriteRate)
  .option("--lambda-u <x>", "action-utility weight (0 = off; docs/method.md)", numArg("lambda-u"), DEFAULT_TRAIN.lambdaU)
  .option("--stream-windows <n>", "carried-state training: windows of the task horizon per non-resetting stream (1 = fresh episodes; ess tasks)", intArg("stream-windows"), DEFAULT_TRAIN.streamWindows)
  .option("--stochastic-gate", "sample the hard gate in training, g ~ Bernoulli(p) (straight-through)", DEFAULT_TRAIN.stochasticGate)
  .option("--no-gate-surprise", "the write gate reads the observation only (not the surprise e, |e|)")
  .option("--gate-norm", "the write gate also reads the observation norm ||z|| (default: on for ess-easy / ess-hard, the stream recipe; off otherwise; docs/method.md)")
  .option("--no-gate-norm", "the write gate does not read ||z||")
  .option("--write-decay <x>", "write decay alpha of the memory: M <- alpha M + beta k e^T where the gate writes (default: 0.8 for ess-easy / ess-hard, the stream recipe; 1 = none otherwise; docs/method.md)", numArg("write-decay"))
  .option("--gate-threshold <p>", `write threshold on p the trained gate runs with (stored in the checkpoint); it is trained at 0.5, or in a band on ess tasks (default: the stream recipe, ${RECIPE_THRESHOLDS}; 0.5 otherwise; docs/method.md)`, numArg("gate-threshold"))
  .option("--train-write-decay <x>", "write decay alpha in training (default: 0.5 for ess-easy, the stream recipe; otherwise the one the model runs with, --write-decay; 1 = train without it; docs/method.md)", numArg("train-write-decay"))
  .option("--train-gate-band <lo,hi|none>", "train the gate at a threshold drawn per step from [lo, hi] instead of 0.5 (default: 0.3,0.9 for ess-easy / ess-hard, the stream recipe; none otherwise; docs/method.md)", bandArg("train-gate-band"))
  .option("--write-rate <x>", "write budget of random / periodic / recon-gate arms (writes per step)", numArg("write-rate"), 0.1)
  .option("--val-fraction <x>", "validation split of --data (by episode)", numArg("val-fraction"), 0.2)
  .option("--patience <n>", "early stopping: validations without improvement (0 = off)", intArg("patience"), 5)
  .option("--eval-every <n>", "validate every n steps", intArg("eval-every"), DEFAULT_TRAIN.evalEvery)
  .option("--seed <n>", "seed", intArg("seed"), 0)
  .option("--dmodel <n>", "feature width for synthetic tasks", intArg("dmodel"), 64)
  .option("--pusht-path <path>", "Push-T zarr store (default: ../shared/data/pusht_cchi_v7_replay.zarr if present, else the copy `aura data fetch pusht` made)")
  .addOption(new Option("--backend <name>", "op backend").choices(["auto", "wasm", "ts"]).default("auto"))
  .action(async (o) => {
    await trainCommand({ ...o, trainGateBand: bandValue(o.trainGateBand) });
  });

program
  .command("eval")
  .description("evaluate a checkpoint on a benchmark task (test split) or a dataset")
  .requiredOption("--checkpoint <path>", "checkpoint written by `aura train`")
  .option("--task <name>", "benchmark task")
  .option("--data <file>", "dataset safetensors")
  .option("--seed <n>", "task seed", intArg("seed"), 0)
  .option("--pusht-path <path>", "Push-T zarr store (default: ../shared/data/pusht_cchi_v7_replay.zarr if present, else the copy `aura data fetch pusht` made)")
  .option("--horizon <n>", "ess: episode length N to evaluate at (default: the task's own; up to 1,048,576)", intArg("horizon"))
  .addOption(new Option("--stream <kind>", "ess: events per episode at a longer horizon: fixed (4-6) or density (scale with N)").choices(["fixed", "density"]).default("fixed"))
  .option("--episodes <n>", "test episodes (generated lazily, one batch at a time; default 512)", intArg("episodes"))
  .option("--json", "print the metrics as one JSON object", false)
  .addOption(new Option("--backend <name>", "op backend").choices(["auto", "wasm", "ts"]).default("auto"))
  .action(async (o) => {
    await evalCommand(o);
  });

program
  .command("info")
  .description("parameter count and memory bytes of a configuration, vs a KV-cache")
  .option("--dmodel <n>", "backbone width", intArg("dmodel"), 4096)
  .option("--dkey <n>", "d_k", intArg("dkey"), 32)
  .option("--dval <n>", "d_v", intArg("dval"), 32)
  .option("--daction <n>", "action dimension", intArg("daction"), 7)
  .option("--horizon <n>", "steps for the KV-cache comparison", intArg("horizon"), 100000)
  .action((o) => infoCommand(o));

registerEdgeCommands(program);
registerSimCommands(program);
registerPlotCommands(program);
registerOnnxCommands(program);
registerSoakCommands(program);
registerDataCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof AuraError) {
    console.error(`aura: ${err.name}: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
