/** `aura sim`: the closed-loop MuJoCo panel (registered by src/cli/main.ts). */
import { Option, type Command } from "commander";
import { intArg, numArg, listArg } from "./args.js";
import cliProgress from "cli-progress";
import { dirname, join, resolve } from "node:path";
import { mkdir, writeFile } from "node:fs/promises";
import { SIM_TASKS, STREAM_TASK, TASK_INFO } from "../sim/env.js";
import { SIM_ARMS } from "../sim/jobs.js";
import { EVAL_SEED_BASE } from "../sim/demos.js";
import { SimPool, type SimRunner } from "../sim/pool.js";
import { STREAM_POLICIES, isStreamPolicy, summariseStream, type StreamEpisode, type StreamPolicy } from "../sim/stream.js";
import { checkStreamPanelOptions, defaultStreamPanelOptions, runStreamPanel, streamPanelRecipe, streamPanelTable, summariseStreamPanel, type StreamPanelOptions } from "../sim/stream_panel.js";
import { ConfigError } from "aura-mem/errors";
import type { StreamTrace } from "../sim/stream_trace.js";
import { DEFAULT_LAMBDA_W, defaultSimOptions, checkSimOptions, runSim, type SimOptions } from "../sim/panel.js";
import { simResults, simTable, aisLines, simClaims, writeSimReport } from "../sim/report.js";
import { ARM_ROLES, type ArmRole } from "../sim/goal.js";


/**
 * The trace with the options of the run that produced it (`source`): what the demo cites. Leaves out
 * the robot directory (a machine path) and the worker count (no effect on the result).
 */
export function withTraceSource(trace: StreamTrace, o: StreamPanelOptions): StreamTrace {
  const { robotDir: _r, workers: _w, trace: _t, ...rest } = o;
  return { ...trace, source: { command: "aura sim-stream", ...rest, traceArm: trace.arm, traceEvery: trace.every } };
}

/** A Redis URL without its credentials (for logs and reports). */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

/** The QueueSimPool of `--queue <url>` (src/sim/queue.ts), or null without it; the caller closes it. */
async function queueRunner(url: string | undefined, log: (m: string) => void): Promise<SimRunner | null> {
  if (url === undefined) return null;
  const { QueueSimPool } = await import("../sim/queue.js");
  log(`jobs go to ${redactUrl(url)} (start \`aura worker --queue ${redactUrl(url)}\` on each machine)`);
  return new QueueSimPool(url, { log });
}

/** AURA's gate options of both closed-loop commands (`prefix`: "--arms: " where they apply to learned arms only). */
function auraGateOptions(prefix: string): Option[] {
  return [
    new Option("--lambda-w <x>", `${prefix}AURA's write-sparsity weight (default: ${DEFAULT_LAMBDA_W.residual} in the residual role, ${DEFAULT_LAMBDA_W.goal} in the goal role; docs/sim.md)`).argParser(numArg("lambda-w")),
    new Option("--stream-recipe", `${prefix}AURA trained and run with the ess benchmarks' stream recipe: write decay 0.8, the gate's observation-norm input, training thresholds drawn from [0.3, 0.9], deployment threshold 0.7 (docs/method.md "Horizon"; the learning rate stays the sim's)`).default(false),
    new Option("--no-stream-recipe", `${prefix}AURA without the stream recipe (the default, except in \`aura sim-stream --all\`)`),
    new Option("--gate-threshold <p>", `${prefix}AURA's deployment write threshold on its gate's p (default: 0.5; 0.7 with --stream-recipe; 0.5 in \`aura sim-stream --all\`)`).argParser(numArg("gate-threshold")),
  ];
}

/** The PipelineOptions fields of {@link auraGateOptions}' parsed values, lambda_w defaulting by arm role. */
function auraGateChoice(o: { lambdaW?: number; streamRecipe?: boolean; gateThreshold?: number | null }, role: ArmRole): Pick<SimOptions, "lambdaW" | "streamRecipe" | "gateThreshold"> {
  return { lambdaW: o.lambdaW ?? DEFAULT_LAMBDA_W[role], streamRecipe: o.streamRecipe === true, gateThreshold: o.gateThreshold ?? null };
}

/** Add this module's commands to the CLI. */
export function registerSimCommands(program: Command): void {
  const d = defaultSimOptions();
  const simCommand = program
    .command("sim")
    .description(
      "closed loop in MuJoCo: a frozen behaviour-cloned Franka Panda policy plus each memory arm on memory-dependent pick-and-place; writes <out>/{summary.md,results.json,*.svg,traces/}",
    )
    .option("--all", "the whole panel: every task and arm (overrides --tasks / --arms), >= 60 episodes per arm", false)
    .option("--tasks <list>", `comma-separated tasks (${SIM_TASKS.join(", ")})`, listArg)
    .option("--arms <list>", `comma-separated arms (${SIM_ARMS.join(", ")})`, listArg)
    .option("--episodes <n>", "closed-loop evaluation episodes per arm and task", intArg("episodes", 1), d.episodes)
    .option("--demos <n>", "expert demonstrations per task", intArg("demos", 4), d.demos)
    .option("--base-epochs <n>", "behaviour-cloning epochs of the base policy", intArg("base-epochs", 1), d.baseEpochs)
    .option("--arm-steps <n>", "Adam steps per memory arm", intArg("arm-steps", 1), d.armSteps)
    .option("--dagger <n>", "DAgger rounds of the base policy (its own rollouts on fresh episodes labelled by the expert, added to the demonstrations)", intArg("dagger"), d.daggerRounds)
    .option("--arm-dagger <n>", "DAgger rounds of every memory arm (the base plus the arm rolled out, labelled by the expert, added to its training set)", intArg("arm-dagger"), d.armDaggerRounds)
    .option("--goal-decoys <n>", "--arm-role goal: decoy episodes in every arm's training set (the base acting on a wrong goal after each cue, labelled with the cued one: the motion stops naming the goal; docs/sim.md)", intArg("goal-decoys"), d.goalDecoys)
    .addOption(
      new Option("--arm-role <role>", "how the memory arms act: residual (added to the action of a base that never sees the goal) or goal (they recall the cued goal and supply it to a base cloned with the cue visible; docs/sim.md)")
        .choices([...ARM_ROLES])
        .default(d.armRole),
    )
    .option("--seed <n>", "training seed", intArg("seed"), d.seed)
    .option("--robot-dir <path>", "MuJoCo Menagerie franka_emika_panda directory", d.robotDir)
    .option("--workers <n>", "worker threads (0 = in-process)", intArg("workers"), d.workers)
    .option("--queue <url>", "run the jobs on `aura worker`s through this Redis (BullMQ), e.g. redis://host:6379/0, instead of local worker threads (docs/distributed.md)")
    .option("--no-traces", "do not write the per-arm episode traces")
    .option("--out <dir>", "output directory (default results/sim-<timestamp>)")
    .action(async (o) => {
      const opts: SimOptions = {
        ...d,
        tasks: o.all ? [...SIM_TASKS] : ((o.tasks ?? d.tasks) as SimOptions["tasks"]),
        arms: o.all ? [...SIM_ARMS] : ((o.arms ?? d.arms) as SimOptions["arms"]),
        episodes: o.all ? Math.max(60, o.episodes) : o.episodes,
        demos: o.demos,
        baseEpochs: o.baseEpochs,
        armSteps: o.armSteps,
        ...auraGateChoice(o, o.armRole as ArmRole),
        seed: o.seed,
        robotDir: resolve(o.robotDir),
        workers: o.workers,
        traces: o.traces !== false,
        daggerRounds: o.dagger,
        armDaggerRounds: o.armDagger,
        goalDecoys: o.goalDecoys,
        armRole: o.armRole as ArmRole,
      };
      checkSimOptions(opts); // clear errors before anything starts
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const outDir = resolve(o.out ?? join("results", `sim-${stamp}`));
      const started = Date.now();
      const multibar = new cliProgress.MultiBar(
        { clearOnComplete: false, hideCursor: true, format: "{label} |{bar}| {value}/{total} {info}", noTTYOutput: true, notTTYSchedule: 10000 },
        cliProgress.Presets.shades_classic,
      );
      const bars = new Map<string, cliProgress.SingleBar>();
      const runner = await queueRunner(o.queue, (m) => multibar.log(m + "\n"));
      const run = await runSim(opts, {
        ...(runner ? { runner } : {}),
        onStage(task, stage, done, total, info) {
          const key = `${task} ${stage}`;
          let bar = bars.get(key);
          if (!bar) bars.set(key, (bar = multibar.create(total, 0, { label: key.padEnd(20), info: "" })));
          bar.setTotal(total);
          bar.update(done, { info: `${info ?? ""} ${((Date.now() - started) / 1000).toFixed(0)} s` });
        },
        onWarn(m) {
          multibar.log(m + "\n");
        },
      }).finally(() => runner?.close());
      multibar.stop();
      const meta = {
        mode: "sim",
        tasks: opts.tasks,
        arms: opts.arms,
        episodes: opts.episodes,
        demos: opts.demos,
        baseHidden: opts.baseHidden,
        baseEpochs: opts.baseEpochs,
        armSteps: opts.armSteps,
        armBatch: opts.armBatch,
        lambdaW: opts.lambdaW,
        streamRecipe: opts.streamRecipe,
        gateThreshold: opts.gateThreshold,
        daggerRounds: opts.daggerRounds,
        armDaggerRounds: opts.armDaggerRounds,
        goalDecoys: opts.goalDecoys,
        armRole: opts.armRole,
        seed: opts.seed,
        workers: opts.workers,
        ...(o.queue ? { queue: redactUrl(o.queue) } : {}),
        robotDir: opts.robotDir,
        wallSeconds: (Date.now() - started) / 1000,
        node: process.version,
        date: new Date().toISOString(),
      };
      const files = await writeSimReport(outDir, run, meta);
      const res = simResults(run, meta);
      for (const [task, t] of Object.entries(res.tasks)) {
        console.log("\n" + simTable(task, t));
        if (t.ais) console.log("\n" + aisLines(task, t.ais).join("\n"));
      }
      console.log("\n" + simClaims(res).map((l) => `- ${l}`).join("\n"));
      console.log(`\nwall time ${meta.wallSeconds.toFixed(0)} s; wrote ${files.length} files to ${outDir}`);
    });

  for (const opt of auraGateOptions("")) simCommand.addOption(opt);

  const streamCommand = program
    .command("sim-stream")
    .description(
      "cue-stream, the continual task: one episode of --horizon control steps (default 12,000 = 10 min at 20 Hz, no reset), a new cue every 20-40 s, scored per cue; runs the scripted reference policies (expert: privileged goal; cue-memory: reads the cue and remembers it; guess: a uniformly drawn goal per cue, the chance level)",
    )
    .option("--policies <list>", `comma-separated scripted policies (${STREAM_POLICIES.join(", ")}; default: all, or none when --arms is given)`, listArg)
    .option("--arms <list>", `learned arms on a frozen behaviour-cloned base (${SIM_ARMS.join(", ")}): demonstrations, base, training and closed-loop episodes`, listArg)
    .option("--all", "the measured learned panel (docs/sim.md; streamPanelRecipe): every arm (overrides --arms) in the goal role, 20 episodes, 120 demonstration streams, --base-idle-keep 0.1, --dagger 1, --stream-windows 3, 600 Adam steps per arm, AURA at the goal role's lambda_w with the stream recipe at write threshold 0.5; an option given explicitly wins", false)
    .option("--episodes <n>", "episodes per policy / arm (evaluation seeds from --first-seed on)", intArg("episodes", 1), 20)
    .option("--horizon <n>", "control steps per episode (>= 500)", intArg("horizon", 500), TASK_INFO[STREAM_TASK].horizon)
    .option("--first-seed <n>", "first episode seed (with --arms: the learned arms' and the goal oracle's too; held-out seeds for them lie in [1,000,000, 1,999,999] or >= 3,000,000, disjoint from the training seeds)", intArg("first-seed", 0), EVAL_SEED_BASE)
    .option("--robot-dir <path>", "MuJoCo Menagerie franka_emika_panda directory", d.robotDir)
    .option("--workers <n>", "worker threads (0 = in-process)", intArg("workers"), d.workers)
    .option("--queue <url>", "run the episodes (and with --arms every stage's jobs) on `aura worker`s through this Redis (BullMQ), e.g. redis://host:6379/0, instead of local worker threads (docs/distributed.md)")
    .option("--demos <n>", "--arms: demonstration streams", intArg("demos", 4), defaultStreamPanelOptions().demos)
    .option("--demo-horizon <n>", "--arms: control steps per demonstration stream", intArg("demo-horizon", 500), defaultStreamPanelOptions().demoHorizon)
    .option("--window <n>", "--arms: training window of the memory arms (steps)", intArg("window", 1), defaultStreamPanelOptions().window)
    .option("--stream-windows <n>", "--arms: carried-state training over this many consecutive windows of a demonstration (fast-weight and RNN arms; 1 = fresh memory per window)", intArg("stream-windows", 1), defaultStreamPanelOptions().streamWindows)
    .option("--base-epochs <n>", "--arms: behaviour-cloning epochs of the base policy", intArg("base-epochs", 1), defaultStreamPanelOptions().baseEpochs)
    .option("--dagger <n>", "--arms: DAgger rounds of the base policy (its own rollouts labelled by the expert, added to the demonstrations)", intArg("dagger"), defaultStreamPanelOptions().daggerRounds)
    .option("--arm-dagger <n>", "--arms: DAgger rounds of every memory arm (the base plus the arm rolled out on fresh streams, labelled by the expert, added to its training set)", intArg("arm-dagger"), defaultStreamPanelOptions().armDaggerRounds)
    .option("--goal-decoys <n>", "--arms --arm-role goal: decoy streams in every arm's training set (the base acting on a wrong goal after each cue, labelled with the cued one; docs/sim.md)", intArg("goal-decoys"), defaultStreamPanelOptions().goalDecoys)
    .option("--base-idle-keep <x>", "--arms: fraction of idle demonstration steps (holding still between cues) the base policy is cloned on", numArg("base-idle-keep"), defaultStreamPanelOptions().baseIdleKeep)
    .option("--arm-steps <n>", "--arms: Adam steps per memory arm", intArg("arm-steps", 1), defaultStreamPanelOptions().armSteps)
    .option("--arm-batch <n>", "--arms: windows per Adam step", intArg("arm-batch", 1), defaultStreamPanelOptions().armBatch)
    .option("--seed <n>", "--arms: training seed", intArg("seed"), 0)
    .option("--cue-visible", "--arms, diagnostic: the cue stays visible until the next one, in the demonstrations and the episodes (tells the motor skill from the memory)", false)
    .addOption(
      new Option("--arm-role <role>", "--arms: how the memory arms act: residual (added to the action of a base that never sees the goal) or goal (they recall the current cue's goal and supply it to a base cloned with the cue visible; docs/sim.md)")
        .choices([...ARM_ROLES])
        .default("residual"),
    )
    .option("--json <file>", "also write the summaries and every cue's outcome as JSON")
    .option("--trace <file>", "--arms: write a downsampled trace of one evaluation episode (--trace-episode) of --trace-arm (format aura-sim-trace v2: the Panda, the gate's writes, every cue's goal and outcome, the state bytes vs a KV-cache's; the web demo replays it)")
    .option("--trace-every <k>", "--trace: keep every k-th control step (cue steps and every write are kept whatever k)", intArg("trace-every", 1), 4)
    .option("--trace-arm <arm>", "--trace: the arm to trace (default aura when among --arms, else the first arm)")
    .option("--trace-episode <i>", "--trace: which evaluation episode to trace (0-based: seed --first-seed + i)", intArg("trace-episode", 0), 0)
    .action(async (o, cmd: Command) => {
      // --all lays the measured panel's recipe over the defaults; an option given on the command line wins
      const recipe = o.all === true ? streamPanelRecipe() : null;
      type Recipe = ReturnType<typeof streamPanelRecipe>;
      const pick = <K extends keyof Recipe>(name: string, cli: Recipe[K], key: K): Recipe[K] => (recipe && cmd.getOptionValueSource(name) !== "cli" ? recipe[key] : cli);
      const arms = (recipe ? recipe.arms : o.arms) as string[] | undefined;
      if ((o.trace !== undefined || o.traceArm !== undefined || o.traceEpisode !== 0) && !arms) throw new ConfigError("--trace, --trace-arm and --trace-episode need --arms (the trace is of a learned arm's evaluation episode)");
      const policies = (o.policies ?? (arms ? [] : [...STREAM_POLICIES])) as string[];
      for (const p of policies) if (!isStreamPolicy(p)) throw new ConfigError(`unknown policy "${p}" (valid: ${STREAM_POLICIES.join(", ")})`);
      const robotDir = resolve(o.robotDir);
      const seeds = Array.from({ length: o.episodes }, (_, i) => o.firstSeed + i);
      let panelOpts: StreamPanelOptions | null = null;
      if (arms) {
        const armRole = pick("armRole", o.armRole as ArmRole, "armRole");
        panelOpts = {
          ...defaultStreamPanelOptions(),
          arms: arms as StreamPanelOptions["arms"],
          episodes: pick("episodes", o.episodes, "episodes"),
          horizon: o.horizon,
          firstEvalSeed: o.firstSeed,
          demos: pick("demos", o.demos, "demos"),
          demoHorizon: o.demoHorizon,
          window: o.window,
          streamWindows: pick("streamWindows", o.streamWindows, "streamWindows"),
          baseEpochs: o.baseEpochs,
          armSteps: pick("armSteps", o.armSteps, "armSteps"),
          armBatch: o.armBatch,
          // --all trains AURA with the stream recipe and runs it at 0.5 unless either is given
          ...auraGateChoice({ lambdaW: o.lambdaW, streamRecipe: pick("streamRecipe", o.streamRecipe === true, "streamRecipe"), gateThreshold: pick("gateThreshold", o.gateThreshold ?? null, "gateThreshold") }, armRole),
          seed: o.seed,
          robotDir,
          workers: o.workers,
          cueAlwaysOn: o.cueVisible === true,
          armRole,
          baseIdleKeep: pick("baseIdleKeep", o.baseIdleKeep, "baseIdleKeep"),
          daggerRounds: pick("dagger", o.dagger, "daggerRounds"),
          armDaggerRounds: o.armDagger,
          goalDecoys: o.goalDecoys,
        };
        if (o.trace !== undefined) {
          const traceArm = (o.traceArm ?? (arms.includes("aura") ? "aura" : arms[0])) as StreamPanelOptions["arms"][number];
          panelOpts.trace = { arm: traceArm, every: o.traceEvery, episode: o.traceEpisode };
        } else if (o.traceArm !== undefined) throw new ConfigError("--trace-arm needs --trace <file>");
        else if (o.traceEpisode !== 0) throw new ConfigError("--trace-episode needs --trace <file>");
        checkStreamPanelOptions(panelOpts); // clear errors before anything starts
      }
      const started = Date.now();
      const runner = await queueRunner(o.queue, (m) => console.error(m));
      // the queue's connection is closed however the run ends (a local pool closes after the scripted part)
      try {
        const pool: SimRunner = runner ?? new SimPool(o.workers);
        const byPolicy = new Map<StreamPolicy, StreamEpisode[]>();
        try {
          // one job per (policy, episode): episodes are independent, the pool keeps every worker busy
          await Promise.all(
            (policies as StreamPolicy[]).flatMap((policy) =>
              seeds.map(async (seed) => {
                const r = await pool.submit<StreamEpisode[]>({ kind: "stream", task: STREAM_TASK, policy, seeds: [seed], horizon: o.horizon, robotDir });
                const list = byPolicy.get(policy) ?? [];
                list.push(...r);
                byPolicy.set(policy, list);
              }),
            ),
          );
        } finally {
          if (!runner) await pool.close();
        }
        const refSeconds = (Date.now() - started) / 1000;
        const f3 = (x: number): string => x.toFixed(3);
        console.log(`cue-stream: ${o.episodes} episodes x ${o.horizon.toLocaleString("en-US")} control steps (${(o.horizon / 20 / 60).toFixed(1)} min), seeds ${seeds[0]}-${seeds[seeds.length - 1]}\n`);
        const summaries: Record<string, unknown> = {};
        if (policies.length) {
          console.log("| policy | cues | cues / episode | success per cue [Wilson 95%, clustered by episode] | design effect | cued cube placed | s / episode |");
          console.log("|---|---|---|---|---|---|---|");
        }
        for (const policy of policies as StreamPolicy[]) {
          const eps = byPolicy.get(policy)!.sort((a, b) => a.seed - b.seed);
          const r = summariseStream(eps);
          summaries[policy] = { ...r, episodeOutcomes: eps };
          console.log(
            `| ${policy} | ${r.cues} | ${r.cuesPerEpisode.toFixed(1)} | ${f3(r.success.p)} [${f3(r.success.ci95[0])}, ${f3(r.success.ci95[1])}] | ${r.success.designEffect.toFixed(2)} | ${f3(r.placed.p)} | ${r.secondsPerEpisode.toFixed(1)} |`,
          );
        }
        let learned: Record<string, unknown> | null = null;
        if (panelOpts) {
          const t1 = Date.now();
          const run = await runStreamPanel(panelOpts, {
            ...(runner ? { runner } : {}),
            onStage: (stage, done, total, info) => {
              if (done === total || stage === "train" || stage === "base" || stage === "eval") console.error(`[${((Date.now() - t1) / 1000).toFixed(0)} s] ${stage} ${done}/${total}${info ? " " + info : ""}`);
            },
            onWarn: (m) => console.error(m),
          });
          const rows = summariseStreamPanel(run);
          console.log(`\nlearned arms${panelOpts.cueAlwaysOn ? " (diagnostic: the cue stays visible)" : ""}${panelOpts.armRole === "goal" ? " (goal role: the arms supply the goal to a base cloned with the cue visible)" : ""}: ${run.demos.n} demonstration streams (${run.demos.steps.toLocaleString("en-US")} steps), base val MSE ${run.base.valMse.toFixed(4)}, windows of ${panelOpts.window} steps\n`);
          console.log(streamPanelTable(rows));
          learned = { options: { ...run.options }, demos: run.demos, base: run.base, evalSeeds: run.evalSeeds, wallSeconds: run.wallSeconds, summary: rows, arms: run.arms, goalOracle: run.goalOracle };
          if (o.trace !== undefined) {
            if (!run.trace) throw new ConfigError("the run returned no trace");
            await mkdir(dirname(resolve(o.trace)), { recursive: true });
            await writeFile(o.trace, JSON.stringify(withTraceSource(run.trace, run.options)) + "\n");
            const t = run.trace;
            const ok = t.cues.filter((c) => c.success === true).length;
            console.log(`wrote ${o.trace}: ${t.arm}, seed ${t.seed}, ${t.steps.length.toLocaleString("en-US")} of ${t.horizon.toLocaleString("en-US")} steps kept (every ${t.every} + cue steps), ${t.steps[t.steps.length - 1]!.writes.toLocaleString("en-US")} writes, ${ok} / ${t.cues.length} cues succeeded`);
          }
        }
        const wallSeconds = (Date.now() - started) / 1000;
        console.log(`\nwall time ${wallSeconds.toFixed(0)} s${policies.length && panelOpts ? ` (scripted policies ${refSeconds.toFixed(0)} s)` : ""}`);
        if (o.json) {
          await mkdir(dirname(resolve(o.json)), { recursive: true });
          await writeFile(o.json, JSON.stringify({ task: STREAM_TASK, horizon: o.horizon, seeds, workers: o.workers, ...(o.queue ? { queue: redactUrl(o.queue) } : {}), wallSeconds, policies: summaries, learned }, null, 2) + "\n");
          console.log(`wrote ${o.json}`);
        }
      } finally {
        await runner?.close();
      }
    });
  for (const opt of auraGateOptions("--arms: ")) streamCommand.addOption(opt);
}
