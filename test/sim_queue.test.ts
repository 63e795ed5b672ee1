/**
 * `aura sim / sim-stream --queue` and `aura worker` (src/sim/queue.ts): the closed-loop pipeline's jobs
 * through BullMQ on a redis-server the test starts (AOF on, noeviction, free loopback port, temp folder)
 * give the results a local run gives; a job planned twice runs once; a finished run leaves nothing in
 * Redis; a malformed job and a job of another code version are failed with a clear error while the worker
 * goes on. Needs Debian's redis-server and the Menagerie Panda (../shared/models/franka_emika_panda);
 * under CI=true a missing one fails.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createOps } from "aura-mem/ops/index";
import { testNeeding, type OptionalInput } from "./helpers.js";
import { CLI, REDIS, aura, killAll, newRedis, tmp, waitFor } from "./redis_helpers.js";
import { BasePolicy } from "../src/sim/policy.js";
import { runSimJob, SimContext, type SimJob } from "../src/sim/jobs.js";
import type { Demo } from "../src/sim/demos.js";
import type { StreamArmEpisode } from "../src/sim/stream.js";
import { QueueSimPool, SIM_BLOBS, SIM_QUEUE, SIM_RESULTS, encodeSimJob } from "../src/sim/queue.js";
import { codeVersion } from "../src/bench/store.js";

const ROBOT = resolve("../shared/models/franka_emika_panda");
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };
const BOTH: OptionalInput = { name: `${REDIS.name} and ${PANDA.name}`, present: REDIS.present && PANDA.present, hint: `${REDIS.hint}; ${PANDA.hint}` };

after(() => killAll());

/** A stream episode without its wall-clock fields. */
function noClock(e: StreamArmEpisode): Omit<StreamArmEpisode, "wallMs" | "armMsStart" | "armMsEnd"> {
  const { wallMs: _w, armMsStart: _s, armMsEnd: _e, ...rest } = e;
  return rest;
}

testNeeding(BOTH, "sim queue: jobs run on aura worker give the local results; a job planned twice runs once; a finished run leaves Redis clean; bad and foreign jobs fail clearly, the worker goes on", { timeout: 300_000 }, async () => {
  const redis = await newRedis("sim-queue");
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const q = new Queue(SIM_QUEUE, { connection: conn });
  try {
    const w = aura(["worker", "--queue", redis.url, "--robot-dir", ROBOT]);
    await waitFor("the worker to start", () => /aura worker .* queues aura-bench, aura-sim/.test(w.out()), 60_000);
    const base = new BasePolicy(createOps("auto"), { hidden: 16, seed: 1 });
    const oracle: SimJob = { kind: "stream-eval", task: "cue-stream", arm: "no-memory", oracleGoal: true, role: "goal", seeds: [3], horizon: 600, base: base.toData(), model: null, robotDir: ROBOT };
    const demos: SimJob = { kind: "demos", task: "cue-place", seeds: [0, 1], robotDir: ROBOT };
    const ctx = new SimContext(createOps("auto"));
    let wantOracle: StreamArmEpisode[];
    let wantDemos: Demo[];
    try {
      wantOracle = (await runSimJob(oracle, ctx)) as StreamArmEpisode[];
      wantDemos = (await runSimJob(demos, ctx)) as Demo[];
    } finally {
      await ctx.dispose();
    }

    const pool = new QueueSimPool(redis.url, { pollMs: 200, log: () => undefined });
    const [gotOracle, gotDemos, again] = await Promise.all([pool.submit<StreamArmEpisode[]>(oracle), pool.submit<Demo[]>(demos), pool.submit<Demo[]>(demos)]);
    assert.deepEqual(gotOracle.map(noClock), wantOracle.map(noClock), "the stream episode of the queue = the local one");
    assert.deepEqual(gotDemos, wantDemos, "the demonstrations (typed arrays included) of the queue = the local ones");
    assert.deepEqual(again, gotDemos);
    // planned again after it finished: from Redis, not run again
    assert.deepEqual(await pool.submit<Demo[]>(demos), wantDemos);
    const id = encodeSimJob(demos, codeVersion("sim")).id;
    assert.equal(w.out().split("\n").filter((l) => l.includes(`start sim ${id} `)).length, 1, "the demos job ran once");
    assert.ok(await conn.hexists(SIM_RESULTS, id));
    await pool.close();
    assert.equal(await conn.hlen(SIM_BLOBS), 0, "a finished run deletes its payloads");
    assert.equal(await conn.hlen(SIM_RESULTS), 0, "and its results");

    // a malformed job: failed for good with a clear reason; the worker goes on
    await q.add("sim", { v: 1, kind: "sim", id: "not-a-hash" }, { jobId: "bad-1", attempts: 3 });
    await waitFor("the malformed job to fail", async () => (await q.getJobState("bad-1")) === "failed", 60_000);
    assert.match((await q.getJob("bad-1"))!.failedReason, /malformed job bad-1: it has no 64-hex-digit id/);
    // a job of another code version: refused, the coordinator hears why
    process.env["AURA_CODE_VERSION"] = "0.0.0+other";
    const foreign = new QueueSimPool(redis.url, { pollMs: 200, log: () => undefined });
    delete process.env["AURA_CODE_VERSION"];
    await assert.rejects(foreign.submit({ ...demos, seeds: [2] }), /planned with code version 0\.0\.0\+other, this worker runs .*: refused/);
    await foreign.close();
    assert.equal(await conn.hlen(SIM_BLOBS), 1, "a run with a failed job keeps its payloads (to run it again)");
    // still serving
    const p2 = new QueueSimPool(redis.url, { pollMs: 200, log: () => undefined });
    const [d2] = await p2.submit<Demo[]>({ ...demos, seeds: [1] });
    assert.deepEqual(d2, wantDemos[1]);
    await p2.close();
    assert.match(w.out(), /failed sim bad-1/);

    // the CLI: aura sim-stream --queue writes what a local run writes (the scripted expert, one short episode)
    const args = ["sim-stream", "--policies", "expert", "--episodes", "1", "--horizon", "600", "--robot-dir", ROBOT];
    const local = spawnSync(process.execPath, [CLI, ...args, "--workers", "0", "--json", join(tmp, "local.json")], { encoding: "utf8" });
    assert.equal(local.status, 0, local.stderr);
    const queued = spawnSync(process.execPath, [CLI, ...args, "--queue", redis.url, "--json", join(tmp, "queued.json")], { encoding: "utf8" });
    assert.equal(queued.status, 0, queued.stderr);
    const policies = (f: string): unknown => {
      const j = JSON.parse(readFileSync(join(tmp, f), "utf8")) as { policies: Record<string, { secondsPerEpisode?: number; episodeOutcomes: { wallMs?: number }[] }> };
      for (const p of Object.values(j.policies)) {
        delete p.secondsPerEpisode;
        for (const e of p.episodeOutcomes) delete e.wallMs;
      }
      return j.policies;
    };
    assert.deepEqual(policies("queued.json"), policies("local.json"));
    assert.match(JSON.parse(readFileSync(join(tmp, "queued.json"), "utf8")).queue, /^redis:\/\/127\.0\.0\.1:\d+\/0$/);
    // (spawnSync held this process's event loop: the worker's log arrives now)
    await waitFor("the worker's log of the CLI's job", () => /done sim [0-9a-f]{64} \(stream cue-stream expert s1000000\)/.test(w.out()), 30_000);
  } finally {
    await q.close();
    await conn.quit();
    await redis.stop();
  }
});
