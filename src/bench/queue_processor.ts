/**
 * The sandboxed processor of `aura worker` (BullMQ runs it in a child process per job slot): check the
 * job (format, key, code version), skip it when its result is already in Redis, take the write rate of
 * a budget-matched arm from its AURA job's result, train and evaluate (src/bench/jobs.ts), and write the
 * result into Redis (and the worker's --store) before the job completes. Returns only the key.
 */
import { hostname } from "node:os";
import type { SandboxedJob } from "bullmq";
import { createOps } from "aura-mem/ops/index";
import { runJob, TaskCache } from "./jobs.js";
import { checkTrainJob, RESULTS_HASH } from "./queue.js";
import { processorRedis } from "./redis.js";
import { codeVersion, JobStore, keyFields, parseStored, STORE_FORMAT, type StoredJob } from "./store.js";

// a child whose worker died (SIGKILL) must not train on: its job goes to another worker
process.on("disconnect", () => process.exit(1));

const cache = new TaskCache();
let ops: ReturnType<typeof createOps> | null = null;

export default async function process_(job: SandboxedJob): Promise<{ key: string; skipped: boolean; seconds: number }> {
  const version = codeVersion();
  const d = checkTrainJob(job.data, job.id, version);
  const r = processorRedis();
  if (await r.hexists(RESULTS_HASH, d.key)) return { key: d.key, skipped: true, seconds: 0 };
  const spec = { ...d.job };
  // the Push-T data on this machine (aura worker --pusht-path); not part of the key
  if (process.env["AURA_PUSHT_PATH"]) spec.pushtPath = process.env["AURA_PUSHT_PATH"];
  if (d.dependsOn) {
    const text = await r.hget(RESULTS_HASH, d.dependsOn);
    // a retryable error: the flow adds this job only after AURA completed, so this is a lost result
    if (text === null) throw new Error(`job ${d.key} depends on AURA job ${d.dependsOn}, whose result is not in Redis`);
    spec.writeRate = parseStored(text, d.dependsOn, `Redis ${RESULTS_HASH}[${d.dependsOn}]`).result.test.writeRate;
  }
  const t0 = Date.now();
  ops ??= createOps(spec.backend);
  // training blocks the event loop, so 'disconnect' fires only after it: look at the channel every step
  const result = await runJob(spec, cache, ops, () => {
    if (process.send && !process.connected) process.exit(1);
  });
  const seconds = (Date.now() - t0) / 1000;
  const stored: StoredJob = {
    format: STORE_FORMAT,
    key: d.key,
    job: keyFields(d.job, d.dependsOn, version),
    result,
    seconds,
    ranBy: `${hostname()} pid ${process.ppid}`,
    at: new Date().toISOString(),
  };
  const dir = process.env["AURA_WORKER_STORE"];
  if (dir) await new JobStore(dir).put(stored);
  await r.hset(RESULTS_HASH, d.key, JSON.stringify(stored));
  return { key: d.key, skipped: false, seconds };
}
