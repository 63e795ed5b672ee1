/**
 * Benchmark task registry: `createTask(name, opts)` for "ess-easy", "ess-hard", "mbar", "pusht".
 * See docs/benchmarks.md for the generative process of each task.
 */
import { ConfigError, checkInt } from "aura-mem/errors";
import { DEFAULT_TEST_EPISODES, DEFAULT_VAL_EPISODES, createEssTask, essConfig } from "./ess.js";
import { MBAR_BINDINGS, createMbarTask } from "./mbar.js";
import { createPushtTask } from "./pusht.js";
import type { Task, TaskOptions } from "./types.js";

export * from "./types.js";
export {
  ESS_EASY,
  ESS_HARD,
  DEFAULT_TEST_EPISODES,
  DEFAULT_VAL_EPISODES,
  essConfig,
  essCounts,
  type EssStream,
  essEmbeddings,
  type EssEmbeddings,
  createEssTask,
  type EssConfig,
} from "./ess.js";
export * from "./mbar.js";
export {
  PUSHT_DEFAULT_PATH,
  PUSHT_METRIC_SCALE,
  pushtNormalise,
  pushtDenormalise,
  createPushtTask,
  loadPushtData,
  type PushtTask,
  type PushtData,
} from "./pusht.js";

/** Valid task names. */
export const taskNames = ["ess-easy", "ess-hard", "mbar", "pusht"] as const;
export type TaskName = (typeof taskNames)[number];

/** Default feature dimension of z. */
export const DEFAULT_D_MODEL = 64;

/** True when `name` is a valid task name. */
export function isTaskName(name: string): name is TaskName {
  return (taskNames as readonly string[]).includes(name);
}

/**
 * Create a task. `opts.seed` fixes embeddings, feature maps, eval sets and the pusht split;
 * `opts.horizon` is N for ess (episode length), N bindings for mbar (T = 2N + 4), and the training
 * window for pusht. Throws ConfigError for an unknown name or bad option, ConfigError for a missing
 * pusht dataset, FormatError for a malformed one.
 */
export async function createTask(name: string, opts: TaskOptions): Promise<Task> {
  if (typeof name !== "string" || !isTaskName(name)) {
    throw new ConfigError(`unknown task "${String(name)}"; valid tasks: ${taskNames.join(", ")}`);
  }
  if (opts === null || typeof opts !== "object") throw new ConfigError("createTask: opts must be an object with a seed");
  const seed = checkInt("seed", opts.seed, 0, 0xffffffff);
  const dModel = checkInt("dModel", opts.dModel ?? DEFAULT_D_MODEL, 8, 16384);
  const valEpisodes = checkInt("valEpisodes", opts.valEpisodes ?? DEFAULT_VAL_EPISODES, 1, 1 << 20);
  const testEpisodes = checkInt("testEpisodes", opts.testEpisodes ?? DEFAULT_TEST_EPISODES, 1, 1 << 20);
  switch (name) {
    case "ess-easy":
    case "ess-hard": {
      const horizon = opts.horizon === undefined ? undefined : checkInt(`${name} horizon`, opts.horizon, 16, 1 << 20);
      return createEssTask(essConfig(name, horizon, opts.stream ?? "fixed"), { seed, dModel, valEpisodes, testEpisodes });
    }
    case "mbar": {
      const bindings = opts.horizon === undefined ? MBAR_BINDINGS : opts.horizon;
      return createMbarTask({ seed, dModel, bindings, valEpisodes, testEpisodes });
    }
    case "pusht": {
      if (opts.pushtPath !== undefined && typeof opts.pushtPath !== "string") {
        throw new ConfigError(`pushtPath must be a string, got ${typeof opts.pushtPath}`);
      }
      return createPushtTask({ seed, dModel, window: opts.horizon, path: opts.pushtPath });
    }
  }
}

/** One-line description of a task for the CLI. */
export function describeTask(task: Task): string {
  const head =
    task.kind === "discrete"
      ? `${task.name}: ${task.dAction}-way ${task.metric}, chance ${task.chance?.toFixed(3)}`
      : `${task.name}: ${task.dAction}-d action ${task.metric} (x${task.metricScale} -> ${task.name === "pusht" ? "px^2" : "reported units"})`;
  const kv = Object.entries(task.params)
    .filter(([k]) => k !== "path")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `${head}, T=${task.horizon}, dModel=${task.dModel} | ${kv}`;
}
