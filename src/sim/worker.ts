/**
 * worker_threads entry of the `aura sim` pool (src/sim/pool.ts): runs SimJobs, posts throttled
 * progress and results. Each worker owns its MuJoCo module, environments and kernel instance; nothing
 * is shared.
 */
import { createOps } from "aura-mem/ops/index";
import { serveJobs } from "aura-mem/util/worker_pool";
import { runSimJob, SimContext, type SimJob, type SimJobResult } from "./jobs.js";
import type { SimProgress } from "./pool.js";

let ctx: SimContext | null = null;

serveJobs<SimJob, SimJobResult, SimProgress>((job, io) => {
  ctx ??= new SimContext(createOps("auto", (m) => io.warn(m)));
  let last = 0;
  return runSimJob(job, ctx, (done, total) => {
    const now = Date.now();
    if (now - last > 500 || done === total) {
      last = now;
      io.progress({ done, total });
    }
  });
});
