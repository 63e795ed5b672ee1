/**
 * `aura bench --queue` / `aura worker` under faults. Each test starts its own redis-server (AOF on,
 * noeviction) on a free loopback port in a temp folder, runs the CLI (dist/) as the coordinator and
 * the workers, and stops everything. The reference is a local run of the same tiny plan: the queued
 * results.json must carry the same metrics bit for bit, every job exactly once.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { testNeeding } from "./helpers.js";
import { quickOptions, planJobs, keyJobs } from "../src/bench/run.js";
import { QUEUE_NAME, RESULTS_HASH, type TrainJobData } from "../src/bench/queue.js";
import { CLI, REDIS, aura, killAll, newRedis, tmp, waitFor } from "./redis_helpers.js";

const PLAN = ["--tasks", "ess-easy", "--arms", "aura,always-write,random", "--seeds", "0", "--steps", "20", "--no-horizons", "--no-ablation"];
// short locks so a dead worker's job comes back within seconds
const FAST = ["--lock-duration", "3000", "--stalled-interval", "1000"];

/** results.json's tasks without the wall-clock fields (train seconds). */
function metrics(dir: string): unknown {
  const res = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
  for (const t of Object.values<{ arms: Record<string, Record<string, unknown>> }>(res.tasks)) for (const a of Object.values(t.arms)) delete a["trainSeconds"];
  return res.tasks;
}

/** Lines of a worker log that say `what <key>`. */
function count(log: string, what: "start" | "done", key: string): number {
  return log.split("\n").filter((l) => new RegExp(`Z ${what} ${key} `).test(l)).length;
}

const keys = keyJobs(planJobs({ ...quickOptions(), tasks: ["ess-easy"], arms: ["aura", "always-write", "random"], seeds: [0], ablationTasks: [], stepsByTask: {}, panel: { ...quickOptions().panel, multiples: [], extra: [] }, train: { ...quickOptions().train, steps: 20 } })).map((k) => k.key);
let local: unknown = null;

before(() => {
  if (!REDIS.present) return;
  // the reference: the same plan run locally
  const r = spawnSync(process.execPath, [CLI, "bench", ...PLAN, "--workers", "1", "--store", join(tmp, "local-store"), "--out", join(tmp, "local")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  local = metrics(join(tmp, "local"));
  assert.deepEqual(readdirSync(join(tmp, "local-store")).sort(), keys.map((k) => `${k}.json`).sort(), "the test plans the CLI's keys");
});

after(() => {
  killAll();
});

testNeeding(REDIS, "queue: a worker SIGKILLed mid-job; another worker retries it; results.json equals the local run bit for bit, every job once", { timeout: 300_000 }, async () => {
  const redis = await newRedis("kill-worker");
  try {
    const w1 = aura(["worker", "--queue", redis.url, ...FAST]);
    const coord = aura(["bench", ...PLAN, "--queue", redis.url, "--store", join(tmp, "kw-store"), "--out", join(tmp, "kw"), "--poll", "300", "--backoff", "200"]);
    await waitFor("worker 1 to start a job", () => / start [0-9a-f]{32} /.test(w1.out()));
    const killed = / start ([0-9a-f]{32}) /.exec(w1.out())![1]!;
    // the job runs in a sandboxed child process; BullMQ forks it around the "active" event, so wait for it (a
    // loaded machine can log "start" before the fork)
    let children: string[] = [];
    await waitFor("the job's sandboxed child process", () => {
      children = spawnSync("ps", ["-o", "pid=", "--ppid", String(w1.p.pid)], { encoding: "utf8" }).stdout.trim().split(/\s+/).filter(Boolean);
      return children.length >= 1;
    }, 60_000);
    assert.ok(children.length >= 1, "the job runs in a child process");
    w1.p.kill("SIGKILL");
    await w1.exited;
    // its sandboxed child stops training at the next step (gone, or a zombie waiting to be reaped)
    const alive = (pid: string): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    await waitFor("the killed worker's child to exit", () => !children.some(alive), 30_000);
    assert.equal(count(w1.out(), "done", killed), 0, "killed mid-job");
    const w2 = aura(["worker", "--queue", redis.url, ...FAST]);
    assert.equal(await coord.exited, 0, coord.out());
    assert.match(w2.out(), new RegExp(`stalled ${killed}|start ${killed} `), "the second worker took the killed job");
    for (const k of keys) assert.equal(count(w1.out(), "done", k) + count(w2.out(), "done", k), 1, `job ${k} done once:\n${w1.out()}\n${w2.out()}`);
    assert.deepEqual(metrics(join(tmp, "kw")), local);
    const res = JSON.parse(readFileSync(join(tmp, "kw", "results.json"), "utf8"));
    for (const a of Object.values<{ seeds: number }>(res.tasks["ess-easy"].arms)) assert.equal(a.seeds, 1, "counted once");
    const r = new Redis(redis.url);
    assert.deepEqual((await r.hkeys(RESULTS_HASH)).sort(), [...keys].sort());
    await r.quit();
    w2.p.kill("SIGTERM");
    assert.equal(await w2.exited, 0, "a worker stops cleanly on SIGTERM");
    if (process.env["AURA_TEST_LOGS"]) console.log(`worker 1:\n${w1.out()}\nworker 2:\n${w2.out()}\ncoordinator:\n${coord.out()}`);
  } finally {
    await redis.stop();
  }
});

testNeeding(REDIS, "queue: Redis restarted mid-sweep (AOF) and the coordinator SIGKILLed; --resume finishes without rerunning done jobs", { timeout: 300_000 }, async () => {
  const redis = await newRedis("restart");
  try {
    const w = aura(["worker", "--queue", redis.url, ...FAST]);
    const args = ["bench", ...PLAN, "--queue", redis.url, "--store", join(tmp, "rs-store"), "--out", join(tmp, "rs"), "--poll", "300", "--backoff", "200"];
    const c1 = aura(args);
    const done = (): number => (w.out().match(/Z done /g) ?? []).length;
    await waitFor("the first job to finish", () => done() >= 1);
    c1.p.kill("SIGKILL");
    await c1.exited;
    await redis.stop();
    await redis.start();
    const c2 = aura([...args, "--resume"]);
    assert.equal(await c2.exited, 0, c2.out());
    assert.match(c2.out(), /plan of 3 jobs: \d done/);
    assert.match(w.out(), /Redis .* unreachable .*retrying until it is back[^]*Redis is back/, "the worker says once that Redis was down");
    assert.doesNotMatch(c2.out() + w.out(), /Unhandled|at TCPConnectWrap/, "no stack traces for an outage");
    for (const k of keys) assert.equal(count(w.out(), "start", k), 1, `job ${k} ran once:\n${w.out()}`);
    assert.deepEqual(metrics(join(tmp, "rs")), local);
    // a third coordinator finds everything in its store and enqueues nothing
    const c3 = aura([...args, "--resume"]);
    assert.equal(await c3.exited, 0, c3.out());
    assert.match(c3.out(), /plan of 3 jobs: 3 done, 0 enqueued now/);
    w.p.kill("SIGTERM");
    await w.exited;
    if (process.env["AURA_TEST_LOGS"]) console.log(`worker:\n${w.out()}\ncoordinator 1:\n${c1.out()}\ncoordinator 2:\n${c2.out()}`);
  } finally {
    await redis.stop();
  }
});

testNeeding(REDIS, "queue: a worker of another code version refuses the job, --resume retries it; malformed and foreign jobs fail with a clear error and the worker goes on", { timeout: 300_000 }, async () => {
  const redis = await newRedis("foreign");
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAME, { connection: conn });
  try {
    // a worker of another code version refuses the plan's job; the coordinator names it and exits
    const stale = aura(["worker", "--queue", redis.url, ...FAST], { AURA_CODE_VERSION: "0.0.0+000000000000" });
    const args = ["bench", ...PLAN, "--arms", "always-write", "--queue", redis.url, "--store", join(tmp, "fj-store"), "--out", join(tmp, "fj"), "--poll", "300"];
    const c0 = aura(args);
    assert.equal(await c0.exited, 2, c0.out());
    assert.match(c0.out(), /1 job\(s\) failed after every attempt; fix the cause and run again with --resume:\n {2}[0-9a-f]{32} \(always-write ess-easy s0\): job [0-9a-f]{32} \(always-write ess-easy s0\) was planned with code version 0\.\d+\.\d+\+[0-9a-f]{12}, this worker runs 0\.0\.0\+000000000000: refused/);
    stale.p.kill("SIGTERM");
    await stale.exited;
    const w = aura(["worker", "--queue", redis.url, ...FAST]);
    const opts = { attempts: 3, backoff: { type: "fixed", delay: 100 } };
    const k = keyJobs(planJobs({ ...quickOptions(), tasks: ["ess-easy"], arms: ["always-write"], seeds: [5], ablationTasks: [], stepsByTask: {}, train: { ...quickOptions().train, steps: 5 } }))[0]!;
    const good: TrainJobData = { v: 1, kind: "train", key: k.key, codeVersion: k.fields.codeVersion, job: k.job, dependsOn: null };
    await queue.add("train", { hello: "world" }, { ...opts, jobId: "garbage" });
    await queue.add("train", { ...good, codeVersion: "0.0.1+0123456789ab" }, { ...opts, jobId: "foreign" });
    await queue.add("train", { ...good, job: { ...good.job, seed: 6 } }, { ...opts, jobId: "tampered" });
    await waitFor("the three jobs (and the refused one) to be failed", async () => (await queue.getJobCounts("failed")).failed === 4, 120_000);
    const why = async (id: string) => {
      const j = (await queue.getJob(id))!;
      return { reason: j.failedReason, attempts: j.attemptsMade };
    };
    const g = await why("garbage");
    assert.match(g.reason, /malformed job garbage: its data has v = undefined/);
    assert.equal(g.attempts, 1, "not retried");
    const f = await why("foreign");
    assert.match(f.reason, /was planned with code version 0\.0\.1\+0123456789ab, this worker runs 0\.\d+\.\d+\+[0-9a-f]{12}: refused/);
    assert.equal(f.attempts, 1);
    assert.match((await why("tampered")).reason, /is not the hash of its options/);
    // the same worker then runs the refused job, which --resume retries
    const c = aura([...args, "--resume"]);
    assert.equal(await c.exited, 0, c.out());
    assert.match(c.out(), /plan of 1 jobs: 0 done, 0 enqueued now, 1 failed before and retried/);
    assert.match(w.out(), /done [0-9a-f]{32} \(always-write ess-easy s0\)/);
    assert.equal(w.p.exitCode, null, "the worker is still running");
    w.p.kill("SIGTERM");
    await w.exited;
  } finally {
    await queue.close();
    await conn.quit();
    await redis.stop();
  }
});
