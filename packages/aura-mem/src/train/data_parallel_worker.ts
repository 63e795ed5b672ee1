/**
 * worker_threads entry of the data-parallel trainer (src/train/data_parallel.ts), served by the
 * project's worker pool: rebuilds the model from `workerData`, then for every shard job reads the
 * current parameters from the shared buffer, runs `batchObjective` on the shard and writes its
 * gradients into this worker's shared gradient buffer; the scalars, the surprise and the valid mask go back as the job's result.
 */
import { workerData } from "node:worker_threads";
import { MemoryConfig, type MemoryConfigInit } from "../config.js";
import { SequenceModel, isArm } from "../model/model.js";
import { createOps } from "../ops/index.js";
import { batchObjective } from "./train.js";
import { serveJobs } from "../util/worker_pool.js";
import type { DataParallelShardReply, DataParallelStepMessage, DataParallelWorkerInit } from "./data_parallel.js";

const init = workerData as DataParallelWorkerInit;
if (!isArm(init.spec.arm)) throw new Error(`unknown arm ${init.spec.arm}`);
const ops = createOps(init.backend, () => undefined);
const model = new SequenceModel(
  {
    arm: init.spec.arm,
    config: new MemoryConfig(init.spec.config as unknown as MemoryConfigInit),
    rnnHidden: init.spec.rnnHidden,
    window: init.spec.window,
    writeRate: init.spec.writeRate,
    tau: init.spec.tau,
  },
  ops,
);
const params = new Float32Array(init.params);
const grads = new Float32Array(init.grads);
for (const { name, length } of init.layout) {
  const p = model.params[name];
  if (!p || p.data.length !== length) throw new Error(`parameter ${name} has ${p?.data.length} values in the worker, ${length} in the main thread`);
}
serveJobs<DataParallelStepMessage, DataParallelShardReply>((m) => {
  for (const { name, offset, length } of init.layout) model.params[name]!.data.set(params.subarray(offset, offset + length));
  model.paramsChanged();
  if (model.spec.arm === "recon-gate") model.setTau(m.tau);
  const r = batchObjective(model, m.batch, init.source, m.opts, m.fwd);
  for (const { name, offset } of init.layout) grads.set(r.grads[name]!, offset);
  return { loss: r.loss, taskLoss: r.taskLoss, meanP: r.meanP, surprise: r.surprise, valid: r.valid };
});
