/**
 * `aura bench-soak` (npm run bench:soak): the 1e6-step control-loop soak of src/bench/soak.ts. RSS is
 * only meaningful after a forced GC, so without --expose-gc the command re-runs itself in a child
 * node process with that flag and a fixed young-generation size (--min/max-semi-space-size=16;
 * --no-respawn to measure in this process anyway). Exit status 1 when a check FAILs (a WARN — the
 * memory poisoned by huge observations — does not). Registered by src/cli/main.ts.
 */
import type { Command } from "commander";
import { intArg, numArg } from "./args.js";
import { Option } from "commander";
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";


/** Add `bench-soak` to the CLI. */
export function registerSoakCommands(program: Command): void {
  program
    .command("bench-soak")
    .description("soak: 1e6 batch-1 step() calls on a seeded event/distractor/noise stream with huge-but-finite values; checks NaN/Inf, ||M|| bounded, constant state bytes, RSS growth < 1 MB; reports steps/s")
    .option("--steps <n>", "step() calls", intArg("steps"), 1_000_000)
    .option("--dmodel <n>", "backbone width of a fresh layer (ignored with --checkpoint)", intArg("dmodel"), 64)
    .option("--checkpoint <path>", "trained checkpoint (written by `aura train`); default a fresh layer")
    .option("--train", "train AURA on ess-hard first (train() defaults, task seed --task-seed) and soak the trained model on that task's endless stream", false)
    .option("--no-gate-norm", "with --train: the gate does not read the observation norm ||z|| (MemoryConfig.gateNorm; on in the stream recipe)")
    .addOption(new Option("--task <name>", "run the stream of this task's embeddings and score the model per window (accuracy at queries, P(write|event), P(write|distractor))").choices(["ess-hard"]))
    .option("--task-seed <n>", "task seed of --task / --train (the seed the checkpoint was trained with; default --seed)", intArg("task-seed"))
    .option("--seed <n>", "stream (and fresh layer) seed", intArg("seed"), 0)
    .option("--warmup <n>", "steps before the RSS baseline and the first huge observation (default 10% of --steps: V8 sizes its heaps in the first ~1e5 steps)", intArg("warmup"))
    .option("--sample-every <n>", "RSS sample interval after warm-up (steps)", intArg("sample-every"), 10_000)
    .option("--huge-every <n>", "mean steps between huge-but-finite observations (0 = none; adversarial: see docs/edge.md)", intArg("huge-every"), 0)
    .option("--huge-max <x>", "largest huge magnitude factor (log-uniform from 1e3; <= 3.4e38)", numArg("huge-max", 0, true), 1e30)
    .addOption(new Option("--backend <name>", "op backend").choices(["auto", "wasm", "ts"]).default("auto"))
    .option("--out <file>", "also write the markdown report to this file")
    .option("--json <file>", "also write the full report as JSON")
    .option("--state-limit <x>", "the layer's state guard (LayerOptions.stateLimit): a memory whose ||M||_F or ||m||_2 exceeds x after a step is reset to zeros (default: none; 100 = STATE_LIMIT)", numArg("state-limit"))
    .option("--force-write", "with --probe: the huge step is written whatever the gate says (does the memory come back at the next event?)", false)
    .option("--probe", "also inject ONE huge observation per magnitude (1e1..1e30) into clean streams and follow 20,000 steps: poisoning, recovery, gate latched shut")
    .option("--no-respawn", "do not re-run under node --expose-gc (RSS then includes uncollected garbage)")
    .action(async (o) => {
      const hasGc = typeof (globalThis as { gc?: unknown }).gc === "function";
      if (!hasGc && o.respawn !== false && process.env["AURA_SOAK_CHILD"] !== "1") {
        // a fixed-size young generation: V8 otherwise grows it once, hundreds of thousands of steps in
        // (a policy step of ~8 MB RSS with the live heap unchanged), which is not a leak
        const flags = ["--expose-gc"];
        if (!process.execArgv.some((a) => a.includes("semi-space"))) flags.push("--min-semi-space-size=16", "--max-semi-space-size=16");
        const r = spawnSync(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], {
          stdio: "inherit",
          env: { ...process.env, AURA_SOAK_CHILD: "1" },
        });
        if (r.error) throw r.error;
        process.exitCode = r.status ?? 1;
        return;
      }
      const { runSoak, soakLayer, soakMarkdown } = await import("../bench/soak.js");
      // one layer for the soak and the probe: a checkpoint, AURA trained with the stream recipe, or a fresh layer
      const made = await soakLayer({
        checkpoint: o.checkpoint ? resolve(o.checkpoint) : undefined,
        train: o.train,
        dModel: o.dmodel,
        seed: o.seed,
        backend: o.backend,
        gateNorm: o.gateNorm,
        task: o.task,
        taskSeed: o.taskSeed,
        stateLimit: o.stateLimit,
      });
      let last = -1;
      const started = Date.now();
      const report = await runSoak({
        steps: o.steps,
        dModel: o.dmodel,
        checkpoint: o.checkpoint ? resolve(o.checkpoint) : undefined,
        seed: o.seed,
        warmup: o.warmup,
        sampleEvery: o.sampleEvery,
        hugeEvery: o.hugeEvery,
        hugeMax: o.hugeMax,
        backend: o.backend,
        layer: made,
        train: o.train,
        task: o.task,
        taskSeed: o.taskSeed,
        onProgress(done, total) {
          const pct = Math.floor((100 * done) / total);
          if (pct >= last + 10) {
            last = pct - (pct % 10);
            const s = (Date.now() - started) / 1000;
            process.stderr.write(`soak ${pct}% (${done.toLocaleString("en-US")} steps, ${s.toFixed(0)} s, ${Math.round(done / s).toLocaleString("en-US")} steps/s)\n`);
          }
        },
      });
      const lines = soakMarkdown(report);
      let probe: unknown = null;
      if (o.probe) {
        const { probeHugeObservations, probeMarkdown } = await import("../bench/soak.js");
        process.stderr.write("probe: one huge observation per magnitude, 3 trials each\n");
        // the probe runs the soak's own layer (trained, loaded or fresh), on the task's stream when there is one
        const rows = await probeHugeObservations({ layer: made, seed: o.seed, backend: o.backend, task: report.task === "ess-hard" ? "ess-hard" : undefined, taskSeed: o.taskSeed, forceWrite: o.forceWrite });
        probe = rows;
        lines.push("", ...probeMarkdown(rows, { source: report.source, forceWrite: o.forceWrite }));
      }
      const text = lines.join("\n");
      console.log(text);
      if (o.out) await writeFile(o.out, text + "\n");
      if (o.json) await writeFile(o.json, JSON.stringify({ ...report, probe }, null, 2) + "\n");
      if (report.verdict.some((v) => v.status === "FAIL")) process.exitCode = 1;
    });
}
