/**
 * worker_threads entry of the benchmark pool (src/bench/run.ts): runs JobSpecs, posts progress every
 * few steps and the JobResults. Each worker owns its kernel instance and task cache; nothing is shared
 * between threads.
 */
import { createOps } from "aura-mem/ops/index";
import { serveJobs } from "aura-mem/util/worker_pool";
import { runJob, TaskCache, type JobResult, type JobSpec } from "./jobs.js";
import type { BenchProgress } from "./run.js";

const cache = new TaskCache();
let ops: ReturnType<typeof createOps> | null = null;

serveJobs<JobSpec, JobResult, BenchProgress>((job, io) => {
  ops ??= createOps(job.backend, (m) => io.warn(m));
  let last = 0;
  return runJob(job, cache, ops, (step, steps, loss) => {
    if (step - last >= 5 || step === steps) {
      last = step;
      io.progress({ step, steps, loss });
    }
  });
});
