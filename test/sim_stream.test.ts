/**
 * cue-stream, the continual closed-loop task: the plan's schedule (cues every 20-40 s, flickers and
 * nudges between them), per-cue scoring that can fail (a still robot scores nothing), the zones cleared
 * at each new cue, determinism, the cue channel decoded by the reference policies, and the references
 * themselves: the privileged expert and the cue-reading policy solve every cue, the uniform guess does
 * not. Reads the Menagerie Panda from ../shared/models/franka_emika_panda (skipped, saying so, only when
 * absent; under CI=true a missing input fails).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ConfigError } from "aura-mem/errors";
import { testNeeding, type OptionalInput } from "./helpers.js";
import { STREAM, STREAM_TASK, TASK_INFO, TabletopEnv, planEpisode } from "../src/sim/env.js";
import { Expert } from "../src/sim/expert.js";
import { ZONE_RADIUS, ZONE_XY } from "../src/sim/scene.js";
import { readCue, runStreamEpisode, summariseStream, type StreamArmEpisode } from "../src/sim/stream.js";
import { EVAL_SEED_BASE, expertEpisode, learnerEpisode, residualSource, type Demo } from "../src/sim/demos.js";
import { DECOY_SEED_BASE } from "../src/sim/dagger.js";
import { BasePolicy } from "../src/sim/policy.js";
import { dropIdle, SIM_ARMS } from "../src/sim/jobs.js";
import { checkEvalSeeds, checkStreamPanelOptions, defaultStreamPanelOptions, streamPanelRecipe, streamPanelTable, summariseStreamPanel, type StreamPanelRun } from "../src/sim/stream_panel.js";
import { DEFAULT_LAMBDA_W } from "../src/sim/panel.js";
import { ACTION_DIM, OBS_DIM } from "../src/sim/env.js";
import { naiveOps } from "aura-mem/ops/index";
import { Rng } from "aura-mem/util/rng";
import { StepType } from "../src/tasks/types.js";

const ROBOT = "../shared/models/franka_emika_panda";
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };

let envP: Promise<TabletopEnv> | null = null;
const env = (): Promise<TabletopEnv> => (envP ??= TabletopEnv.create(ROBOT));

test("cue-stream plan: a cue every 20-40 s, the last with >= 20 s left; two flickers and one nudge between cues, off the cue steps; deterministic", () => {
  const info = TASK_INFO[STREAM_TASK];
  assert.equal(info.horizon, 12000, "10 minutes at 20 Hz");
  for (const seed of [0, 1, 2, 1000003]) {
    const p = planEpisode(STREAM_TASK, seed);
    assert.deepEqual(planEpisode(STREAM_TASK, seed), p, "same seed, same plan");
    assert.equal(p.horizon, 12000);
    assert.ok(p.cues.length >= 12000 / 800 - 1 && p.cues.length <= 12000 / 400 + 1, `${p.cues.length} cues`);
    assert.ok(p.cues[0]!.step >= STREAM.firstCue[0] && p.cues[0]!.step < STREAM.firstCue[1]);
    for (let i = 1; i < p.cues.length; i++) {
      const gap = p.cues[i]!.step - p.cues[i - 1]!.step;
      assert.ok(gap >= 400 && gap <= 800, `gap ${gap}`);
    }
    assert.ok(p.cues[p.cues.length - 1]!.step + STREAM.minLast <= p.horizon);
    assert.ok(p.cues.every((c) => c.goalIndex >= 0 && c.goalIndex < 6 && c.goal.cubes[0] === Math.floor(c.goalIndex / 2) && c.goal.zones[0] === c.goalIndex % 2));
    assert.equal(p.flickers.length, 2 * p.cues.length);
    assert.equal(p.nudges.length, p.cues.length);
    const busy = new Set<number>();
    for (const c of p.cues) for (let t = c.step; t < c.step + STREAM.quiet; t++) busy.add(t);
    for (const f of [...p.flickers, ...p.flickers.map((f) => f + 1), ...p.nudges]) assert.ok(!busy.has(f), `distractor at ${f} inside a cue's quiet window`);
    assert.ok(new Set(p.cues.map((c) => c.goalIndex)).size > 1, "cues name different goals");
  }
  assert.notDeepEqual(planEpisode(STREAM_TASK, 5).cues, planEpisode(STREAM_TASK, 6).cues);
  assert.equal(planEpisode(STREAM_TASK, 0, 3000).horizon, 3000);
  assert.throws(() => planEpisode(STREAM_TASK, 0, 100), ConfigError);
  assert.throws(() => planEpisode(STREAM_TASK, 0, 1000.5), ConfigError);
  assert.throws(() => planEpisode("cue-place", 0, 500), ConfigError, "the short tasks have a fixed horizon");
  assert.equal(planEpisode("cue-place", 0).cues.length, 1);
});

testNeeding(PANDA, "cue-stream env: cue steps typed and decoded exactly, flickers read as no cue, per-cue scoring, zones cleared at each new cue, same seed same trajectory", {}, async () => {
  const e = await env();
  const H = 2000;
  const roll = (seed: number): { obs: number[][]; types: number[]; codes: number[]; read: number[] } => {
    e.reset(STREAM_TASK, seed, H);
    const ex = new Expert(e);
    ex.reset();
    const out = { obs: [] as number[][], types: [e.stepType], codes: [e.cueCode], read: [] as number[] };
    let o = e.reset(STREAM_TASK, seed, H);
    ex.reset();
    out.read.push(readCue(o));
    while (!e.done) {
      o = e.step(ex.act());
      out.obs.push([...o]);
      out.types.push(e.stepType);
      out.codes.push(e.cueCode);
      out.read.push(readCue(o));
    }
    return out;
  };
  const seed = 1000001;
  const a = roll(seed);
  const plan = e.plan;
  const outcomes = e.cueOutcomes();
  assert.deepEqual(roll(seed).obs, a.obs, "same seed must give the same trajectory, bit for bit");
  const k = TASK_INFO[STREAM_TASK].cueSteps;
  const cueAt = new Map<number, number>();
  for (const c of plan.cues) for (let t = c.step; t < c.step + k; t++) cueAt.set(t, c.goalIndex);
  for (let t = 0; t <= H; t++) {
    const g = cueAt.get(t);
    if (g !== undefined) {
      assert.equal(a.types[t], StepType.event, `step ${t}`);
      assert.equal(a.codes[t], 1 + g);
      assert.equal(a.read[t], g, `the cue channel at step ${t} names goal ${g}`);
    } else {
      assert.notEqual(a.types[t], StepType.event, `step ${t} is no cue`);
      assert.equal(a.read[t], -1, `nothing to read at step ${t}`);
    }
  }
  for (const f of plan.flickers) {
    assert.equal(a.types[f], StepType.distractor);
    assert.equal(a.codes[f], -1);
  }
  // every cue scored once, in order, just before the next cue (the last at the end); the expert solves them
  assert.equal(outcomes.length, plan.cues.length);
  outcomes.forEach((o, i) => {
    assert.equal(o.cue, i);
    assert.equal(o.scoredAt, i + 1 < plan.cues.length ? plan.cues[i + 1]!.step : H);
    assert.ok(o.success && o.placed, `cue ${i} (goal ${o.goalIndex}) failed under the expert`);
  });
  // at each later cue the placed cube is back outside the zones: no cube lies in a zone while a cue shows
  for (const c of plan.cues.slice(1)) {
    const o = a.obs[c.step - 1]!; // observation at step c.step
    for (let cube = 0; cube < 3; cube++) {
      const x = o[26 + 7 * cube]!;
      const y = o[27 + 7 * cube]!;
      for (const [zx, zy] of ZONE_XY) assert.ok(Math.hypot(x - zx, y - zy) > ZONE_RADIUS, `cube ${cube} in a zone at the cue of step ${c.step}`);
    }
  }
  assert.throws(() => e.step([0, 0, 0, 0, 0, 0, 0]), ConfigError, "no step after the end of the episode");
  // the diagnostic with the cue left on: the channel names the current goal between cues (not during a
  // flicker) and the step types are those of the normal episode
  {
    let o = e.reset(STREAM_TASK, seed, H, { cueAlwaysOn: true });
    const ex = new Expert(e);
    ex.reset();
    const flick = new Set(plan.flickers.flatMap((f) => [f, f + 1]));
    for (let t = 0; t <= H; t++) {
      const cur = plan.cues.filter((c) => c.step <= t).pop();
      if (cur && !flick.has(t)) assert.equal(readCue(o), cur.goalIndex, `step ${t}: the cue stays on`);
      else if (!cur) assert.equal(readCue(o), -1);
      assert.equal(e.stepType, a.types[t], `step ${t}: same step type as without the diagnostic`);
      if (t < H) o = e.step(ex.act());
    }
  }
  // a robot that never moves places nothing: every cue fails
  e.reset(STREAM_TASK, seed, H);
  while (!e.done) e.step([0, 0, 0, 0, 0, 0, -1]);
  const still = e.cueOutcomes();
  assert.equal(still.length, plan.cues.length);
  assert.ok(still.every((o) => !o.success && !o.placed));
});

testNeeding(PANDA, "cue-stream references: the expert and the cue-reading policy solve every cue; the uniform guess is far below (chance 1/6)", {}, async (t) => {
  const e = await env();
  const H = 2400;
  const seeds = [1000000, 1000002, 1000003, 1000004];
  const run = (policy: "expert" | "cue-memory" | "guess") => summariseStream(seeds.map((s) => runStreamEpisode(e, s, H, policy)));
  const ex = run("expert");
  const mem = run("cue-memory");
  const guess = run("guess");
  t.diagnostic(`expert ${ex.success.p.toFixed(3)}, cue-memory ${mem.success.p.toFixed(3)}, guess ${guess.success.p.toFixed(3)} over ${ex.cues} cues`);
  assert.equal(ex.cues, mem.cues);
  assert.ok(ex.cues >= 12);
  assert.ok(ex.success.p >= 0.9, `expert ${ex.success.p}`);
  assert.ok(mem.success.p >= 0.9, `cue-memory ${mem.success.p}`);
  assert.ok(guess.success.p <= 0.45, `guess ${guess.success.p}: it must not read the cue`);
  assert.ok(guess.success.ci95[1] < mem.success.ci95[0] || guess.success.p < mem.success.p - 0.4);
  assert.throws(() => runStreamEpisode(e, 0, H, "oracle" as never), ConfigError);
});

testNeeding(PANDA, "aura sim-stream (the CLI): table and JSON with per-cue outcomes", {}, () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-stream-"));
  try {
    const json = join(dir, "s.json");
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--policies", "expert,guess", "--episodes", "2", "--horizon", "600", "--workers", "0", "--robot-dir", ROBOT, "--json", json], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\| expert \| \d+ \|/);
    assert.match(r.stdout, /\| guess \| \d+ \|/);
    const res = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(res.task, "cue-stream");
    assert.equal(res.horizon, 600);
    for (const p of ["expert", "guess"]) {
      const s = res.policies[p];
      assert.equal(s.episodes, 2);
      assert.equal(s.episodeOutcomes.length, 2);
      assert.ok(s.success.ci95[0] <= s.success.p && s.success.p <= s.success.ci95[1]);
      assert.equal(s.cues, s.episodeOutcomes.reduce((a: number, e: { cues: unknown[] }) => a + e.cues.length, 0));
    }
    const bad = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--policies", "oracle", "--robot-dir", ROBOT], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr + bad.stdout, /unknown policy "oracle"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("residualSource windows: W-step slices of whole-demo features and residual targets; validation = consecutive windows; bad windows refused", () => {
  const ops = naiveOps();
  const base = new BasePolicy(ops, { hidden: 8, seed: 3 });
  const rng = new Rng(11);
  const demo = (seed: number, T: number): Demo => ({
    task: STREAM_TASK,
    seed,
    T,
    obs: Float32Array.from({ length: T * OBS_DIM }, () => rng.normal()),
    act: Float32Array.from({ length: T * ACTION_DIM }, () => rng.normal()),
    stepType: Uint8Array.from({ length: T }, (_, t) => (t % 7 === 0 ? StepType.event : StepType.background)),
    goal: new Int16Array(T),
    success: true,
  });
  const train = [demo(0, 50), demo(1, 63)];
  const val = [demo(2, 45)];
  const W = 20;
  const src = residualSource(base, train, val, { window: W });
  const full = train.map((d) => ({ d, f: base.forward(d.obs, d.T) }));
  const b = src.sample(new Rng(5), 6);
  assert.equal(b.T, W);
  assert.equal(b.B, 6);
  assert.equal(b.dModel, 8);
  for (let r = 0; r < b.B; r++) {
    // find the demo and offset this window came from by its features, then check targets and step types
    const zr = b.z.subarray(r * W * 8, (r + 1) * W * 8);
    const hit = full.flatMap(({ d, f }) => Array.from({ length: d.T - W + 1 }, (_, off) => ({ d, f, off }))).find(({ f, off }) => f.z.subarray(off * 8, (off + W) * 8).every((v, i) => v === zr[i]));
    assert.ok(hit, `window ${r} is a slice of a training demo`);
    for (let i = 0; i < W * ACTION_DIM; i++) {
      const j: number = hit.off * ACTION_DIM + i;
      assert.equal(b.target![r * W * ACTION_DIM + i], Math.fround(hit.d.act[j]! - hit.f.action[j]!));
    }
    assert.deepEqual([...b.stepType.subarray(r * W, (r + 1) * W)], [...hit.d.stepType.subarray(hit.off, hit.off + W)]);
  }
  const ev = src.evalSet("val", 100);
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.B, Math.floor(45 / W));
  const vf = base.forward(val[0]!.obs, 45);
  assert.deepEqual([...ev[0]!.z.subarray(W * 8, 2 * W * 8)], [...vf.z.subarray(W * 8, 2 * W * 8)], "the second validation window starts at step W");
  // carried-state streams: consecutive steps of one demo, as long as asked
  assert.equal(src.horizon, W);
  const st = src.sampleStream!(new Rng(9), 3 * W);
  assert.equal(st.B, 1);
  assert.equal(st.T, 3 * W);
  const from = full.find(({ d }) => d.T >= 3 * W && Array.from({ length: d.T - 3 * W + 1 }).some((_, off) => base.forward(d.obs, d.T).z.subarray(off * 8, (off + 3 * W) * 8).every((v, i) => v === st.z[i])));
  assert.ok(from, "a stream is a contiguous slice of one demonstration");
  assert.throws(() => src.sampleStream!(new Rng(9), 64), ConfigError, "longer than every demonstration");
  assert.throws(() => residualSource(base, train, val, { window: 64 }), ConfigError, "a window longer than a demo");
  assert.throws(() => residualSource(base, train, val, { window: 0 }), ConfigError);
  assert.throws(() => residualSource(base, train, val, { window: 2.5 }), ConfigError);
});

testNeeding(PANDA, "cue-stream demonstrations: clean labels, perturbed execution, the clean expert places every cue", {}, async () => {
  const e = await env();
  const clean = expertEpisode(e, STREAM_TASK, 3, false, 1500);
  const cleanCues = e.cueOutcomes();
  const pert = expertEpisode(e, STREAM_TASK, 3, true, 1500);
  assert.equal(clean.T, 1500);
  assert.equal(clean.obs.length, 1500 * OBS_DIM);
  assert.ok(cleanCues.length >= 2 && cleanCues.every((c) => c.success), "the unperturbed expert solves every cue");
  const events = [...clean.stepType].filter((x) => x === StepType.event).length;
  assert.equal(events, cleanCues.length * TASK_INFO[STREAM_TASK].cueSteps);
  assert.notDeepEqual([...pert.obs.subarray(0, 200 * OBS_DIM)], [...clean.obs.subarray(0, 200 * OBS_DIM)], "perturbations change the visited states");
  assert.deepEqual([...pert.stepType].filter((x) => x === StepType.event).length, events, "same cue schedule");
});

testNeeding(PANDA, "aura sim-stream --all (the CLI): the measured panel's recipe with explicit options winning; every learned arm through demos, base, carried-state training and whole-stream episodes; writes, bytes and per-cue figures", {}, () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-stream-arms-"));
  try {
    const json = join(dir, "out", "s.json");
    const H = 900;
    // --all: every arm, goal role, 1 DAgger round, 10% idle steps; the sizes below given explicitly win
    const args = ["sim-stream", "--all", "--arms", "aura", "--demos", "5", "--demo-horizon", "800", "--window", "300", "--stream-windows", "2", "--base-epochs", "1"];
    args.push("--arm-steps", "2", "--arm-batch", "2", "--episodes", "1", "--horizon", String(H), "--first-seed", "3000000", "--gate-threshold", "0.6", "--workers", "2", "--robot-dir", ROBOT, "--json", json);
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const a of [...SIM_ARMS, "goal-oracle"]) assert.match(r.stdout, new RegExp(`\\| ${a} \\| `));
    assert.match(r.stdout, /goal role/);
    assert.match(r.stderr, /dagger 1 base 1\/1 val mse [\d.]+ on 8 streams/, "3 training demonstrations + the base's own 5 rollouts after one DAgger round");
    const res = JSON.parse(readFileSync(json, "utf8"));
    assert.deepEqual(res.policies, {}, "no scripted policies unless asked for");
    const o = res.learned.options;
    assert.deepEqual(
      [o.arms, o.armRole, o.baseIdleKeep, o.daggerRounds, o.lambdaW, o.streamRecipe, o.gateThreshold],
      [[...SIM_ARMS], "goal", streamPanelRecipe().baseIdleKeep, 1, DEFAULT_LAMBDA_W.goal, true, 0.6],
      "the recipe where nothing was given (--arms is overridden by --all), AURA's threshold as given",
    );
    assert.equal(streamPanelRecipe().gateThreshold, 0.5, "the recipe's own threshold, overridden above");
    assert.deepEqual([o.episodes, o.demos, o.streamWindows, o.armSteps], [1, 5, 2, 2], "explicit options win over the recipe");
    const rows = Object.fromEntries(res.learned.summary.map((x: { arm: string }) => [x.arm, x]));
    assert.equal(rows["no-memory"].writesPerEpisode, 0);
    assert.equal(rows["always-write"].writesPerEpisode, H);
    assert.equal(rows["always-write"].writesPerMinute, 1200);
    assert.equal(rows["always-write"].stateBytesEnd, 4224);
    assert.equal(rows["aura"].stateBytesEnd, 4224);
    assert.equal(rows["kv-cache"].stateBytesEnd, H * (32 + 32) * 4, "the KV cache grows by one (k, v) entry per step");
    assert.equal(rows["kv-cache"].stateBytesStart, (32 + 32) * 4);
    assert.equal(rows["gru"].stateBytesEnd, 128);
    assert.equal(rows["kv-window"].writesPerEpisode, H);
    assert.equal(rows["kv-window"].stateBytesEnd, 16 * (32 + 32) * 4, "the window keeps the last 16 (k, v) entries: 4,096 B");
    for (const a of Object.values(rows) as { cues: number; success: { p: number; ci95: number[] } }[]) {
      assert.ok(a.cues >= 1);
      assert.ok(a.success.ci95[0] <= a.success.p && a.success.p <= a.success.ci95[1]);
    }
    assert.equal(res.learned.demos.n, 5);
    assert.equal(res.learned.demos.steps, 5 * 800);
    assert.deepEqual(res.learned.evalSeeds, [3_000_000, 3_000_000], "--first-seed moves the learned arms' evaluation seeds (held out)");
    for (const ep of res.learned.arms["aura"].episodes) assert.equal(ep.seed, 3_000_000);
    for (const ep of res.learned.goalOracle) assert.equal(ep.seed, 3_000_000, "the goal oracle runs on the same seeds");
    const bad = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--arms", "aura", "--window", "5000", "--robot-dir", ROBOT], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr + bad.stdout, /window 5000 is longer than the demonstrations/);
    const bad2 = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--arms", "aura", "--window", "800", "--stream-windows", "4", "--robot-dir", ROBOT], { encoding: "utf8" });
    assert.notEqual(bad2.status, 0);
    assert.match(bad2.stderr + bad2.stdout, /streamWindows x window = 3200 steps is longer than the demonstrations \(2400 steps\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("checkEvalSeeds: held-out evaluation seeds only (disjoint from demonstrations, DAgger visits and decoys)", () => {
  assert.doesNotThrow(() => checkEvalSeeds(EVAL_SEED_BASE, 20));
  assert.doesNotThrow(() => checkEvalSeeds(DECOY_SEED_BASE - 20, 20), "the last seed below the decoys");
  assert.doesNotThrow(() => checkEvalSeeds(3_000_000, 20));
  assert.throws(() => checkEvalSeeds(DECOY_SEED_BASE - 19, 20), /evaluation seeds 1999981-2000000 must lie in/, "one seed among the decoys");
  assert.throws(() => checkEvalSeeds(2_500_000, 1), ConfigError, "a decoy seed");
  assert.throws(() => checkEvalSeeds(2_999_999, 1), ConfigError, "the last decoy seed");
  assert.throws(() => checkEvalSeeds(1_000_000, 20, 1_000_001), ConfigError, "among the demonstrations' seeds");
  assert.throws(() => checkEvalSeeds(999_999, 1), ConfigError, "a DAgger visit seed's range");
  assert.throws(() => checkEvalSeeds(0, 20), ConfigError, "the demonstrations' seeds");
  assert.throws(() => checkEvalSeeds(1_000_000.5, 1), ConfigError);
  assert.throws(() => checkEvalSeeds(0x7fffffff, 2), ConfigError, "past 2^31 - 1");
  assert.throws(() => checkStreamPanelOptions({ ...defaultStreamPanelOptions(), firstEvalSeed: 150_000 }), /evaluation seeds 150000-150009/, "the panel checks it before anything starts");
});

test("aura sim-stream --all: an explicit AURA option wins over the recipe (a bad --gate-threshold is refused before anything starts, not replaced by the recipe's 0.5)", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim-stream", "--all", "--gate-threshold", "1.5", "--robot-dir", join(tmpdir(), "no-such-robot")], { encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /gateThreshold must be null or a number in \(0, 1\), got 1\.5/);
});

test("dropIdle: every moving step kept, a seeded fraction of the idle ones; 1 keeps all; bad fractions refused", () => {
  const n = 400;
  const rng = new Rng(2);
  const act = new Float32Array(n * ACTION_DIM);
  const obs = Float32Array.from({ length: n * 3 }, (_, i) => i);
  const moving: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) {
      act[i * ACTION_DIM] = 0.5; // moves
      moving.push(i);
    } else {
      act[i * ACTION_DIM] = 0.01 * rng.normal(); // holds still, small jitter
      act[i * ACTION_DIM + 6] = -1; // gripper open: not motion
    }
  }
  assert.equal(dropIdle(obs, act, 1, 0).obs, obs, "keep = 1 is the identity");
  const none = dropIdle(obs, act, 0, 0);
  assert.deepEqual([...none.obs].filter((_, k) => k % 3 === 0).map((v) => v / 3), moving, "keep = 0: exactly the moving rows, in order");
  assert.equal(none.act.length, moving.length * ACTION_DIM);
  const half = dropIdle(obs, act, 0.5, 7);
  assert.deepEqual(dropIdle(obs, act, 0.5, 7).obs, half.obs, "deterministic for the seed");
  const kept = half.act.length / ACTION_DIM - moving.length;
  assert.ok(kept > 0.35 * 300 && kept < 0.65 * 300, `${kept} of 300 idle rows kept at 0.5`);
  assert.throws(() => dropIdle(obs, act, 1.5, 0), ConfigError);
  assert.throws(() => dropIdle(obs, act, -0.1, 0), ConfigError);
});

testNeeding(PANDA, "learnerEpisode (DAgger data): the learner's states labelled by the expert; beta = 1 replays the clean expert bit for bit", {}, async () => {
  const e = await env();
  const H = 700;
  const clean = expertEpisode(e, STREAM_TASK, 5, false, H);
  const replay = learnerEpisode(e, STREAM_TASK, 5, () => [0, 0, 0, 0, 0, 0, -1], { horizon: H, beta: 1 });
  assert.deepEqual([...replay.obs], [...clean.obs], "executing the expert's actions visits the expert's states");
  assert.deepEqual([...replay.act], [...clean.act]);
  const still = learnerEpisode(e, STREAM_TASK, 5, () => [0, 0, 0, 0, 0, 0, -1], { horizon: H });
  assert.equal(still.T, H);
  // the learner did not move: the TCP stays put; the labels still say where the expert would go
  const tcp = (k: number): number[] => [...still.obs.subarray(k * OBS_DIM + 19, k * OBS_DIM + 22)];
  assert.ok(Math.hypot(...tcp(H - 1).map((v, i) => v - tcp(0)[i]!)) < 0.01, "a still learner stays where it started");
  let moving = 0;
  for (let t = 0; t < H; t++) if (Math.hypot(still.act[t * ACTION_DIM]!, still.act[t * ACTION_DIM + 1]!, still.act[t * ACTION_DIM + 2]!) > 0.1) moving++;
  assert.ok(moving > 50, `the expert labels ask for motion on ${moving} of the learner's states`);
  assert.ok(!e.cueOutcomes().some((c) => c.success), "the still learner places nothing");
});

test("summariseStreamPanel: writes per minute over all episodes and in the median episode (a spree moves the mean only); write reduction vs always-write; the table shows both", () => {
  const H = 12_000; // 10 minutes at 20 Hz
  const ep = (arm: string, seed: number, writes: number, success: boolean[]): StreamArmEpisode => ({
    seed,
    arm,
    horizon: H,
    cues: success.map((ok, i) => ({ cue: i, step: 100 + 600 * i, scoredAt: 700 + 600 * i, goalIndex: i % 6, success: ok, placed: ok })),
    writes,
    cueWrites: [1, 2],
    distractorWrites: [writes - 1, 100],
    stateBytesStart: 4224,
    stateBytesEnd: 4224,
    armMsStart: 0.2,
    armMsEnd: 0.2,
    wallMs: 1,
  });
  const aura = [ep("aura", 1, 31, [true, true]), ep("aura", 2, 6546, [false, true]), ep("aura", 3, 40, [true, false])];
  const always = [1, 2, 3].map((s) => ep("always-write", s, H, [true, true]));
  const run = { arms: { aura: { arm: "aura", train: null, params: 0, episodes: aura }, "always-write": { arm: "always-write", train: null, params: 0, episodes: always } } } as unknown as StreamPanelRun;
  const rows = Object.fromEntries(summariseStreamPanel(run).map((r) => [r.arm, r]));
  const a = rows["aura"]!;
  assert.equal(a.writesPerEpisode, (31 + 6546 + 40) / 3);
  assert.equal(a.writesPerMinute, (31 + 6546 + 40) / 30);
  assert.equal(a.writesPerMinuteMedian, 4, "the median episode writes 40 times in 10 minutes");
  assert.equal(rows["always-write"]!.writesPerMinuteMedian, 1200);
  assert.equal(a.writeReduction, (3 * H) / (31 + 6546 + 40));
  assert.equal(a.success.p, 4 / 6);
  assert.match(streamPanelTable(Object.values(rows)), /\| aura \| .*\| 220\.6 \(4\.0\) \|/);
});
