/**
 * `aura sim --queue redis://...` / `aura sim-stream --queue ...`: the closed-loop pipeline's jobs (demos,
 * base cloning, DAgger visits, arm training, episodes) as BullMQ jobs on Redis, run by `aura worker` on
 * any number of machines (docs/distributed.md, "The closed-loop panel"). The pipeline itself is the same
 * code as a local run: only the pool that runs its jobs changes ({@link QueueSimPool} for SimPool).
 *
 * - Payloads stay small in the queue: a job's data is its id, the code version and a label; the job
 *   itself (which can hold demonstrations or a policy's weights, megabytes) is a blob in the Redis hash
 *   {@link SIM_BLOBS}, `v8.serialize`d (typed arrays and NaN survive, as between worker threads), keyed by
 *   the job's id: sha256 of the code version and the blob, so one job planned twice is one job.
 * - The worker writes the result (v8-serialized) into {@link SIM_RESULTS} under the job's id before the job
 *   completes; the coordinator polls for it. A result already there is not computed again: a coordinator
 *   that died and is started again with the same options (every job is deterministic in its inputs)
 *   gets its finished jobs back at once. A run that completes deletes its blobs and results.
 * - Jobs run in sandboxed child processes with attempts and exponential backoff, as the bench's do; a
 *   worker of another code version refuses a job (failed for good, with a message saying why).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { deserialize, serialize } from "node:v8";
import { Queue, UnrecoverableError, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { ConfigError, FormatError } from "aura-mem/errors";
import { codeVersion } from "../bench/store.js";
import { checkRedisConfig, connect, DEFAULT_QUEUE_SETTINGS, otherErrors, type QueueSettings } from "../bench/redis.js";
import type { SimJob, SimJobResult } from "./jobs.js";
import type { SimRunner } from "./pool.js";

/** The BullMQ queue of closed-loop jobs. */
export const SIM_QUEUE = "aura-sim";
/** Redis hash: job id -> the v8-serialized SimJob. */
export const SIM_BLOBS = "aura-sim:blobs";
/** Redis hash: job id -> the v8-serialized SimJobResult. */
export const SIM_RESULTS = "aura-sim:results";
/** Format of a queued sim job's data. */
export const SIM_JOB_FORMAT = 1;

/** Data of a queued sim job (small: the job itself is the blob {@link SIM_BLOBS}[id]). */
export interface SimJobData {
  v: typeof SIM_JOB_FORMAT;
  kind: "sim";
  /** sha256 (hex) of the code version and the serialized job. */
  id: string;
  codeVersion: string;
  /** For logs: the job's kind, task, arm and seeds. */
  label: string;
}

/** A job's label for logs: kind, task, arm, seeds. */
export function simJobLabel(job: SimJob): string {
  const seeds = "seeds" in job && Array.isArray(job.seeds) ? job.seeds : [];
  const s = seeds.length === 0 ? "" : seeds.length === 1 ? ` s${seeds[0]}` : ` s${seeds[0]}-${seeds[seeds.length - 1]}`;
  return `${job.kind} ${job.task}${"arm" in job ? " " + job.arm : ""}${"policy" in job ? " " + job.policy : ""}${"oracleGoal" in job && job.oracleGoal ? " (goal oracle)" : ""}${s}`;
}

/** Serialize a job and name it: the blob and its id. */
export function encodeSimJob(job: SimJob, version: string): { id: string; blob: Buffer } {
  const blob = serialize(job);
  return { id: createHash("sha256").update(version).update("\0").update(blob).digest("hex"), blob };
}

/**
 * Validate a queued sim job's data: a malformed one, or one planned with other code, fails for good (no
 * retries) with a message that says why.
 */
export function checkSimJob(data: unknown, jobId: string | undefined, version: string): SimJobData {
  const bad = (why: string): never => {
    throw new UnrecoverableError(`malformed job ${jobId ?? "?"}: ${why} (not an aura sim job of format ${SIM_JOB_FORMAT}; it was failed, the worker goes on)`);
  };
  if (typeof data !== "object" || data === null) bad("its data is not an object");
  const d = data as Partial<SimJobData>;
  if (d.v !== SIM_JOB_FORMAT || d.kind !== "sim") bad(`its data has v = ${JSON.stringify(d.v)}, kind = ${JSON.stringify(d.kind)}`);
  if (typeof d.id !== "string" || !/^[0-9a-f]{64}$/.test(d.id)) bad("it has no 64-hex-digit id");
  if (jobId !== undefined && jobId !== d.id) bad(`its queue id ${jobId} is not its id ${d.id}`);
  if (typeof d.codeVersion !== "string") bad("it has no code version");
  if (d.codeVersion !== version) {
    throw new UnrecoverableError(
      `job ${d.id} (${d.label ?? "?"}) was planned with code version ${d.codeVersion}, this worker runs ${version}: refused. ` +
        "Bring this machine to the coordinator's commit (git checkout, npm ci, npm run build) and restart the worker; run the sim again to retry the job.",
    );
  }
  return d as SimJobData;
}

/**
 * Decode a job's blob and check that it hashes to its id.
 * @throws UnrecoverableError when the blob is missing (its run was deleted), does not hash to the id, or is not a sim job.
 */
export function decodeSimJob(blob: Buffer | null, d: SimJobData): SimJob {
  if (blob === null) throw new UnrecoverableError(`job ${d.id} (${d.label}): its payload is not in Redis ${SIM_BLOBS} (the run that planned it finished or was cleaned up)`);
  const id = createHash("sha256").update(d.codeVersion).update("\0").update(blob).digest("hex");
  if (id !== d.id) throw new UnrecoverableError(`job ${d.id} (${d.label}): its payload hashes to ${id}`);
  let job: unknown;
  try {
    job = deserialize(blob);
  } catch (e) {
    throw new UnrecoverableError(`job ${d.id} (${d.label}): unreadable payload (${(e as Error).message})`);
  }
  if (typeof job !== "object" || job === null || typeof (job as { kind?: unknown }).kind !== "string") throw new UnrecoverableError(`job ${d.id} (${d.label}): the payload is not a sim job`);
  return job as SimJob;
}

/** Options of {@link QueueSimPool}. */
export interface QueueSimPoolOptions {
  settings?: QueueSettings;
  /** Poll interval for results and failures (ms). */
  pollMs?: number;
  log?(line: string): void;
}

interface Pending {
  label: string;
  resolve(r: SimJobResult): void;
  reject(e: Error): void;
}

/**
 * A SimRunner whose jobs run on `aura worker`s through Redis (module comment). `submit` resolves with the
 * job's result once a worker has stored it; it rejects when the job failed after every attempt.
 */
export class QueueSimPool implements SimRunner {
  private readonly conn: Redis;
  private readonly queue: Queue;
  private readonly version = codeVersion("sim");
  private readonly pending = new Map<string, Pending>();
  private readonly used = new Set<string>();
  private readonly settings: QueueSettings;
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private closed = false;
  private failed = false;
  private checked: Promise<void>;

  constructor(
    readonly url: string,
    o: QueueSimPoolOptions = {},
  ) {
    const log = o.log ?? ((m: string) => console.error(m));
    this.settings = o.settings ?? DEFAULT_QUEUE_SETTINGS;
    this.pollMs = o.pollMs ?? 1000;
    this.conn = connect(url, log);
    this.queue = new Queue(SIM_QUEUE, { connection: this.conn });
    this.queue.on("error", otherErrors("sim queue", log));
    this.checked = checkRedisConfig(this.conn, (m) => log(`warning: ${m}`));
  }

  /** Jobs submitted and not yet finished. */
  get inFlight(): number {
    return this.pending.size;
  }

  submit<R extends SimJobResult>(job: SimJob): Promise<R> {
    if (this.closed) return Promise.reject(new Error("pool is closed"));
    const { id, blob } = encodeSimJob(job, this.version);
    const label = simJobLabel(job);
    return new Promise<R>((resolve, reject) => {
      const prev = this.pending.get(id);
      if (prev) {
        // the same job twice in flight: one queue job, both callers get its result
        const r0 = prev.resolve;
        const j0 = prev.reject;
        prev.resolve = (r) => (r0(r), resolve(r as R));
        prev.reject = (e) => (j0(e), reject(e));
        return;
      }
      this.pending.set(id, { label, resolve: resolve as (r: SimJobResult) => void, reject });
      this.used.add(id);
      void this.enqueue(id, blob, label).catch((e: Error) => this.settle(id, e));
    });
  }

  private async enqueue(id: string, blob: Buffer, label: string): Promise<void> {
    await this.checked;
    if (await this.conn.hexists(SIM_RESULTS, id)) return this.kick(); // done before (a rerun): the next poll returns it
    await this.conn.hset(SIM_BLOBS, id, blob);
    const state = await this.queue.getJobState(id);
    if (state === "failed") {
      const j = await this.queue.getJob(id);
      await j?.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
    } else if (state === "unknown" || state === "completed") {
      if (state === "completed") await (await this.queue.getJob(id))?.remove();
      const data: SimJobData = { v: SIM_JOB_FORMAT, kind: "sim", id, codeVersion: this.version, label };
      const opts: JobsOptions = { jobId: id, attempts: this.settings.attempts, backoff: { type: "exponential", delay: this.settings.backoffMs }, removeOnComplete: true, removeOnFail: false };
      await this.queue.add("sim", data, opts);
    }
    this.kick();
  }

  private kick(): void {
    if (!this.timer && !this.closed) this.timer = setTimeout(() => void this.poll(), this.pollMs);
  }

  private settle(id: string, r: SimJobResult | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (r instanceof Error) {
      this.failed = true;
      p.reject(r);
    } else p.resolve(r);
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const ids = [...this.pending.keys()];
      if (ids.length === 0) return;
      const results = await this.conn.hmgetBuffer(SIM_RESULTS, ...ids);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const buf = results[i];
        if (buf) {
          let r: SimJobResult | Error;
          try {
            r = deserialize(buf) as SimJobResult;
          } catch (e) {
            r = new FormatError(`the result of job ${id} (${this.pending.get(id)?.label}) in Redis ${SIM_RESULTS} is unreadable: ${(e as Error).message}`);
          }
          this.settle(id, r);
          continue;
        }
        const state = await this.queue.getJobState(id);
        if (state === "failed") {
          const j = await this.queue.getJob(id);
          this.settle(id, new ConfigError(`${this.pending.get(id)?.label} job ${id} failed after every attempt: ${j?.failedReason ?? "failed"}`));
        }
      }
    } catch {
      // Redis away: the next poll tries again (commands wait for the reconnection)
    } finally {
      this.polling = false;
      if (this.pending.size) this.kick();
    }
  }

  /**
   * Stop polling; jobs still pending are rejected. After a run in which nothing failed, its blobs and
   * results are deleted from Redis (a failed or interrupted run keeps them: run it again to reuse them).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const id of [...this.pending.keys()]) this.settle(id, new Error("pool closed before the job finished"));
    try {
      if (!this.failed && this.used.size) {
        const ids = [...this.used];
        await this.conn.hdel(SIM_BLOBS, ...ids);
        await this.conn.hdel(SIM_RESULTS, ...ids);
      }
    } finally {
      await this.queue.close();
      await this.conn.quit().catch(() => undefined);
    }
  }
}

/** The compiled sandboxed processor of sim jobs (a child process per running job slot). */
export function simProcessorPath(): string {
  const js = fileURLToPath(new URL("./queue_processor.js", import.meta.url));
  if (!existsSync(js)) throw new ConfigError(`${js} not found: aura worker runs from the compiled harness (npm run build)`);
  return js;
}
