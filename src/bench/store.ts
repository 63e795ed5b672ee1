/**
 * The content-addressed job store of `aura bench`: every job of a plan has a stable key (a hash of
 * everything its result depends on: task, horizon, arm, variant, seed, training options, the AURA job
 * it takes its write budget from, and the code version), and its result is one JSON file
 * `<store>/<key>.json`, written atomically (temp file, fsync, rename, fsync of the folder). A rerun or a
 * resumed sweep, local or through the queue (src/bench/queue.ts), skips every job whose file exists;
 * changing an option or the code makes new keys, never a silent mix. results.json and summary.md are
 * aggregated from the store.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FormatError } from "aura-mem/errors";
import { writeFileAtomic as writeLibraryFileAtomic } from "aura-mem/io/safetensors";
import type { JobResult, JobSpec } from "./jobs.js";

/** Format of a store file. */
export const STORE_FORMAT = 1;

/** One stored result: the key, what it was computed from, and the result. */
export interface StoredJob {
  format: typeof STORE_FORMAT;
  key: string;
  /** The fields the key hashes (see {@link keyFields}). */
  job: KeyFields;
  result: JobResult;
  /** Wall seconds of the job (training + evaluation), for ETAs. */
  seconds: number;
  /** Where it ran ("<host> pid <pid>" or "local"). */
  ranBy: string;
  at: string;
}

/** What a job's result depends on: the key is the SHA-256 of these fields as canonical JSON. */
export interface KeyFields {
  task: string;
  horizon: number | null;
  trainWindow: number | null;
  arm: string;
  variant: string;
  seed: number;
  dModel: number;
  backend: string;
  train: JobSpec["train"];
  writeDecay: number;
  /** Deployment threshold of the learned gate (MemoryConfig.gateThreshold): a model run at another threshold is another result. */
  gateThreshold: number;
  /** Whether AURA's gate reads the observation norm (MemoryConfig.gateNorm). */
  gateNorm: boolean;
  panel: JobSpec["panel"];
  /** Eval-only variants computed by the job (JobSpec.derived). */
  derived: JobSpec["derived"];
  /** Key of the AURA job whose measured write rate the job is held to (budget-matched arms), else null. */
  dependsOn: string | null;
  /** {@link codeVersion} of the code that computes the result. */
  codeVersion: string;
}

/** JSON with object keys sorted at every level (so equal content hashes equally). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : canonicalJson(x))).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(",")}}`;
}

/** The key fields of a job (pushtPath is where the data lie on this machine, not what they are: not hashed). */
export function keyFields(job: JobSpec, dependsOn: string | null, version: string): KeyFields {
  return {
    task: job.task,
    horizon: job.horizon,
    trainWindow: job.trainWindow,
    arm: job.arm,
    variant: job.variant,
    seed: job.seed,
    dModel: job.dModel,
    backend: job.backend,
    train: job.train,
    writeDecay: job.writeDecay,
    gateThreshold: job.gateThreshold,
    gateNorm: job.gateNorm,
    panel: job.panel,
    derived: job.derived,
    dependsOn,
    codeVersion: version,
  };
}

/** The stable key of a job: 32 hex digits of SHA-256 over its key fields. */
export function jobKey(fields: KeyFields): string {
  return createHash("sha256").update(canonicalJson(fields)).digest("hex").slice(0, 32);
}

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(name)) out.push(p);
  }
  return out;
}

const cachedVersion = new Map<string, string>();

/** What a version covers: a bench job (training, tasks) or a closed-loop sim job (that plus src/sim). */
export type CodeScope = "bench" | "sim";

/**
 * The code version results are computed with: "<aura-mem version>+<hash>", the hash over the built
 * library (its dist/**.js and the WASM kernels build/aura.wasm) and the harness code a job runs (the
 * tasks and src/bench/jobs.ts, as source, so a worker run from dist/ and a test run through tsx agree).
 * Scope "sim" (the closed-loop jobs of src/sim/queue.ts) appends "+sim.<hash>" over src/sim/*.ts.
 * `AURA_CODE_VERSION` overrides it (to test a worker of another version).
 */
export function codeVersion(scope: CodeScope = "bench"): string {
  const forced = process.env["AURA_CODE_VERSION"];
  if (forced) return forced;
  const cached = cachedVersion.get(scope);
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const libPkg = require.resolve("aura-mem/package.json");
  const lib = dirname(libPkg);
  const here = dirname(fileURLToPath(import.meta.url));
  // src/bench (tsx) or dist/src/bench (compiled): the repository root is 2 or 3 folders up
  const root = resolve(here, here.split(/[\\/]/).includes("dist") ? "../../.." : "../..");
  const hash = (files: string[]): string => {
    const h = createHash("sha256");
    for (const f of files) {
      if (!existsSync(f)) throw new FormatError(`code version: ${f} is missing (run npm run build)`);
      const rel = f.startsWith(lib) ? "lib/" + f.slice(lib.length + 1) : f.slice(root.length + 1);
      h.update(rel.replace(/\\/g, "/") + "\0").update(readFileSync(f)).update("\0");
    }
    return h.digest("hex").slice(0, 12);
  };
  let v: string;
  if (scope === "sim") v = `${codeVersion("bench")}+sim.${hash(filesUnder(join(root, "src", "sim"), (n) => n.endsWith(".ts")))}`;
  else {
    const version = (JSON.parse(readFileSync(libPkg, "utf8")) as { version: string }).version;
    v = `${version}+${hash([
      ...filesUnder(join(lib, "dist"), (n) => n.endsWith(".js")),
      join(lib, "build", "aura.wasm"),
      ...filesUnder(join(root, "src", "tasks"), (n) => n.endsWith(".ts")),
      join(root, "src", "bench", "jobs.ts"),
    ])}`;
  }
  cachedVersion.set(scope, v);
  return v;
}

/** Write `text` to `path` atomically, creating its folder first (the library's writeFileAtomic does the rest). */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeLibraryFileAtomic(path, text);
}

/** A folder of `<key>.json` results. */
export class JobStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  has(key: string): boolean {
    return existsSync(this.path(key));
  }

  /** The stored job of `key`, or null if there is none. A file that does not parse or has another key throws. */
  async get(key: string): Promise<StoredJob | null> {
    let text: string;
    try {
      text = await readFile(this.path(key), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
    return parseStored(text, key, this.path(key));
  }

  async put(s: StoredJob): Promise<void> {
    await writeFileAtomic(this.path(s.key), JSON.stringify(s));
  }
}

/** Validate a stored job's text (from a store file or from Redis). */
export function parseStored(text: string, key: string, where: string): StoredJob {
  let s: StoredJob;
  try {
    s = JSON.parse(text) as StoredJob;
  } catch (e) {
    throw new FormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (s?.format !== STORE_FORMAT || s.key !== key || typeof s.result !== "object" || s.result === null) {
    throw new FormatError(`${where}: not a stored result of job ${key} (format ${STORE_FORMAT})`);
  }
  return s;
}

/** A planned job with its key and the key of the job it depends on. */
export interface KeyedJob {
  job: JobSpec;
  key: string;
  dependsOn: string | null;
  fields: KeyFields;
}

/** Done/remaining state of a plan against a store, with an ETA from the stored jobs' wall seconds. */
export interface PlanStatus {
  rows: { k: KeyedJob; done: boolean; seconds: number | null }[];
  done: number;
  total: number;
  /** Estimated seconds of the remaining jobs on `workers` parallel workers; null when nothing is measured yet. */
  etaSeconds: number | null;
}

/**
 * Which jobs of a plan are done. The ETA takes the seconds per training step of the stored jobs (of
 * any plan) of the same task and arm (else the same task, else any), times the remaining jobs' steps,
 * over `workers`.
 */
export async function planStatus(keyed: readonly KeyedJob[], store: JobStore, workers: number): Promise<PlanStatus> {
  const rows: PlanStatus["rows"] = [];
  for (const k of keyed) {
    const s = await store.get(k.key);
    rows.push({ k, done: s !== null, seconds: s?.seconds ?? null });
  }
  // seconds per step of every job in the store (this plan's or earlier ones)
  const measured: { task: string; arm: string; perStep: number }[] = [];
  for (const name of existsSync(store.dir) ? readdirSync(store.dir) : []) {
    if (!/^[0-9a-f]{32}\.json$/.test(name)) continue;
    const s = await store.get(name.slice(0, -5)).catch(() => null);
    if (s && typeof s.seconds === "number") measured.push({ task: s.job.task, arm: s.job.arm, perStep: s.seconds / Math.max(1, s.job.train.steps) });
  }
  const perStep = (f: (m: { task: string; arm: string }) => boolean): number | null => {
    const xs = measured.filter(f).map((m) => m.perStep);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  };
  let eta: number | null = 0;
  for (const r of rows) {
    if (r.done) continue;
    const j = r.k.job;
    const s = perStep((m) => m.task === j.task && m.arm === j.arm) ?? perStep((m) => m.task === j.task) ?? perStep(() => true);
    if (s === null) {
      eta = null;
      break;
    }
    eta += s * j.train.steps;
  }
  const done = rows.filter((r) => r.done).length;
  return { rows, done, total: rows.length, etaSeconds: eta === null ? null : eta / Math.max(1, workers) };
}

/** "1 h 05 min", "3 min 20 s", "12 s". */
export function fmtDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "unknown";
  const t = Math.round(s);
  if (t >= 3600) return `${Math.floor(t / 3600)} h ${String(Math.floor((t % 3600) / 60)).padStart(2, "0")} min`;
  if (t >= 60) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, "0")} s`;
  return `${t} s`;
}
