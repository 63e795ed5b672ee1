/**
 * The job pool of `aura sim`: the project's worker pool (src/util/worker_pool.ts) over `worker.ts`;
 * `submit(job)` returns a promise of its result; jobs run FIFO on `size` worker threads (or in this
 * thread when size = 0). Progress and warnings go to hooks.
 */
import { createOps } from "aura-mem/ops/index";
import { WorkerPool } from "aura-mem/util/worker_pool";
import { runSimJob, SimContext, type SimJob, type SimJobResult } from "./jobs.js";

export interface PoolHooks {
  onProgress?(job: SimJob, done: number, total: number): void;
  onWarn?(message: string): void;
}

/** Progress report of a sim job. */
export interface SimProgress {
  done: number;
  total: number;
}

/**
 * What runs the pipeline's jobs: a local {@link SimPool} (worker threads) or a QueueSimPool (src/sim/queue.ts:
 * `aura worker`s through Redis). `submit` resolves with the job's result, rejects when it failed.
 */
export interface SimRunner {
  submit<R extends SimJobResult>(job: SimJob): Promise<R>;
  close(): Promise<void>;
}

export class SimPool extends WorkerPool<SimJob, SimJobResult, SimProgress> implements SimRunner {
  constructor(size: number, hooks: PoolHooks = {}) {
    let ctx: SimContext | null = null;
    super({ near: import.meta.url, name: "worker" }, size, {
      onProgress: (job, p) => hooks.onProgress?.(job, p.done, p.total),
      onWarn: (m) => hooks.onWarn?.(m),
      describeError: (job, m) => `${job.kind} job (${job.task}${"arm" in job ? ", " + job.arm : ""}) failed: ${m}`,
      inProcess: (job, progress) => {
        ctx ??= new SimContext(createOps("auto", (m) => hooks.onWarn?.(m)));
        return runSimJob(job, ctx, (done, total) => progress({ done, total }));
      },
      onClose: async () => {
        if (ctx) await ctx.dispose();
      },
    });
  }

  /** Queue a job; resolves with its result. */
  override submit<R extends SimJobResult>(job: SimJob): Promise<R> {
    return super.submit(job) as Promise<R>;
  }
}
