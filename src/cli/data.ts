/** `aura data fetch|where`: get the Panda and the Push-T store on a fresh machine (registered by src/cli/main.ts). */
import type { Command } from "commander";
import { resolve } from "node:path";
import { AuraError } from "aura-mem/errors";
import { intArg } from "./args.js";
import { fetchDataset } from "../data/fetch.js";
import { SPECS } from "../data/specs.js";
import { DATASETS, defaultDataDir, isDataset, locateData } from "../data/paths.js";

/** Add this module's commands to the CLI. */
export function registerDataCommands(program: Command): void {
  const data = program
    .command("data")
    .description("the robot model and data sets: download them (fetch), say where they are found (where); docs/sim.md#data");

  data
    .command("fetch")
    .description(
      "download a data set from its public source, verify its pinned checksums, move it into place atomically: " +
        "panda (MuJoCo Menagerie franka_emika_panda, Apache-2.0), pusht (Push-T replay zarr of Diffusion Policy, MIT)",
    )
    .argument("<name>", `what to fetch (${DATASETS.join(" | ")})`)
    .option("--dir <dir>", "data directory (the data set goes to <dir>/models/... or <dir>/data/...); default $AURA_DATA_DIR, else ~/.cache/aura-mem/data")
    .option("--url <url>", "download from this URL instead (pusht: the zip archive; panda: the base URL of the folder's files)")
    .option("--force", "download again even if a verified copy is there (it is replaced only once the new one verifies)", false)
    .option("--attempts <n>", "tries per request for transient failures", intArg("attempts", 1), 4)
    .action(async (name: string, o) => {
      if (!isDataset(name)) throw new AuraError(`unknown data set "${name}" (valid: ${DATASETS.join(", ")})`);
      const spec = SPECS[name];
      const dataDir = o.dir !== undefined ? resolve(o.dir) : defaultDataDir();
      const r = await fetchDataset(spec, {
        dataDir,
        url: o.url,
        force: o.force,
        attempts: o.attempts,
        log: (l) => console.error(l),
      });
      const what = r.status === "fetched" ? "fetched" : "already present";
      console.log(`${spec.name}: ${what} at ${r.path} (${r.files} files, ${r.bytes} bytes, tree sha256 ${r.treeSha256} verified; ${spec.license})`);
      if (dataDir !== defaultDataDir()) {
        const flag = name === "panda" ? "--robot-dir" : "--pusht-path";
        console.log(`note: ${dataDir} is not the default data directory; set AURA_DATA_DIR=${dataDir} or pass ${flag} ${r.path}`);
      }
      const found = locateData(name);
      if (found.source === "shared" && found.path !== r.path) {
        console.log(`note: ${found.path} exists and is used first by default (pass ${name === "panda" ? "--robot-dir" : "--pusht-path"} to choose)`);
      }
    });

  data
    .command("where")
    .description("where the sim and the bench find each data set by default (an explicit --robot-dir / --pusht-path wins; then ../shared; then the data directory)")
    .argument("[name]", `one data set (${DATASETS.join(" | ")}): print its path only, exit 1 if it is missing`)
    .action((name: string | undefined) => {
      if (name !== undefined) {
        if (!isDataset(name)) throw new AuraError(`unknown data set "${name}" (valid: ${DATASETS.join(", ")})`);
        const l = locateData(name);
        if (l.source === "missing") {
          console.error(`${name}: missing (run \`aura data fetch ${name}\`)`);
          process.exitCode = 1;
          return;
        }
        console.log(l.path);
        return;
      }
      console.log(`data directory: ${defaultDataDir()}`);
      for (const n of DATASETS) {
        const l = locateData(n);
        console.log(l.source === "missing" ? `${n}\tmissing\t(run \`aura data fetch ${n}\`)` : `${n}\t${l.source}\t${l.path}`);
      }
    });
}
