/**
 * `aura bench --queue redis://host:port/db` and `aura worker`: the benchmark plan as BullMQ jobs on
 * Redis, run by any number of workers on any number of machines (docs/distributed.md).
 *
 * - A job's id is its store key (src/bench/store.ts); its payload is small (the JobSpec, the key, the
 *   code version, the key it depends on); its result is written by the worker, before the job
 *   completes, into the Redis hash {@link RESULTS_HASH} (key -> stored-job JSON, kept by AOF) and, when
 *   the worker has a `--store`, into that folder. The coordinator copies finished results into its own
 *   store and aggregates results.json / summary.md from it, exactly as a local run does.
 * - Budget-matched jobs (random, periodic, recon-gate) need AURA's measured write rate: each AURA job is
 *   the child of a BullMQ flow whose parent, in {@link RELEASE_QUEUE}, runs when AURA has completed and
 *   adds its budget-matched jobs; those read the rate from AURA's result in Redis. Everything lives in
 *   Redis, so the sweep goes on while the coordinator is down, and a coordinator that starts again
 *   (`--resume`) reattaches: it only adds what is neither done nor queued.
 * - Workers run jobs in sandboxed child processes (training is CPU-bound; the worker's own event loop
 *   stays free to renew the job lock), with attempts and exponential backoff; a job whose worker dies
 *   loses its lock after `lockDuration` and is retried by another worker.
 */
import { hostname } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FlowProducer, Queue, Worker, UnrecoverableError, type Job, type JobsOptions } from "bullmq";
import { ConfigError } from "aura-mem/errors";
import { isArm } from "aura-mem/model/model";
import { isTaskName } from "../tasks/index.js";
import type { JobSpec } from "./jobs.js";
import { BUDGET_MATCHED } from "./run.js";
import { codeVersion, jobKey, keyFields, parseStored, type JobStore, type KeyedJob, type StoredJob } from "./store.js";
import { checkRedisConfig, connect, DEFAULT_QUEUE_SETTINGS, otherErrors, type QueueSettings } from "./redis.js";
import { SIM_QUEUE, simProcessorPath } from "../sim/queue.js";

/** The BullMQ queue of training jobs. */
export const QUEUE_NAME = "aura-bench";
/** The queue of flow parents that release budget-matched jobs once their AURA job has completed. */
export const RELEASE_QUEUE = "aura-bench-release";
/** Redis hash: job key -> stored-job JSON (the same envelope as a store file). */
export const RESULTS_HASH = "aura-bench:results";
/** Format of a queued job's data. */
export const QUEUE_JOB_FORMAT = 1;

/** Data of a training job (small: options in, the result goes to {@link RESULTS_HASH}). */
export interface TrainJobData {
  v: typeof QUEUE_JOB_FORMAT;
  kind: "train";
  key: string;
  codeVersion: string;
  /** The job; for budget-matched arms writeRate is null and read from the result of `dependsOn`. */
  job: JobSpec;
  dependsOn: string | null;
}

/** Data of a release job (a flow parent): the budget-matched jobs to add once AURA `auraKey` completed. */
export interface ReleaseJobData {
  v: typeof QUEUE_JOB_FORMAT;
  kind: "release";
  auraKey: string;
  jobs: TrainJobData[];
  settings: QueueSettings;
}

function trainData(k: KeyedJob, version: string): TrainJobData {
  return { v: QUEUE_JOB_FORMAT, kind: "train", key: k.key, codeVersion: version, job: { ...k.job, writeRate: null }, dependsOn: k.dependsOn };
}

function jobOpts(key: string, s: QueueSettings): JobsOptions {
  return { jobId: key, attempts: s.attempts, backoff: { type: "exponential", delay: s.backoffMs }, removeOnComplete: true, removeOnFail: false };
}

function label(j: JobSpec): string {
  return `${j.arm}${j.variant !== "default" ? ":" + j.variant : ""} ${j.task}${j.horizon ? "@" + j.horizon : ""} s${j.seed}`;
}

/**
 * Validate a queued job's data and check that it belongs to this code version: a malformed job, one
 * whose key does not hash its options, or one planned with other code fails for good (no retries), with
 * a message that says why.
 */
export function checkTrainJob(data: unknown, jobId: string | undefined, version: string): TrainJobData {
  const bad = (why: string): never => {
    throw new UnrecoverableError(`malformed job ${jobId ?? "?"}: ${why} (not an aura bench job of format ${QUEUE_JOB_FORMAT}; it was failed, the worker goes on)`);
  };
  if (typeof data !== "object" || data === null) bad("its data is not an object");
  const d = data as Partial<TrainJobData>;
  if (d.v !== QUEUE_JOB_FORMAT || d.kind !== "train") bad(`its data has v = ${JSON.stringify(d.v)}, kind = ${JSON.stringify(d.kind)}`);
  if (typeof d.key !== "string" || !/^[0-9a-f]{32}$/.test(d.key)) bad("it has no 32-hex-digit key");
  if (typeof d.codeVersion !== "string") bad("it has no code version");
  const j = d.job as JobSpec | undefined;
  if (!j || typeof j !== "object") bad("it has no job");
  if (!isTaskName(j!.task)) bad(`unknown task ${JSON.stringify(j!.task)}`);
  if (!isArm(j!.arm)) bad(`unknown arm ${JSON.stringify(j!.arm)}`);
  if (!Number.isInteger(j!.seed) || typeof j!.train !== "object" || j!.train === null) bad("its job lacks a seed or training options");
  if (d.dependsOn !== null && (typeof d.dependsOn !== "string" || !BUDGET_MATCHED.includes(j!.arm))) bad("dependsOn must be null, or an AURA key for a budget-matched arm");
  if (d.codeVersion !== version) {
    throw new UnrecoverableError(
      `job ${d.key} (${label(j!)}) was planned with code version ${d.codeVersion}, this worker runs ${version}: refused. ` +
        "Bring this machine to the coordinator's commit (git checkout, npm ci, npm run build) and restart the worker; `aura bench --resume` retries the job.",
    );
  }
  const key = jobKey(keyFields(j!, d.dependsOn ?? null, version));
  if (key !== d.key) bad(`its key ${d.key} is not the hash of its options (${key})`);
  return d as TrainJobData;
}

/** The compiled sandboxed processor (a child process per running job slot). */
function processorPath(): string {
  const js = fileURLToPath(new URL("./queue_processor.js", import.meta.url));
  if (!existsSync(js)) throw new ConfigError(`${js} not found: aura worker runs from the compiled harness (npm run build)`);
  return js;
}

/** Options of `aura worker`. */
export interface WorkerOptions {
  url: string;
  concurrency: number;
  /** ms a job's lock lasts without renewal (renewed every half of it while the job runs). */
  lockDurationMs: number;
  /** ms between checks for jobs whose worker died. */
  stalledIntervalMs: number;
  /** Also write each result into this store folder (a shared file system), besides Redis. */
  store: string | null;
  /** The Push-T zarr store on this machine (null: the path the coordinator planned with). */
  pushtPath: string | null;
  /** The Menagerie Panda on this machine, for sim jobs (null: the path the coordinator planned with). */
  robotDir: string | null;
  log(line: string): void;
}

/**
 * Run jobs until SIGINT/SIGTERM (then finish the running ones and stop). Returns when closed.
 */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const version = codeVersion();
  const processor = processorPath();
  // the sandboxed children read these
  process.env["AURA_QUEUE_URL"] = o.url;
  if (o.store) process.env["AURA_WORKER_STORE"] = o.store;
  else delete process.env["AURA_WORKER_STORE"];
  if (o.pushtPath) process.env["AURA_PUSHT_PATH"] = o.pushtPath;
  else delete process.env["AURA_PUSHT_PATH"];
  if (o.robotDir) process.env["AURA_ROBOT_DIR"] = o.robotDir;
  else delete process.env["AURA_ROBOT_DIR"];
  const simVersion = codeVersion("sim");
  const simProcessor = simProcessorPath();
  const conn = connect(o.url, o.log);
  await checkRedisConfig(conn, (m) => o.log(`warning: ${m}`));
  const queue = new Queue(QUEUE_NAME, { connection: conn });
  const slots = {
    connection: conn,
    concurrency: o.concurrency,
    useWorkerThreads: false,
    lockDuration: o.lockDurationMs,
    stalledInterval: o.stalledIntervalMs,
    // a job whose worker died twice is failed (visible), not retried for ever
    maxStalledCount: 2,
  };
  const worker = new Worker(QUEUE_NAME, processor, slots);
  // closed-loop jobs (aura sim --queue, src/sim/queue.ts): the same slots' worth of child processes; a machine
  // usually serves one kind of run at a time, and a worker given both runs up to 2 x concurrency jobs
  const sim = new Worker(SIM_QUEUE, simProcessor, slots);
  // flow parents: add the budget-matched jobs of an AURA job that completed (cheap: in this process)
  const release = new Worker<ReleaseJobData>(
    RELEASE_QUEUE,
    async (job) => {
      const d = job.data;
      if (d?.v !== QUEUE_JOB_FORMAT || d.kind !== "release" || !Array.isArray(d.jobs)) throw new UnrecoverableError(`malformed release job ${job.id}`);
      await queue.addBulk(d.jobs.map((t) => ({ name: "train", data: t, opts: jobOpts(t.key, d.settings ?? DEFAULT_QUEUE_SETTINGS) })));
      o.log(`released ${d.jobs.length} budget-matched job(s) of AURA ${d.auraKey}`);
      return { released: d.jobs.length };
    },
    { connection: conn, concurrency: 1, lockDuration: 30000 },
  );
  const tag = (job: Job | undefined): string => {
    const d = job?.data as Partial<TrainJobData> | undefined;
    return d?.job && typeof d.job === "object" ? `${job!.id} (${label(d.job)})` : String(job?.id);
  };
  worker.on("active", (job) => o.log(`start ${tag(job)} attempt ${job.attemptsMade + 1}`));
  worker.on("completed", (job, rv: { skipped?: boolean; seconds?: number } | undefined) =>
    o.log(rv?.skipped ? `already done ${tag(job)}` : `done ${tag(job)} in ${(rv?.seconds ?? 0).toFixed(1)} s`),
  );
  worker.on("failed", (job, err) => o.log(`failed ${tag(job)} attempt ${job?.attemptsMade ?? "?"}: ${err.message}`));
  worker.on("stalled", (id) => o.log(`stalled ${id}: its worker stopped renewing the lock; it goes back to the queue`));
  worker.on("error", otherErrors("worker", o.log));
  const simTag = (job: Job | undefined): string => `${job?.id ?? "?"} (${String((job?.data as { label?: unknown } | undefined)?.label ?? "?")})`;
  sim.on("active", (job) => o.log(`start sim ${simTag(job)} attempt ${job.attemptsMade + 1}`));
  sim.on("completed", (job, rv: { skipped?: boolean; seconds?: number } | undefined) =>
    o.log(rv?.skipped ? `already done sim ${simTag(job)}` : `done sim ${simTag(job)} in ${(rv?.seconds ?? 0).toFixed(1)} s`),
  );
  sim.on("failed", (job, err) => o.log(`failed sim ${simTag(job)} attempt ${job?.attemptsMade ?? "?"}: ${err.message}`));
  sim.on("stalled", (id) => o.log(`stalled sim ${id}: its worker stopped renewing the lock; it goes back to the queue`));
  sim.on("error", otherErrors("sim worker", o.log));
  release.on("error", otherErrors("release worker", o.log));
  queue.on("error", otherErrors("queue", o.log));
  o.log(`aura worker ${hostname()} pid ${process.pid}: code version ${version} (sim ${simVersion}), concurrency ${o.concurrency}, lock ${o.lockDurationMs} ms, queues ${QUEUE_NAME}, ${SIM_QUEUE}`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      o.log(`${sig}: finishing the running jobs, then stopping (send it again to stop now)`);
      process.once(sig as NodeJS.Signals, () => process.exit(130));
      void Promise.all([worker.close(), release.close(), sim.close()])
        .then(() => queue.close())
        .then(() => conn.quit())
        .finally(resolve);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}

/** Progress of a queued sweep. */
export interface SweepProgress {
  done: number;
  failed: number;
  running: number;
  total: number;
}

/** Options of the coordinator. */
export interface CoordinatorOptions {
  url: string;
  settings: QueueSettings;
  /** Poll interval (ms). */
  pollMs: number;
  onProgress?(p: SweepProgress): void;
  log(line: string): void;
}

const LIVE = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/**
 * Enqueue every job of the plan that is neither done (in `store` or in Redis) nor queued, wait until
 * all are done, and copy their results into `store`. Idempotent: run it again (`--resume`) after a
 * crash and it reattaches; jobs that failed for good are retried, their attempts reset. Throws, naming each failed
 * job and its error, when jobs failed and nothing else can run.
 */
export async function runQueued(keyed: readonly KeyedJob[], store: JobStore, o: CoordinatorOptions): Promise<void> {
  const version = keyed[0]?.fields.codeVersion ?? codeVersion();
  const conn = connect(o.url, o.log);
  const queue = new Queue(QUEUE_NAME, { connection: conn });
  const flows = new FlowProducer({ connection: conn });
  queue.on("error", otherErrors("queue", o.log));
  flows.on("error", otherErrors("flow producer", o.log));
  try {
    await checkRedisConfig(conn, (m) => o.log(`warning: ${m}`));
    const byKey = new Map(keyed.map((k) => [k.key, k]));
    const done = new Set<string>();
    for (const k of keyed) if (store.has(k.key)) done.add(k.key);
    // dependents of each AURA job
    const dependents = new Map<string, KeyedJob[]>();
    for (const k of keyed) if (k.dependsOn) dependents.set(k.dependsOn, [...(dependents.get(k.dependsOn) ?? []), k]);

    /** Copy results that Redis has and the store has not; returns the keys now done. */
    const pull = async (): Promise<void> => {
      const inRedis = new Set(await conn.hkeys(RESULTS_HASH));
      for (const k of keyed) {
        if (done.has(k.key) || !inRedis.has(k.key)) continue;
        const text = await conn.hget(RESULTS_HASH, k.key);
        if (text === null) continue;
        await store.put(parseStored(text, k.key, `Redis ${RESULTS_HASH}[${k.key}]`));
        done.add(k.key);
      }
    };
    /** Add a job that is neither done nor in the queue (false: it waits for its AURA job). */
    const add = async (k: KeyedJob): Promise<boolean> => {
      if (k.dependsOn && !done.has(k.dependsOn)) return false; // its AURA job's flow (or this function, once AURA is done) adds it
      const waiting = (dependents.get(k.key) ?? []).filter((d) => !done.has(d.key));
      if (waiting.length) {
        await flows.add({
          name: "release",
          queueName: RELEASE_QUEUE,
          data: { v: QUEUE_JOB_FORMAT, kind: "release", auraKey: k.key, jobs: waiting.map((d) => trainData(d, version)), settings: o.settings } satisfies ReleaseJobData,
          opts: { jobId: `release-${k.key}`, removeOnComplete: true, removeOnFail: false, attempts: o.settings.attempts, backoff: { type: "exponential", delay: o.settings.backoffMs } },
          children: [{ name: "train", queueName: QUEUE_NAME, data: trainData(k, version), opts: jobOpts(k.key, o.settings) }],
        });
      } else {
        await queue.add("train", trainData(k, version), jobOpts(k.key, o.settings));
      }
      return true;
    };
    const states = async (): Promise<Map<string, string>> => {
      const open = keyed.filter((k) => !done.has(k.key));
      const st = await Promise.all(open.map((k) => queue.getJobState(k.key)));
      return new Map(open.map((k, i) => [k.key, st[i]!]));
    };

    await pull();
    let retried = 0;
    let added = 0;
    for (const [key, state] of await states()) {
      if (state === "failed") {
        const job = await queue.getJob(key);
        if (job) {
          await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
          retried++;
        }
      } else if (!LIVE.has(state) && (await add(byKey.get(key)!))) added++;
    }
    o.log(`plan of ${keyed.length} jobs: ${done.size} done, ${added} enqueued now, ${retried} failed before and retried; code version ${version}`);

    // wait: pull results, re-add what got lost (or became ready), report progress
    const failures = new Map<string, string>();
    for (;;) {
      const st = await states();
      await pull();
      let running = 0;
      let live = 0;
      failures.clear();
      for (const [key, state] of st) {
        if (done.has(key)) continue;
        if (state === "active") running++;
        if (LIVE.has(state)) live++;
        else if (state === "failed") {
          const job = await queue.getJob(key);
          failures.set(key, job?.failedReason ?? "failed");
        } else {
          const k = byKey.get(key)!;
          if (k.dependsOn && !done.has(k.dependsOn)) {
            // waits for its AURA job: live while that one is
            if (LIVE.has(st.get(k.dependsOn) ?? "unknown") || !failures.has(k.dependsOn)) live++;
          } else {
            await add(k); // completed but its result not seen yet, or lost: the worker skips it if done
            live++;
          }
        }
      }
      o.onProgress?.({ done: done.size, failed: failures.size, running, total: keyed.length });
      if (done.size === keyed.length) break;
      if (live === 0 && failures.size > 0) {
        const lines = [...failures].map(([key, why]) => `  ${key} (${label(byKey.get(key)!.job)}): ${why}`);
        throw new ConfigError(`${failures.size} job(s) failed after every attempt; fix the cause and run again with --resume:\n${lines.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  } finally {
    await flows.close();
    await queue.close();
    await conn.quit().catch(() => undefined);
  }
}

/** Results of a finished plan from the store, in plan order, each with its plan id. */
export async function collect(keyed: readonly KeyedJob[], store: JobStore): Promise<StoredJob[]> {
  const out: StoredJob[] = [];
  for (const k of keyed) {
    const s = await store.get(k.key);
    if (!s) throw new ConfigError(`job ${k.key} (${label(k.job)}) has no result in ${store.dir}`);
    out.push({ ...s, result: { ...s.result, id: k.job.id } });
  }
  return out;
}
