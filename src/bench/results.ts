/**
 * The results.json schema, once: the types `aura bench` (src/bench/report.ts) and `aura sim`
 * (src/sim/report.ts) write, and their reading without Node: validation with messages that name the
 * bad field, the per-task points of the accuracy-vs-writes Pareto plot and the state-bytes series.
 * Read by the browser demo and `aura plot`.
 */
import { FormatError } from "aura-mem/errors";
import type { ArmPoint } from "./plots.js";

/** One arm row of a task (the documented minimum every reader may rely on; extra fields are kept). */
export interface ResultsArm {
  mean: number;
  ci95: [number, number];
  seeds: number;
  writesPerEpisode: number;
  writeReduction: number | null;
  pWriteEvent: number | null;
  pWriteDistractor: number | null;
  stateBytes: number;
  stateBytesAt100k: number;
  params: number;
  [extra: string]: unknown;
}

/** One arm's aggregate on one task as `aura bench` writes it: the minimum plus the per-seed record. */
export interface ArmSummary extends ResultsArm {
  /** always-write writes / this arm's writes (null when the arm never writes or always-write was not run). */
  writeReduction: number | null;
  /** Extra fields (not part of the minimal contract). */
  trainSeconds: number;
  stepsPerEpisode: number;
  /** Metric per seed, aligned with `seedIds`. */
  perSeed: number[];
  seedIds: number[];
  /**
   * Horizon-generalisation panel (ess tasks, arms in the panel): the model trained at the task's horizon
   * T evaluated at longer N, "<N>" -> "fixed" | "density" -> aggregate over seeds. Absent when not run.
   */
  horizons?: Record<string, Partial<Record<StreamKind, HorizonSummary>>>;
}

/** Stream kinds of the horizon panel: events fixed per episode whatever N, or at the task's density. */
export type StreamKind = "fixed" | "density";

/** One (N, stream kind) point of the horizon panel, aggregated over seeds. */
export interface HorizonSummary {
  mean: number;
  ci95: [number, number];
  seeds: number;
  writesPerEpisode: number;
  /** Writes per step (mean over seeds). */
  writeRate: number;
  /** always-write's writes / this arm's writes at the same (N, kind) (null when not comparable). */
  writeReduction: number | null;
  pWriteEvent: number | null;
  pWriteDistractor: number | null;
  /** Metric and writes per episode per seed, aligned with `seedIds`. */
  perSeed: number[];
  writesPerSeed: number[];
  seedIds: number[];
  /** Test episodes per seed. */
  episodes: number;
}

/** One task of results.json. */
export interface ResultsTask<A extends ResultsArm = ResultsArm> {
  metric: "accuracy" | "mse" | "success";
  chance: number | null;
  horizon: number;
  arms: Record<string, A>;
}

/** results.json as read. */
export interface ResultsFile<A extends ResultsArm = ResultsArm> {
  tasks: Record<string, ResultsTask<A>>;
  meta: Record<string, unknown>;
}

/** results.json as `aura bench` writes it. */
export type BenchResults = ResultsFile<ArmSummary>;

const METRICS = ["accuracy", "mse", "success"];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validate parsed results.json content (or its text).
 * @throws FormatError naming the first field that is missing or of the wrong type.
 */
export function parseResults(input: unknown): ResultsFile {
  let data = input;
  if (typeof input === "string") {
    try {
      data = JSON.parse(input);
    } catch (e) {
      throw new FormatError(`results.json is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObj(data)) throw new FormatError("results.json must be an object { tasks, meta }");
  if (!isObj(data["tasks"])) throw new FormatError("results.json: `tasks` must be an object of task name -> { metric, chance, horizon, arms }");
  const tasks = data["tasks"];
  if (Object.keys(tasks).length === 0) throw new FormatError("results.json: `tasks` is empty");
  for (const [name, t] of Object.entries(tasks)) {
    const w = `results.json: tasks["${name}"]`;
    if (!isObj(t)) throw new FormatError(`${w} must be an object`);
    if (!METRICS.includes(t["metric"] as string)) throw new FormatError(`${w}.metric must be one of ${METRICS.join(", ")}, got ${JSON.stringify(t["metric"])}`);
    if (t["chance"] !== null && typeof t["chance"] !== "number") throw new FormatError(`${w}.chance must be a number or null`);
    if (typeof t["horizon"] !== "number" || !(t["horizon"] > 0)) throw new FormatError(`${w}.horizon must be a positive number`);
    if (!isObj(t["arms"]) || Object.keys(t["arms"]).length === 0) throw new FormatError(`${w}.arms must be a non-empty object of arm -> summary`);
    for (const [arm, a] of Object.entries(t["arms"])) {
      const wa = `${w}.arms["${arm}"]`;
      if (!isObj(a)) throw new FormatError(`${wa} must be an object`);
      for (const k of ["mean", "writesPerEpisode", "stateBytes", "stateBytesAt100k", "seeds", "params"]) {
        if (typeof a[k] !== "number" || !Number.isFinite(a[k])) throw new FormatError(`${wa}.${k} must be a finite number, got ${JSON.stringify(a[k])}`);
      }
      const ci = a["ci95"];
      if (!Array.isArray(ci) || ci.length !== 2 || !ci.every((x) => typeof x === "number" && Number.isFinite(x))) {
        throw new FormatError(`${wa}.ci95 must be [lo, hi] finite numbers`);
      }
      for (const k of ["writeReduction", "pWriteEvent", "pWriteDistractor"]) {
        if (a[k] !== undefined && a[k] !== null && typeof a[k] !== "number") throw new FormatError(`${wa}.${k} must be a number or null`);
        if (a[k] === undefined) a[k] = null;
      }
    }
  }
  const meta = isObj(data["meta"]) ? data["meta"] : {};
  return { tasks: tasks as unknown as Record<string, ResultsTask>, meta };
}

/** Pareto points (one per arm, in file order) of one task. */
export function paretoPoints(res: ResultsFile, task: string): ArmPoint[] {
  const t = res.tasks[task];
  if (!t) throw new FormatError(`results.json has no task "${task}" (tasks: ${Object.keys(res.tasks).join(", ")})`);
  return Object.entries(t.arms).map(([arm, a]) => ({
    task,
    arm,
    mean: a.mean,
    ci95: [a.ci95[0], a.ci95[1]] as [number, number],
    writesPerEpisode: a.writesPerEpisode,
    metric: t.metric,
  }));
}

/** File-name-safe form of a task key ("ess-hard@N=256" -> "ess-hard_N_256"). */
export function taskSlug(task: string): string {
  return task.replace(/[^a-zA-Z0-9_-]+/g, "_");
}

/**
 * State bytes vs horizon per arm, from T (the evaluation horizon) to 100,000 steps, derived from what
 * results.json records (bytes at T and at 100,000 steps): an arm whose bytes are equal at both is constant; one whose bytes
 * grow by exactly 100,000 / T is linear in the horizon; anything else is drawn through its two
 * measured points only. Arms with identical curves share one series ("a, b" or "a, b +3 more"). Arms with 0
 * bytes (no memory) cannot sit on a log axis and are returned in `skipped`.
 */
export function bytesSeries(res: ResultsFile, horizons: number[] = [1, 10, 100, 1000, 10000, 100000]): {
  series: { arm: string; members: string[]; horizons: number[]; bytes: number[] }[];
  skipped: string[];
} {
  const seen = new Map<string, { T: number; b0: number; b1: number }>();
  for (const t of Object.values(res.tasks)) {
    for (const [arm, a] of Object.entries(t.arms)) {
      const base = arm.split(":")[0]!;
      if (seen.has(base)) continue;
      seen.set(base, { T: t.horizon, b0: a.stateBytes, b1: a.stateBytesAt100k });
    }
  }
  const series: { arm: string; horizons: number[]; bytes: number[] }[] = [];
  const skipped: string[] = [];
  for (const [arm, { T, b0, b1 }] of seen) {
    if (!(b0 > 0) || !(b1 > 0)) {
      skipped.push(arm);
      continue;
    }
    // only horizons from the evaluation horizon T on: below T nothing was measured (a kv-window holds
    // fewer than W entries there)
    const hs = [T, ...horizons.filter((h) => h > T)];
    if (b0 === b1) series.push({ arm, horizons: hs, bytes: hs.map(() => b0) });
    else if (Math.abs(b1 / b0 - 100000 / T) < 1e-9 * (100000 / T)) series.push({ arm, horizons: hs, bytes: hs.map((h) => (b0 / T) * h) });
    else series.push({ arm, horizons: [T, 100000], bytes: [b0, b1] });
  }
  // arms with identical curves (every fast-weight arm holds the same 4,224 B) share one line
  const groups: { names: string[]; horizons: number[]; bytes: number[] }[] = [];
  for (const s of series) {
    const same = groups.find((m) => m.horizons.join() === s.horizons.join() && m.bytes.join() === s.bytes.join());
    if (same) same.names.push(s.arm);
    else groups.push({ names: [s.arm], horizons: s.horizons, bytes: s.bytes });
  }
  const label = (n: string[]): string => (n.length <= 2 ? n.join(", ") : `${n[0]}, ${n[1]} +${n.length - 2} more`);
  return { series: groups.map((g) => ({ arm: label(g.names), members: g.names, horizons: g.horizons, bytes: g.bytes })), skipped };
}
