/**
 * Where the Panda and the Push-T store are found. Order: an explicit path (--robot-dir, --pusht-path)
 * as given; else `../shared/...` relative to the working directory (the layout this project has always
 * used, and what CI provides); else the copy `aura data fetch` put in the data directory
 * ({@link defaultDataDir}).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The data sets `aura data fetch` knows. */
export const DATASETS = ["panda", "pusht"] as const;
export type DatasetName = (typeof DATASETS)[number];
export function isDataset(n: string): n is DatasetName {
  return (DATASETS as readonly string[]).includes(n);
}

/** Where each data set lies inside a data directory (the same layout as `../shared`). */
export const DATASET_DEST: Record<DatasetName, string> = {
  panda: "models/franka_emika_panda",
  pusht: "data/pusht_cchi_v7_replay.zarr",
};

/** The shared locations, relative to the working directory (as before `aura data fetch` existed). */
export const SHARED_PATH: Record<DatasetName, string> = {
  panda: "../shared/models/franka_emika_panda",
  pusht: "../shared/data/pusht_cchi_v7_replay.zarr",
};

/** The file whose presence says a data set is there. */
const MARKER: Record<DatasetName, string> = { panda: "panda.xml", pusht: ".zgroup" };

/**
 * The per-user data directory: `$AURA_DATA_DIR` if set, else `$XDG_CACHE_HOME/aura-mem/data`, else
 * `~/.cache/aura-mem/data` (everything in it can be downloaded again).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = env["AURA_DATA_DIR"];
  if (own) return resolve(own);
  const xdg = env["XDG_CACHE_HOME"];
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "aura-mem", "data");
}

/** Where a data set is: the path, and which rule found it. */
export interface Located {
  path: string;
  /** `option`: given explicitly; `shared`: ../shared; `fetched`: the data directory; `missing`: none of them (path = the shared location). */
  source: "option" | "shared" | "fetched" | "missing";
}

/** Locate a data set; see the file comment for the order. Paths returned are absolute. */
export function locateData(
  name: DatasetName,
  explicit?: string,
  o: { cwd?: string; dataDir?: string } = {},
): Located {
  const cwd = o.cwd ?? process.cwd();
  if (explicit !== undefined) return { path: resolve(cwd, explicit), source: "option" };
  const shared = resolve(cwd, SHARED_PATH[name]);
  if (existsSync(join(shared, MARKER[name]))) return { path: shared, source: "shared" };
  const fetched = join(o.dataDir ?? defaultDataDir(), ...DATASET_DEST[name].split("/"));
  if (existsSync(join(fetched, MARKER[name]))) return { path: fetched, source: "fetched" };
  return { path: shared, source: "missing" };
}

/** The places looked at, for error messages: "../shared/... (resolved) or <data dir>/... (aura data fetch <name>)". */
export function whereLooked(name: DatasetName, cwd = process.cwd()): string {
  const fetched = join(defaultDataDir(), ...DATASET_DEST[name].split("/"));
  return `looked in ${resolve(cwd, SHARED_PATH[name])} and ${fetched}; \`aura data fetch ${name}\` downloads it`;
}

/** Default robot directory of the sim (the Menagerie Franka Panda). */
export function defaultRobotDir(): string {
  return locateData("panda").path;
}

/** Default Push-T store of the pusht task. */
export function defaultPushtPath(): string {
  return locateData("pusht").path;
}
