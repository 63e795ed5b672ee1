/**
 * The project's worker pool (src/util/worker_pool.ts), which bench, sim and data-parallel training
 * share: FIFO jobs over threads started from TypeScript source (tsx's loader registered in the
 * worker), jobs sent to one worker, progress, a job's error with its message, a failing start-up,
 * and the in-process pool of size 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkerPool } from "aura-mem/util/worker_pool";

type Job = { x: number; fail?: boolean };
type Res = { y: number; tag: string };
const entry = (workerData?: unknown) => ({ near: import.meta.url, name: "fixtures/pool_worker", workerData });

test("jobs run on worker threads, FIFO, with progress; submitTo reaches one worker; errors carry the job's message", async () => {
  const seen: number[] = [];
  const pool = new WorkerPool<Job, Res, number>(entry({ tag: "w" }), 2, {
    onProgress: (_job, p) => seen.push(p),
    describeError: (job, m) => `job ${job.x} failed: ${m}`,
  });
  try {
    await pool.ready();
    const ys = await Promise.all([1, 2, 3, 4, 5].map((x) => pool.submit({ x })));
    assert.deepEqual(ys.map((r) => r.y), [2, 4, 6, 8, 10]);
    assert.ok(ys.every((r) => r.tag === "w"));
    assert.deepEqual([...seen].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
    assert.equal((await pool.submitTo(1, { x: 21 })).y, 42);
    await assert.rejects(pool.submit({ x: 7, fail: true }), /job 7 failed: RangeError: bad job 7/);
    assert.equal((await pool.submit({ x: 8 })).y, 16, "the pool keeps working after a failed job");
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.submit({ x: 1 }), /closed/);
});

test("a worker that fails to start rejects ready() and the queued jobs", async () => {
  const pool = new WorkerPool<Job, Res>(entry({ failStart: true }), 1);
  try {
    const job = pool.submit({ x: 1 });
    await assert.rejects(pool.ready(), /start-up failure on purpose/);
    await assert.rejects(job);
  } finally {
    await pool.close();
  }
});

test("size 0 runs the jobs in this thread, one after another, through the in-process runner", async () => {
  const order: number[] = [];
  const pool = new WorkerPool<Job, Res>(entry(), 0, {
    inProcess: async (job) => {
      order.push(job.x);
      await new Promise((r) => setTimeout(r, 5 - job.x));
      return { y: 3 * job.x, tag: "main" };
    },
  });
  const ys = await Promise.all([1, 2, 3].map((x) => pool.submit({ x })));
  assert.deepEqual(ys.map((r) => r.y), [3, 6, 9]);
  assert.deepEqual(order, [1, 2, 3]);
  await pool.close();
  assert.throws(() => new WorkerPool<Job, Res>(entry(), 0), /in-process runner/);
});
