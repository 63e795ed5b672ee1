/**
 * Long-episode traces (src/sim/stream_trace.ts, format "aura-sim-trace" version 2) and their reader
 * (src/web/trace.ts parseTrace): the downsampling keeps every cue step and the terminal state, loses
 * no write (g and the running count), is deterministic; the KV-cache comparison bytes equal a real
 * kv-cache arm's measured state bytes; malformed version-2 traces fail with a FormatError naming the
 * field while version 1 still reads. Then, with the MuJoCo Panda (../shared/models/franka_emika_panda;
 * skipped, saying so, when absent; under CI=true a missing input fails): a traced cue-stream episode is
 * the same episode as an untraced one, and `aura sim-stream --arms ... --trace` writes the file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MemoryConfig } from "aura-mem/config";
import { ConfigError, FormatError } from "aura-mem/errors";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel } from "aura-mem/model/model";
import { naiveOps } from "aura-mem/ops/index";
import { Rng } from "aura-mem/util/rng";
import { testNeeding, type OptionalInput } from "./helpers.js";
import { TraceDownsampler, kvCacheBytesFn, type StreamTrace, type TraceScene } from "../src/sim/stream_trace.js";
import { cueShown, flickerShown, parseTrace, stepIndexAt } from "../src/web/trace.js";

const ROBOT = "../shared/models/franka_emika_panda";
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };

/** A scene whose geometry encodes t, so a kept step can be traced back to the step it was read at. */
function fakeScene(t: () => number): TraceScene {
  return {
    jointPositions: () => [t() / 1000, 0.1, 0, -2, 0, 2, 0.7, 0.04, 0.04],
    tcpPos: () => [0.5, t() / 100000, 0.2],
    cubePose: (i) => [0.4 + 0.1 * i, -0.1, 0.025, 1, 0, 0, 0],
  };
}

interface Raw {
  t: number;
  cue: number;
  p: number;
  g: number;
}

/** A synthetic episode: sparse writes, three 6-step cues (one at a t that is not a multiple of every), flickers. */
function rawEpisode(T: number, seed: number): Raw[] {
  const rng = new Rng(seed);
  const cueStarts = [13, 101, 250];
  return Array.from({ length: T }, (_, t) => {
    const c = cueStarts.findIndex((s) => t >= s && t < s + 6);
    const cue = c >= 0 ? 1 + c : t === 70 || t === 71 ? -1 : 0;
    const g = rng.uniform() < (c >= 0 ? 0.8 : 0.05) ? 1 : 0;
    return { t, cue, p: g ? 0.5 + 0.5 * rng.uniform() : 0.5 * rng.uniform(), g };
  });
}

function sample(raw: Raw[], every: number): { trace: StreamTrace; T: number } {
  let now = 0;
  const ds = new TraceDownsampler({ every, kvBytes: (n) => n * 256, kvDims: { dKey: 32, dVal: 32 } });
  const scene = fakeScene(() => now);
  let writes = 0;
  for (const r of raw) {
    now = r.t;
    writes += r.g;
    ds.offer(scene, r.t, r.cue, r.p, r.g, writes, 4224);
  }
  const T = raw.length;
  now = T;
  ds.offer(scene, T, 0, 0, 0, writes, 4224, true);
  const plan = { cues: [13, 101, 250].map((step, i) => ({ step, goalIndex: i * 2, goal: { cubes: [i], zones: [0] } })) };
  const outcomes = [
    { cue: 0, step: 13, scoredAt: 101, goalIndex: 0, success: true, placed: true },
    { cue: 1, step: 101, scoredAt: 250, goalIndex: 2, success: false, placed: false },
    { cue: 2, step: 250, scoredAt: T, goalIndex: 4, success: false, placed: true },
  ];
  return { trace: ds.build({ task: "cue-stream", arm: "aura", seed: 7, controlHz: 20, horizon: T, source: { test: true } }, plan, outcomes), T };
}

test("TraceDownsampler: keeps every k-th step, every cue step and the end; no write lost; p the interval's max; deterministic", () => {
  const raw = rawEpisode(400, 5);
  const total = raw.reduce((s, r) => s + r.g, 0);
  for (const every of [1, 4, 7, 50]) {
    const { trace, T } = sample(raw, every);
    const kept = trace.steps.map((s) => s.t);
    const want = [...raw.filter((r) => r.t % every === 0 || r.cue > 0).map((r) => r.t), T];
    assert.deepEqual(kept, want, `kept steps at every ${every}`);
    assert.ok(!kept.includes(70) || 70 % every === 0, "a flicker is not a cue: not kept for itself");
    let prev = -1;
    let running = 0;
    for (const s of trace.steps) {
      const since = raw.filter((r) => r.t > prev && r.t <= s.t);
      const w = since.reduce((a, r) => a + r.g, 0);
      running += w;
      assert.equal(s.writes, running, `writes at ${s.t}`);
      assert.equal(s.g, w > 0 ? 1 : 0, `g at ${s.t} (every ${every}): ${w} writes since ${prev}`);
      const pmax = since.reduce((a, r) => Math.max(a, r.p), 0);
      assert.ok(Math.abs(s.p - pmax) <= 5e-5, `p at ${s.t}: ${s.p} vs max ${pmax}`);
      assert.equal(s.q[0], Math.round(s.t / 1000 * 1e4) / 1e4, "geometry read at the kept step");
      assert.equal(s.kvBytes, (s.t === T ? T : s.t + 1) * 256, "KV-cache entries: observations processed so far");
      prev = s.t;
    }
    assert.equal(trace.steps[trace.steps.length - 1]!.writes, total, "the final count holds every write");
    if (every === 1) assert.deepEqual(trace.steps.slice(0, -1).map((s) => s.g), raw.map((r) => r.g), "every 1: the raw writes");
    assert.deepEqual(sample(raw, every).trace, trace, "deterministic");
    // the reader accepts it and sees the same thing
    const back = parseTrace(JSON.stringify(trace));
    assert.equal(back.version, 2);
    assert.equal(back.horizon, T);
    assert.equal(back.every, every);
    assert.equal(back.steps.length, trace.steps.length);
    assert.deepEqual(back.cues.map((c) => [c.step, c.cube, c.zone, c.success]), [[13, 0, 0, true], [101, 1, 0, false], [250, 2, 0, false]]);
    assert.deepEqual(back.bodies, trace.bodies);
    assert.deepEqual([back.bodies!.cubes.length, back.bodies!.zones.length, back.bodies!.zoneXY!.length], [3, 2, 2]);
    assert.equal(back.steps.filter((s) => cueShown(s.cue)).length, 18, "all 3 x 6 cue steps");
    assert.deepEqual(back.extra["source"], { test: true });
  }
  assert.ok(sample(raw, 50).trace.steps.length < sample(raw, 4).trace.steps.length);
  assert.throws(() => new TraceDownsampler({ every: 0, kvBytes: (n) => n, kvDims: { dKey: 1, dVal: 1 } }), ConfigError);
  assert.throws(() => new TraceDownsampler({ every: 2.5, kvBytes: (n) => n, kvDims: { dKey: 1, dVal: 1 } }), ConfigError);
  const ds = new TraceDownsampler({ every: 2, kvBytes: (n) => n, kvDims: { dKey: 1, dVal: 1 } });
  ds.offer(fakeScene(() => 0), 3, 0, 0, 0, 0, 0);
  assert.throws(() => ds.offer(fakeScene(() => 0), 3, 0, 0, 0, 0, 0), /in order/);
});

test("kvCacheBytesFn = the measured state bytes of a kv-cache arm after n steps", () => {
  const ops = naiveOps();
  const config = new MemoryConfig({ dModel: 8, dAction: 7, actionKind: "continuous", dKey: 4, dVal: 6, dProj: 8, dGate: 8, dHidden: 8, seed: 1 });
  const kv = kvCacheBytesFn(config, ops);
  const model = new SequenceModel(armSpec("kv-cache", config, { matchParams: null }), ops);
  let state = model.initState(1);
  const rng = new Rng(2);
  assert.equal(kv(0), 0);
  for (let n = 1; n <= 12; n++) {
    const z = Float32Array.from({ length: 8 }, () => rng.normal());
    state = model.forward(z, 1, 1, { initialState: state }).finalState;
    assert.equal(kv(n), model.stateBytes(state), `after ${n} steps`);
  }
  assert.equal(kv(12), 12 * (4 + 6) * 4);
  assert.equal(kvCacheBytesFn(new MemoryConfig({ dModel: 8, dAction: 7, actionKind: "continuous" }), ops)(12000), 3_072_000, "32 x 32: 256 B per step");
});

test("parseTrace version 2: malformed traces fail with a FormatError naming the field; version 1 still reads", () => {
  const good = (): Record<string, unknown> => JSON.parse(JSON.stringify(sample(rawEpisode(300, 3), 4).trace)) as Record<string, unknown>;
  assert.equal(parseTrace(good()).version, 2);
  const broken: [string, (t: Record<string, unknown>) => void, RegExp][] = [
    ["no kvBytes", (t) => delete (t["steps"] as Record<string, unknown>[])[2]!["kvBytes"], /steps\[2\]\.kvBytes/],
    ["no writes", (t) => delete (t["steps"] as Record<string, unknown>[])[1]!["writes"], /steps\[1\]\.writes/],
    ["t goes back", (t) => ((t["steps"] as Record<string, unknown>[])[3]!["t"] = 0), /steps\[3\]\.t = 0 does not increase/],
    ["t past the horizon", (t) => ((t["horizon"] as number) = 5), /past the horizon/],
    ["writes decrease", (t) => { const s = t["steps"] as Record<string, number>[]; s[s.length - 1]!["writes"] = 0; }, /writes = 0 decreases/],
    ["a lost write", (t) => { const s = t["steps"] as Record<string, number>[]; const i = s.findIndex((x, k) => k > 0 && x["writes"]! > s[k - 1]!["writes"]!); s[i]!["g"] = 0; }, /writes since the previous kept step but g = 0/],
    ["g not 0/1", (t) => ((t["steps"] as Record<string, unknown>[])[0]!["g"] = 0.5), /steps\[0\]\.g must be 0 or 1/],
    ["no horizon", (t) => delete t["horizon"], /trace\.horizon/],
    ["every 0", (t) => ((t["every"] = 0)), /trace\.every/],
    ["no cues", (t) => delete t["cues"], /trace\.cues must be an array/],
    ["cue names no cube", (t) => ((t["cues"] as Record<string, unknown>[])[1]!["cube"] = 3), /cues\[1\]\.cube = 3 names no cube/],
    ["cue success not boolean", (t) => ((t["cues"] as Record<string, unknown>[])[0]!["success"] = "yes"), /cues\[0\]\.success/],
    ["no bodies", (t) => delete t["bodies"], /trace\.bodies/],
    ["one zone centre for two zones", (t) => ((t["bodies"] as Record<string, unknown>)["zoneXY"] = [[0.5, 0.1]]), /zoneXY must hold one \[x, y\] per zone/],
    ["negative zone radius", (t) => ((t["bodies"] as Record<string, unknown>)["zoneRadius"] = -1), /zoneRadius must be > 0/],
    ["version 3", (t) => ((t["version"] = 3)), /version 3 is not supported/],
  ];
  for (const [what, mutate, re] of broken) {
    const t = good();
    mutate(t);
    assert.throws(() => parseTrace(t), (e: unknown) => e instanceof FormatError && re.test((e as Error).message), what);
  }
  // version 1: no horizon / every / cues / kvBytes needed; a malformed optional bodies field is ignored
  const v1 = { format: "aura-sim-trace", version: 1, task: "cue-place", arm: "aura", seed: 1, controlHz: 20, bodies: "?", steps: [0, 1, 2].map((t) => ({ t, q: [0, 0, 0, 0, 0, 0, 0, 0, 0], ee: [0.5, 0, 0.2], cubes: [], cue: t === 1 ? 3 : t === 2 ? -1 : 0, p: 0.2, g: t === 1 ? 1 : 0, writes: t >= 1 ? 1 : 0, stateBytes: 4224 })), success: true };
  const r1 = parseTrace(v1);
  assert.equal(r1.version, 1);
  assert.equal(r1.every, 1);
  assert.equal(r1.horizon, 2);
  assert.deepEqual(r1.cues, []);
  assert.equal(r1.bodies, null);
  assert.equal(r1.extra["bodies"], "?");
  assert.equal(r1.steps[0]!.kvBytes, undefined);
});

test("cueShown / flickerShown: -1 is a flicker, not a cue; stepIndexAt finds the last kept step at or before t", () => {
  assert.equal(cueShown(-1), false);
  assert.equal(flickerShown(-1), true);
  assert.equal(cueShown(4), true);
  assert.equal(flickerShown(4), false);
  assert.equal(cueShown(true), true);
  assert.equal(cueShown(0), false);
  const steps = [0, 4, 8, 13, 14, 16].map((t) => ({ t }));
  assert.deepEqual([-3, 0, 3, 4, 12, 13, 15, 16, 99].map((t) => stepIndexAt(steps, t)), [0, 0, 0, 1, 2, 3, 4, 5, 5]);
});

// ------------------------------------------------------------------------------------------------
// with the simulator
// ------------------------------------------------------------------------------------------------

testNeeding(PANDA, "runStreamArmEpisode with a trace: the same episode as without, every cue step kept, the bytes and writes add up, deterministic", { timeout: 120_000 }, async () => {
  const { TabletopEnv, ACTION_DIM } = await import("../src/sim/env.js");
  const { BasePolicy } = await import("../src/sim/policy.js");
  const { runStreamArmEpisode } = await import("../src/sim/stream.js");
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  try {
    const base = new BasePolicy(ops, { hidden: 16, seed: 3 });
    const config = new MemoryConfig({ dModel: 16, dAction: ACTION_DIM, actionKind: "continuous", seed: 4 });
    const model = new SequenceModel(armSpec("aura", config), ops);
    const arm = { name: "aura", model };
    const H = 520;
    const traceOpts = { every: 5, kvBytes: kvCacheBytesFn(config, ops), kvDims: { dKey: config.dKey, dVal: config.dVal } };
    const plain = runStreamArmEpisode(env, 1_000_000, H, base, arm);
    const traced = runStreamArmEpisode(env, 1_000_000, H, base, arm, {}, traceOpts);
    assert.equal(plain.trace, undefined);
    assert.deepEqual(traced.cues, plain.cues, "tracing does not change the episode");
    assert.equal(traced.writes, plain.writes);
    const tr = traced.trace!;
    assert.ok(tr.steps.length > H / 5 && tr.steps.length < H / 5 + 20, `${tr.steps.length} kept steps`);
    const last = tr.steps[tr.steps.length - 1]!;
    assert.equal(last.t, H);
    assert.equal(last.writes, plain.writes, "no write lost");
    assert.ok(plain.writes > 0, "the untrained gate writes somewhere");
    assert.equal(last.kvBytes, H * 256);
    assert.ok(tr.steps.every((s) => s.stateBytes === 4224), "AURA flat at 4,224 B");
    const plan = env.plan;
    assert.equal(tr.cues.length, plan.cues.length);
    for (const c of plan.cues) for (let t = c.step; t < c.step + 6; t++) assert.ok(tr.steps.some((s) => s.t === t && s.cue === 1 + c.goalIndex), `cue step ${t} kept`);
    assert.deepEqual(tr.cues.map((c) => c.success), plain.cues.map((c) => c.success));
    assert.deepEqual(tr.gate, { writes: plain.writes, cueWrites: plain.cueWrites, distractorWrites: plain.distractorWrites });
    assert.equal(parseTrace(JSON.stringify(tr)).steps.length, tr.steps.length);
    const again = runStreamArmEpisode(env, 1_000_000, H, base, arm, {}, traceOpts);
    assert.equal(JSON.stringify(again.trace), JSON.stringify(tr), "deterministic");
  } finally {
    env.dispose();
  }
});

testNeeding(PANDA, "aura sim-stream --arms ... --trace writes the chosen evaluation episode's trace; bad trace options are refused", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-stream-trace-"));
  try {
    const file = join(dir, "t.json");
    const H = 520;
    const args = ["sim-stream", "--arms", "no-memory,aura", "--episodes", "2", "--demos", "4", "--demo-horizon", "520", "--window", "100", "--arm-steps", "2", "--arm-batch", "2", "--base-epochs", "1", "--horizon", String(H), "--workers", "0", "--robot-dir", ROBOT, "--trace", file, "--trace-every", "10", "--trace-episode", "1"];
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /wrote .*t\.json: aura, seed 1000001, \d+ of 520 steps kept \(every 10 \+ cue steps\)/);
    const tr = parseTrace(readFileSync(file, "utf8"));
    assert.equal(tr.version, 2);
    assert.equal(tr.arm, "aura");
    assert.equal(tr.seed, 1_000_001, "the second evaluation episode");
    assert.equal(tr.every, 10);
    assert.equal(tr.horizon, H);
    const src = tr.extra["source"] as Record<string, unknown>;
    assert.equal(src["command"], "aura sim-stream");
    assert.equal(src["armSteps"], 2);
    assert.equal(src["robotDir"], undefined, "no machine path in the trace");
    const fail = (extra: string[], re: RegExp): void => {
      const b = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--robot-dir", ROBOT, "--workers", "0", ...extra], { encoding: "utf8" });
      assert.notEqual(b.status, 0);
      assert.match(b.stderr + b.stdout, re);
    };
    fail(["--policies", "expert", "--trace", file], /--trace, --trace-arm and --trace-episode need --arms/);
    fail(["--policies", "expert", "--trace-episode", "1"], /need --arms/);
    fail(["--arms", "aura", "--trace", file, "--trace-arm", "gru"], /trace arm "gru" is not among the arms/);
    fail(["--arms", "aura", "--trace-arm", "aura"], /--trace-arm needs --trace/);
    fail(["--arms", "aura", "--episodes", "2", "--trace", file, "--trace-episode", "2"], /trace episode must be an integer in \[0, 1\]/);
    fail(["--arms", "aura", "--trace-episode", "1"], /--trace-episode needs --trace/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
