/**
 * worker_threads entry of the `aura sim` pool: receives SimJobs, posts progress and results. Each
 * worker owns its MuJoCo module, environments and kernel instance; nothing is shared.
 */
import { parentPort } from "node:worker_threads";
import { createOps } from "../ops/index.js";
import { runSimJob, SimContext, type SimJob } from "./jobs.js";

const port = parentPort;
if (!port) throw new Error("sim worker must run in a worker thread");
let ctx: SimContext | null = null;

port.on("message", (msg: { id: number; job: SimJob }) => {
  ctx ??= new SimContext(createOps("auto", (m) => port.postMessage({ type: "warn", id: msg.id, message: m })));
  let last = 0;
  runSimJob(msg.job, ctx, (done, total) => {
    const now = Date.now();
    if (now - last > 500 || done === total) {
      last = now;
      port.postMessage({ type: "progress", id: msg.id, done, total });
    }
  }).then(
    (result) => port.postMessage({ type: "result", id: msg.id, result }),
    (err: Error) => port.postMessage({ type: "error", id: msg.id, message: `${err.name}: ${err.message}`, stack: err.stack }),
  );
});
