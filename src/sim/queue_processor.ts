/**
 * The sandboxed processor of `aura worker` for closed-loop jobs (src/sim/queue.ts; BullMQ runs it in a
 * child process per job slot): check the job (format, code version), return at once when its result is
 * already in Redis, read the job from its blob, run it (src/sim/jobs.ts, the same code as a local pool's
 * worker thread) and write the result into Redis before the job completes. Returns only the id.
 */
import { hostname } from "node:os";
import { serialize } from "node:v8";
import type { SandboxedJob } from "bullmq";
import { createOps } from "aura-mem/ops/index";
import { runSimJob, SimContext } from "./jobs.js";
import { processorRedis } from "../bench/redis.js";
import { codeVersion } from "../bench/store.js";
import { checkSimJob, decodeSimJob, SIM_BLOBS, SIM_RESULTS } from "./queue.js";

// a child whose worker died (SIGKILL) must not go on: its job goes to another worker
process.on("disconnect", () => process.exit(1));

let ctx: SimContext | null = null;

export default async function process_(job: SandboxedJob): Promise<{ id: string; skipped: boolean; seconds: number; ranBy: string }> {
  const d = checkSimJob(job.data, job.id, codeVersion("sim"));
  const r = processorRedis();
  const ranBy = `${hostname()} pid ${process.ppid}`;
  if (await r.hexists(SIM_RESULTS, d.id)) return { id: d.id, skipped: true, seconds: 0, ranBy };
  const sim = decodeSimJob(await r.hgetBuffer(SIM_BLOBS, d.id), d);
  // the Panda on this machine (aura worker --robot-dir); the coordinator's path otherwise
  const robotDir = process.env["AURA_ROBOT_DIR"];
  if (robotDir && "robotDir" in sim) sim.robotDir = robotDir;
  ctx ??= new SimContext(createOps("auto", () => undefined));
  const t0 = Date.now();
  const result = await runSimJob(sim, ctx, () => {
    // training and episodes block the event loop, so 'disconnect' fires only after them: look every step
    if (process.send && !process.connected) process.exit(1);
  });
  await r.hset(SIM_RESULTS, d.id, serialize(result));
  return { id: d.id, skipped: false, seconds: (Date.now() - t0) / 1000, ranBy };
}
