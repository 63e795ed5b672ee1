/**
 * worker_threads entry of the benchmark pool: receives JobSpecs, posts progress and JobResults.
 * Each worker owns its kernel instance and task cache; nothing is shared between threads.
 */
import { parentPort } from "node:worker_threads";
import { createOps } from "../ops/index.js";
import { runJob, TaskCache, type JobSpec } from "./jobs.js";

const port = parentPort;
if (!port) throw new Error("bench worker must run in a worker thread");
const cache = new TaskCache();
let ops: ReturnType<typeof createOps> | null = null;

port.on("message", (job: JobSpec) => {
  ops ??= createOps(job.backend, (m) => port.postMessage({ type: "warn", message: m }));
  let last = 0;
  runJob(job, cache, ops, (step, steps, loss) => {
    if (step - last >= 5 || step === steps) {
      last = step;
      port.postMessage({ type: "progress", id: job.id, step, steps, loss });
    }
  }).then(
    (result) => port.postMessage({ type: "result", id: job.id, result }),
    (err: Error) => port.postMessage({ type: "error", id: job.id, message: `${err.name}: ${err.message}`, stack: err.stack }),
  );
});
