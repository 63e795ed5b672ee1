/**
 * `aura` subcommands for the edge module (registered by src/cli/main.ts):
 *   aura wear          projected flash wear of persisting the memory: aura vs always-write vs kv-cache
 *   aura bench-crash   SIGKILL a child persisting through the MemoryStore, check every recovery
 */
import type { Command } from "commander";
import { intArg, numArg } from "./args.js";
import { resolve } from "node:path";
import { ConfigError } from "aura-mem/errors";
import { locateData } from "../data/paths.js";


/** Add this module's commands to the CLI. */
export function registerEdgeCommands(program: Command): void {
  // ---------------------------------------------------------------------------------------------
  // aura wear
  // ---------------------------------------------------------------------------------------------
  program
    .command("wear")
    .description(
      "projected flash wear of persisting the memory state: aura (a record when the gate writes) vs always-write " +
        "(a record every step) vs kv-cache (the whole growing cache every step); formula in docs/edge.md",
    )
    .option("--rate <hz>", "control rate in steps per second", numArg("rate"), 20)
    .option("--hours <h>", "horizon of the projection in hours", numArg("hours"), 1000)
    .option("--capacity-gb <gb>", "flash capacity in GB (1e9 bytes)", numArg("capacity-gb"), 8)
    .option("--pe-cycles <n>", "rated program/erase cycles per block (MLC ~3000, TLC ~1000, SLC ~50000+)", numArg("pe-cycles", 1), 3000)
    .option("--page-bytes <n>", "flash page (program unit) in bytes", intArg("page-bytes", 1), 4096)
    .option("--write-amplification <x>", "write amplification of file system + FTL (>= 1)", numArg("write-amplification", 1), 1)
    .option("--write-rate <x>", "aura writes per step (default 0.12: trained gate on ess-hard, quick bench)", numArg("write-rate"))
    .option("--checkpoint <path>", "measure the aura write rate of this checkpoint on --task (and take its dKey/dVal)")
    .option("--task <name>", "task for --checkpoint (test split)", "ess-hard")
    .option("--seed <n>", "task seed for --checkpoint", intArg("seed"), 0)
    .option("--pusht-path <path>", "Push-T zarr store (for --task pusht; default: ../shared/data/pusht_cchi_v7_replay.zarr if present, else the copy `aura data fetch pusht` made)")
    .option("--dkey <n>", "d_k of the memory", intArg("dkey", 1), 32)
    .option("--dval <n>", "d_v of the memory", intArg("dval", 1), 32)
    .option("--batch <n>", "streams B", intArg("batch", 1), 1)
    .option("--json", "print the projection as JSON", false)
    .action(async (o) => {
      const { wearProjection, wearTable } = await import("aura-mem/persist/wear");
      let writeRate: number | undefined = o.writeRate;
      let dKey: number = o.dkey;
      let dVal: number = o.dval;
      let measured = "";
      if (o.checkpoint) {
        if (o.writeRate !== undefined) throw new ConfigError("give --write-rate or --checkpoint, not both");
        const { AuraMemLayer } = await import("aura-mem/layer");
        const { createTask } = await import("../tasks/index.js");
        const { evaluate } = await import("aura-mem/train/evaluate");
        const layer = await AuraMemLayer.load(resolve(o.checkpoint));
        const cfg = layer.config;
        const task = await createTask(o.task, { seed: o.seed, dModel: cfg.dModel, pushtPath: locateData("pusht", o.pushtPath).path });
        if (task.dAction !== cfg.dAction) throw new ConfigError(`task ${task.name} has dAction ${task.dAction}, the checkpoint ${cfg.dAction}`);
        const r = evaluate(layer.model, task.evalSet("test", 64), { metric: task.metric, dAction: task.dAction, metricScale: task.metricScale });
        writeRate = r.writeRate;
        dKey = cfg.dKey;
        dVal = cfg.dVal;
        measured = `measured write rate of ${o.checkpoint} (${layer.arm}) on ${task.name} test: ${r.writeRate.toFixed(4)} writes/step (${r.writesPerEpisode.toFixed(1)} writes / ${r.stepsPerEpisode.toFixed(0)} steps per episode)`;
      }
      const p = wearProjection({
        rateHz: o.rate,
        hours: o.hours,
        capacityBytes: o.capacityGb * 1e9,
        peCycles: o.peCycles,
        pageBytes: o.pageBytes,
        writeAmplification: o.writeAmplification,
        writeRate,
        dKey,
        dVal,
        batch: o.batch,
      });
      if (o.json) {
        console.log(JSON.stringify(p, (_k, v) => (v === Infinity ? "Infinity" : v), 2));
        return;
      }
      if (measured) console.log(measured + "\n");
      console.log(wearTable(p));
    });

  // ---------------------------------------------------------------------------------------------
  // aura bench-crash
  // ---------------------------------------------------------------------------------------------
  program
    .command("bench-crash")
    .description(
      "crash harnesses of the MemoryStore (docs/edge.md): 'kill' SIGKILLs a child that persists AURA memory at random " +
        "moments; 'power' cuts the power of a simulated disk with a volatile cache (unsynced sectors kept, lost or torn, " +
        "out of order) at random points of the write protocol; after each, the newest synced record must be recovered bit-exactly",
    )
    .option("--mode <mode>", "kill | power | all", "all")
    .option("--kills <n>", "SIGKILLs to deliver (kill mode)", intArg("kills", 1), 1000)
    .option("--cuts <n>", "simulated power cuts (power mode)", intArg("cuts", 1), 10_000)
    .option("--seed <n>", "seed of the kill times / cut points, layer and observation stream", intArg("seed"), 0)
    .option("--max-delay-ms <ms>", "kill delay after the child is ready: uniform in [1, max] ms", numArg("max-delay-ms", 1), 100)
    .option("--sector-bytes <n>", "sector size: of the sector-emulation kills (every other kill; 0 = off) and of the simulated disk", intArg("sector-bytes"), 512)
    .option("--lying-sync", "power mode's negative control: a disk whose syncs make nothing durable (must report losses)", false)
    .option("--jobs <n>", "independent lanes (store + child) run concurrently (kill mode)", intArg("jobs", 1), 2)
    .option("--dir <dir>", "directory for the store (default: a temporary directory, removed afterwards)")
    .option("--json", "print the figures as one JSON object on stdout (power mode: cuts, recovered, losses, tornSkipped, ...; all: { kill, power })", false)
    .option("--out <file>", "also write the SIGKILL figures to this file (.json: JSON, else markdown)")
    .action(async (o) => {
      if (!["kill", "power", "all"].includes(o.mode)) throw new ConfigError(`--mode must be kill, power or all, got ${o.mode}`);
      if (o.mode === "power" && o.sectorBytes < 1) throw new ConfigError("--sector-bytes must be >= 1 in power mode");
      const out: Record<string, unknown> = {};
      let losses = 0;
      if (o.mode !== "power") {
        const { runCrashBench, crashReport, writeCrashReport } = await import("../bench/crash.js");
        const every = Math.max(1, Math.round(o.kills / 10));
        const r = await runCrashBench({
          kills: o.kills,
          seed: o.seed,
          maxDelayMs: o.maxDelayMs,
          sectorBytes: o.sectorBytes,
          jobs: o.jobs,
          dir: o.dir ? resolve(o.dir) : undefined,
          onKill(i, s) {
            if ((i + 1) % every === 0 || i + 1 === o.kills) {
              console.error(`bench-crash: ${i + 1}/${o.kills} kills, ${s.recoveries} recoveries, ${s.tornSlots} torn slots, ${s.losses} losses`);
            }
          },
        });
        const info = { seed: o.seed, sectorBytes: o.sectorBytes, jobs: o.jobs };
        if (!o.json) console.log("\n" + crashReport(r, info));
        if (o.out) {
          writeCrashReport(resolve(o.out), r, info);
          console.error(`wrote ${resolve(o.out)}`);
        }
        out.kill = r;
        losses += r.losses;
      }
      if (o.mode !== "kill") {
        const { runPowerBench, powerReport } = await import("../bench/power.js");
        const every = Math.max(1, Math.round(o.cuts / 10));
        const r = runPowerBench({
          cuts: o.cuts,
          seed: o.seed,
          sectorBytes: Math.max(1, o.sectorBytes),
          lyingSync: o.lyingSync,
          onCut(i, s) {
            if ((i + 1) % every === 0 || i + 1 === o.cuts) {
              console.error(`bench-crash power: ${i + 1}/${o.cuts} cuts, ${s.recovered} recovered, ${s.tornSkipped} torn slots skipped, ${s.losses} losses`);
            }
          },
        });
        if (!o.json) console.log("\n" + powerReport(r));
        out.power = r;
        losses += r.losses;
      }
      if (o.json) console.log(JSON.stringify(o.mode === "all" ? out : out[o.mode]));
      // the negative control is expected to lose records: its exit status says whether it did
      if (o.lyingSync ? losses === 0 : losses > 0) process.exitCode = 1;
    });
}
