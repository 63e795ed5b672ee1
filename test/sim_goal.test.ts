/**
 * The goal role of the closed-loop memory arms (src/sim/goal.ts, `aura sim --arm-role goal`): the real
 * observation hides the cue outside its steps, the arm's goal fills an empty cue channel with that goal's
 * spotlights (a shown cue or flicker is kept), the training data are the base's features of the real
 * observations labelled with the cued goal, and the visit / evaluation jobs run base + goal arm exactly as a
 * hand-written loop does. Reads the Menagerie Panda from ../shared/models/franka_emika_panda (skipped, saying
 * so, only when absent; under CI=true a missing input fails).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "aura-mem/errors";
import { MemoryConfig, STREAM_GATE_NORM, STREAM_GATE_THRESHOLD, STREAM_TRAIN_GATE_BAND, STREAM_WRITE_DECAY } from "aura-mem/config";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel } from "aura-mem/model/model";
import { naiveOps } from "aura-mem/ops/index";
import { Rng } from "aura-mem/util/rng";
import { StepType } from "../src/tasks/types.js";
import { testNeeding, type OptionalInput } from "./helpers.js";
import { CUE_DIM, OBS_DIM, OBS_LAYOUT, TASK_INFO, TabletopEnv, cueVector, goalOf } from "../src/sim/env.js";
import { currentGoal, expertEpisode, learnerEpisode, type Demo } from "../src/sim/demos.js";
import { BasePolicy } from "../src/sim/policy.js";
import { armGateSettings, armToData, runSimJob, SimContext, type ArmJobResult, type EvalJobResult } from "../src/sim/jobs.js";
import { CUE_FEATURES, argmax, cueFeatures, decoyGoals, goalArmDim, goalArmInput, goalSource, hideCue, stepGoalArm, withGoal } from "../src/sim/goal.js";
import { DECOY_SEED_BASE } from "../src/sim/dagger.js";
import { checkSimOptions, defaultSimOptions } from "../src/sim/panel.js";
import { summariseStreamPanel, type StreamPanelRun } from "../src/sim/stream_panel.js";
import type { StreamArmEpisode } from "../src/sim/stream.js";

const ROBOT = "../shared/models/franka_emika_panda";
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };
const C = OBS_LAYOUT.cue;

test("hideCue zeroes the cue channel at background steps only; withGoal fills an empty channel with the goal's spotlights and keeps a shown one", () => {
  const rng = new Rng(3);
  const T = 5;
  const obs = Float32Array.from({ length: T * OBS_DIM }, () => rng.normal());
  const st = Uint8Array.from([StepType.event, StepType.background, StepType.distractor, StepType.background, StepType.event]);
  const h = hideCue(obs, st);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < OBS_DIM; j++) {
      const hidden = st[t] === StepType.background && j >= C && j < C + CUE_DIM;
      assert.equal(h[t * OBS_DIM + j], hidden ? 0 : obs[t * OBS_DIM + j], `step ${t} value ${j}`);
    }
  assert.deepEqual([...hideCue(h, st)], [...h], "idempotent");
  assert.throws(() => hideCue(obs, new Uint8Array(4)), ConfigError);

  const one = h.slice(OBS_DIM, 2 * OBS_DIM); // a background step: empty channel
  for (const task of ["cue-place", "cue-sequence"] as const) {
    const g = 4;
    const filled = withGoal(task, one, g);
    const cubeXY = [0, 1, 2].map((k) => [one[OBS_LAYOUT.cubes + 7 * k]!, one[OBS_LAYOUT.cubes + 7 * k + 1]!]);
    const want = cueVector(task, goalOf(task, g), cubeXY);
    assert.deepEqual([...filled.subarray(C, C + CUE_DIM)], want.map((x) => Math.fround(x)));
    assert.deepEqual([...filled.subarray(0, C)], [...one.subarray(0, C)], "the rest of the observation unchanged");
    const shown = obs.slice(0, OBS_DIM);
    assert.equal(withGoal(task, shown, g), shown, "a shown cue (or flicker) is kept");
  }
  assert.equal(argmax([0.1, 3, 3, -1]), 1);
});

testNeeding(PANDA, "cueFeatures: at a cue the spotlights name the goal's cubes (and zone); a flicker keeps on = 0; nothing where no cue is shown; goalArmInput = base features then cue features", { timeout: 120_000 }, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  try {
    const base = new BasePolicy(ops, { hidden: 8, seed: 1 });
    for (const task of ["cue-sequence", "cue-place", "cue-stream"] as const) {
      const d = expertEpisode(env, task, 5, true, task === "cue-stream" ? 1500 : undefined);
      let cues = 0;
      let flickers = 0;
      for (let t = 0; t < d.T; t++) {
        const f = cueFeatures(d.obs, t * OBS_DIM);
        assert.equal(f.length, CUE_FEATURES);
        const shown = [...d.obs.subarray(t * OBS_DIM + C, t * OBS_DIM + C + CUE_DIM)].some((v) => v !== 0);
        if (!shown) {
          assert.ok(f.every((v) => v === 0), `${task} step ${t}: no cue, no features`);
          continue;
        }
        if (d.stepType[t] === StepType.event) {
          cues++;
          const goal = goalOf(task, d.goal[t]!);
          assert.equal(f[0], 1);
          // spotlight 1 on the goal's (first) cube; spotlight 2 on the second cube (cue-sequence) or on the zone
          assert.equal(f[1 + goal.cubes[0]!], 1, `${task} step ${t}: spotlight 1 on cube ${goal.cubes[0]}`);
          const k2 = task === "cue-sequence" ? goal.cubes[1]! : 3 + goal.zones[0]!;
          assert.equal(f[6 + k2], 1, `${task} step ${t}: spotlight 2 on target ${k2}`);
          assert.equal(f.subarray(1, 4).reduce((a, v) => a + v, 0), 1, "one cube under spotlight 1");
        } else if (d.stepType[t] === StepType.distractor) {
          flickers++;
          assert.equal(f[0], 0, "a flicker's on bit is off");
          assert.ok(f.subarray(1).some((v) => v === 1), "a flicker lights a cube too");
        }
      }
      assert.ok(cues > 0 && (task === "cue-place" || task === "cue-sequence" || flickers > 0), `${task}: ${cues} cue steps, ${flickers} flicker steps`);
      const x = goalArmInput(base, d.obs.subarray(0, 20 * OBS_DIM), 20);
      const z = base.forward(d.obs.subarray(0, 20 * OBS_DIM), 20).z;
      const D = goalArmDim(base);
      assert.equal(x.length, 20 * D);
      for (let t = 0; t < 20; t++) {
        assert.deepEqual([...x.subarray(t * D, t * D + 8)], [...z.subarray(t * 8, t * 8 + 8)]);
        assert.deepEqual([...x.subarray(t * D + 8, (t + 1) * D)], [...cueFeatures(d.obs, t * OBS_DIM)]);
      }
    }
    assert.throws(() => goalArmInput(base, new Float32Array(OBS_DIM + 1), 1), ConfigError);
  } finally {
    env.dispose();
  }
});

testNeeding(PANDA, "sim options: armRole is residual (default) or goal", {}, () => {
  const o = { ...defaultSimOptions(), robotDir: ROBOT };
  assert.equal(o.armRole, "residual");
  checkSimOptions({ ...o, armRole: "goal" });
  assert.throws(() => checkSimOptions({ ...o, armRole: "policy" as "goal" }), /armRole must be one of residual, goal/);
});

test("armGateSettings: the recipe's memory settings and band for AURA, training and its validation at 0.5 under any deployment threshold, nothing for other arms", () => {
  assert.deepEqual(armGateSettings({ arm: "aura" }), { memory: {}, train: {} });
  assert.deepEqual(armGateSettings({ arm: "aura", streamRecipe: true }), {
    memory: { writeDecay: STREAM_WRITE_DECAY, gateNorm: STREAM_GATE_NORM, gateThreshold: STREAM_GATE_THRESHOLD },
    train: { trainGateThreshold: 0.5, trainGateThresholdRange: STREAM_TRAIN_GATE_BAND },
  });
  assert.deepEqual(armGateSettings({ arm: "aura", streamRecipe: true, gateThreshold: 0.5 }).memory.gateThreshold, 0.5, "an explicit threshold wins over the recipe's");
  assert.deepEqual(armGateSettings({ arm: "aura", gateThreshold: 0.65 }), { memory: { gateThreshold: 0.65 }, train: { trainGateThreshold: 0.5, trainGateThresholdRange: null } });
  for (const arm of ["always-write", "gru", "kv-window"] as const) assert.deepEqual(armGateSettings({ arm, streamRecipe: true, gateThreshold: 0.65 }), { memory: {}, train: {} });
});

testNeeding(PANDA, "arm job: streamRecipe trains and runs AURA, and only AURA, with the stream recipe's write decay, gate norm input and deployment threshold; gateThreshold sets AURA's deployment threshold", { timeout: 120_000 }, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  const ctx = new SimContext(ops);
  try {
    const task = "cue-place" as const;
    const demos = [21, 22, 23].map((s) => expertEpisode(env, task, s, true, undefined, { cueAlwaysOn: true }));
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const job = { kind: "arm" as const, task, role: "goal" as const, base: base.toData(), train: demos.slice(0, 2), val: demos.slice(2), steps: 2, batchSize: 2, lambdaW: 2, seed: 3 };
    const fit = async (arm: "aura" | "gru", streamRecipe: boolean, gateThreshold?: number): Promise<ArmJobResult> =>
      (await runSimJob({ ...job, arm, streamRecipe, ...(gateThreshold !== undefined ? { gateThreshold } : {}) }, ctx)) as ArmJobResult;
    const recipe = (await fit("aura", true)).arm.config;
    assert.deepEqual([recipe.writeDecay, recipe.gateNorm, recipe.gateThreshold], [STREAM_WRITE_DECAY, STREAM_GATE_NORM, STREAM_GATE_THRESHOLD]);
    const plain = (await fit("aura", false)).arm.config;
    assert.deepEqual([plain.writeDecay, plain.gateNorm, plain.gateThreshold], [1, false, 0.5]);
    // a deployment threshold: AURA's config carries it (evaluation reads the config), with or without the recipe
    const at = (await fit("aura", true, 0.6)).arm.config;
    assert.deepEqual([at.writeDecay, at.gateThreshold], [STREAM_WRITE_DECAY, 0.6]);
    assert.equal((await fit("aura", false, 0.6)).arm.config.gateThreshold, 0.6);
    assert.equal((await fit("gru", false, 0.6)).arm.config.gateThreshold, 0.5, "the threshold is AURA's only");
    const gru = (await fit("gru", true)).arm.config;
    assert.deepEqual([gru.writeDecay, gru.gateNorm, gru.gateThreshold], [1, false, 0.5], "the recipe is AURA's only");
    assert.throws(() => checkSimOptions({ ...defaultSimOptions(), robotDir: ROBOT, streamRecipe: "yes" as unknown as boolean }), (e: unknown) => e instanceof ConfigError && /streamRecipe must be a boolean/.test(e.message));
    for (const bad of [0, 1, NaN]) assert.throws(() => checkSimOptions({ ...defaultSimOptions(), robotDir: ROBOT, gateThreshold: bad }), (e: unknown) => e instanceof ConfigError && /gateThreshold must be null or a number in \(0, 1\)/.test(e.message));
  } finally {
    env.dispose();
    await ctx.dispose();
  }
});

testNeeding(PANDA, "goalSource: the base's features of the real observations, labelled with the cued goal; recall accuracy read after the cue", {}, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  try {
    const task = "cue-sequence" as const;
    const demos = [11, 12, 13].map((s) => expertEpisode(env, task, s, true, undefined, { cueAlwaysOn: true }));
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const src = goalSource(base, demos.slice(0, 2), demos.slice(2), task);
    assert.equal(src.kind, "discrete");
    assert.equal(src.dAction, 6);
    const [b] = src.evalSet("val", 8);
    const d = demos[2]!;
    assert.equal(b!.B, 1);
    const x = goalArmInput(base, hideCue(d.obs, d.stepType), d.T);
    assert.equal(b!.dModel, 16 + CUE_FEATURES);
    assert.deepEqual([...b!.z], [...x], "the arm's input on the real observation (cue hidden outside its steps)");
    for (let t = 0; t < d.T; t++) {
      assert.equal(b!.label![t], d.goal[t], `label at ${t}`);
      assert.equal(b!.lossMask[t], d.goal[t]! >= 0 ? 1 : 0);
      assert.equal(b!.evalMask[t], d.goal[t]! >= 0 && d.stepType[t] !== StepType.event ? 1 : 0);
    }
    assert.ok(d.goal.every((g) => g === env.plan.goalIndex || g === -1) && d.goal[0] === env.plan.goalIndex, "one cue at step 0: every step names it");
    // with the cue visible the recorded observations carry it at background steps too
    const bg = [...d.stepType].findIndex((s, t) => t > 10 && s === StepType.background);
    assert.ok(d.obs[bg * OBS_DIM + C] === 1, "cueAlwaysOn demonstrations show the goal");
  } finally {
    env.dispose();
  }
});

testNeeding(PANDA, "goal role: visit and evaluation jobs run base + goal arm as the hand-written loop does (features of the real observation, the arm's goal filled in)", {}, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  const ctx = new SimContext(ops);
  try {
    const task = "cue-place" as const;
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const model = new SequenceModel(armSpec("gru", new MemoryConfig({ dModel: goalArmDim(base), dAction: TASK_INFO[task].nGoals, actionKind: "discrete", seed: 2 })), ops);
    const rng = new Rng(5);
    for (const p of Object.values(model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! + 0.5 * rng.normal();
    model.paramsChanged();
    const job = { kind: "visit" as const, task, seeds: [7], base: base.toData(), beta: 0.5, robotDir: ROBOT };
    const [goalVisit] = (await runSimJob({ ...job, model: armToData(model), role: "goal" }, ctx)) as Demo[];
    const [residualVisit] = (await runSimJob({ ...job, model: armToData(new SequenceModel(armSpec("gru", new MemoryConfig({ dModel: 16, dAction: 7, actionKind: "continuous", seed: 2 })), ops)) }, ctx)) as Demo[];
    let state = model.initState(1);
    const goals: number[] = [];
    const byHand = learnerEpisode(env, task, 7, (o) => {
      const r = stepGoalArm(task, base, model, o, state);
      state = r.state;
      goals.push(r.goal);
      return r.action;
    }, { beta: 0.5 });
    assert.deepEqual([...goalVisit!.obs], [...byHand.obs], "the visited states of base + goal arm");
    assert.notDeepEqual([...goalVisit!.obs], [...residualVisit!.obs]);
    assert.ok(new Set(goals).size >= 1 && goals.every((g) => g >= 0 && g < 6));
    // evaluation: the episode a goal-role eval job runs is the same closed loop (no expert actions: beta 0)
    const ev = (await runSimJob({ kind: "eval", task, arm: "gru", role: "goal", seeds: [9], base: base.toData(), model: armToData(model), companion: null, traceSeeds: [], probeEvery: 8, robotDir: ROBOT }, ctx)) as EvalJobResult;
    let s2 = model.initState(1);
    let writes = 0;
    const again = learnerEpisode(env, task, 9, (o) => {
      const r = stepGoalArm(task, base, model, o, s2);
      s2 = r.state;
      writes += r.g;
      return r.action;
    });
    assert.equal(ev.episodes[0]!.writes, writes, "every step of the GRU writes, in the job and by hand");
    assert.equal(ev.episodes[0]!.success, again.success);
    // the goal oracle: the base on the true goal (no model, no writes)
    const or = (await runSimJob({ kind: "eval", task, arm: "no-memory", role: "goal", oracleGoal: true, seeds: [9], base: base.toData(), model: null, companion: null, traceSeeds: [], probeEvery: 8, robotDir: ROBOT }, ctx)) as EvalJobResult;
    const truth = learnerEpisode(env, task, 9, (o) => base.forward(withGoal(task, o, currentGoal(env)), 1).action);
    assert.equal(or.episodes[0]!.writes, 0);
    assert.equal(or.episodes[0]!.success, truth.success);
    assert.equal(or.episodes[0]!.placed, [0, 1].filter((k) => k < env.plan.goal.cubes.length && env.cubeInZone(env.plan.goal.cubes[k]!, env.plan.goal.zones[k]!)).length, "the same final state as the hand-written loop");
  } finally {
    env.dispose();
    await ctx.dispose();
  }
});

test("goalSource on cue-stream windows: the 'no cue yet' class before the first cue, a window in the loss only from its first cue unless it starts the demo, carried-state segments alike", () => {
  const ops = naiveOps();
  const base = new BasePolicy(ops, { hidden: 8, seed: 3 });
  const rng = new Rng(11);
  const T = 60;
  // cues at steps 10 (goal 2) and 40 (goal 5), 3 steps each; a flicker at 25
  const stepType = Uint8Array.from({ length: T }, (_, t) => ((t >= 10 && t < 13) || (t >= 40 && t < 43) ? StepType.event : t === 25 ? StepType.distractor : StepType.background));
  const goal = Int16Array.from({ length: T }, (_, t) => (t < 10 ? -1 : t < 40 ? 2 : 5));
  const demo = (seed: number): Demo => ({ task: "cue-stream", seed, T, obs: Float32Array.from({ length: T * OBS_DIM }, () => rng.normal()), act: new Float32Array(T * 7), stepType, goal, success: true });
  const src = goalSource(base, [demo(0)], [demo(1)], "cue-stream", { window: 20 });
  assert.equal(src.dAction, 7, "6 goals + 'no cue yet'");
  const val = src.evalSet("val", 8);
  assert.equal(val.length, 1);
  const b = val[0]!;
  assert.equal(b.B, 3, "three consecutive 20-step windows");
  for (let k = 0; k < 3; k++)
    for (let t = 0; t < 20; t++) {
      const s = 20 * k + t;
      const inLoss = k === 0 || s >= 40; // window 0 starts the demo; window 1 (20-39) has no cue of its own; window 2 from step 40
      const want = !inLoss ? -1 : goal[s]! < 0 ? 6 : goal[s]!;
      assert.equal(b.label![k * 20 + t], want, `window ${k} step ${t}`);
      assert.equal(b.lossMask[k * 20 + t], inLoss ? 1 : 0);
      assert.equal(b.evalMask[k * 20 + t], inLoss && stepType[s] !== StepType.event ? 1 : 0);
    }
  const seg = src.sampleStream!(new Rng(2), 60);
  assert.equal(seg.T, 60);
  assert.deepEqual([...seg.label!.subarray(0, 10)], Array(10).fill(6), "a segment from the demo's start: 'no cue yet' before the first cue");
  assert.throws(() => goalSource(base, [demo(0)], [demo(1)], "cue-stream", { window: 61 }), ConfigError);
  const empty = hideCue(demo(2).obs, stepType).subarray(30 * OBS_DIM, 31 * OBS_DIM); // a background step: no cue shown
  assert.equal(withGoal("cue-stream", empty, 6), empty, "'no cue yet' leaves the observation as it is");
  assert.notEqual(withGoal("cue-stream", empty, 3), empty, "a goal fills the empty channel");
});

testNeeding(PANDA, "goal oracle on cue-stream: the stream-eval job runs the base on the true current goal as the hand-written loop does (no memory, no writes); the panel summary lists it after the arms", { timeout: 120_000 }, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  const ctx = new SimContext(ops);
  try {
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const H = 600;
    const [ep] = (await runSimJob({ kind: "stream-eval", task: "cue-stream", arm: "no-memory", oracleGoal: true, role: "goal", seeds: [3], horizon: H, base: base.toData(), model: null, robotDir: ROBOT }, ctx)) as StreamArmEpisode[];
    let obs = env.reset("cue-stream", 3, H);
    let filled = 0;
    let before = 0;
    for (let t = 0; t < H; t++) {
      const g = currentGoal(env);
      const o = withGoal("cue-stream", obs, g);
      if (o !== obs) filled++;
      if (g < 0) before++;
      obs = env.step(Array.from(base.forward(o, 1).action));
    }
    assert.ok(filled > 0 && before > 0, "the run fills the goal after the first cue and leaves the steps before it as they are");
    assert.equal(ep!.arm, "goal-oracle");
    assert.equal(ep!.writes, 0);
    assert.equal(ep!.stateBytesEnd, 0);
    assert.ok(ep!.cues.length > 0);
    assert.deepEqual(ep!.cues, env.cueOutcomes(), "the same per-cue outcomes as the hand-written loop");
    const jobEnv = await ctx.env(ROBOT);
    assert.deepEqual([...jobEnv.positions()], [...env.positions()], "the same final state as the hand-written loop");
    // the panel's summary: the arms, then the oracle (memoryless: no write probabilities, no write reduction)
    const noMem = (await runSimJob({ kind: "stream-eval", task: "cue-stream", arm: "no-memory", role: "goal", seeds: [3], horizon: H, base: base.toData(), model: null, robotDir: ROBOT }, ctx)) as StreamArmEpisode[];
    assert.notDeepEqual([...(await ctx.env(ROBOT)).positions()], [...env.positions()], "without the oracle's goal the same base ends elsewhere");
    const run = { arms: { "no-memory": { arm: "no-memory", train: null, params: 0, episodes: noMem } }, goalOracle: [ep!] } as unknown as StreamPanelRun;
    const rows = summariseStreamPanel(run);
    assert.deepEqual(rows.map((r) => r.arm), ["no-memory", "goal-oracle"]);
    assert.equal(rows[1]!.cues, ep!.cues.length);
    assert.equal(rows[1]!.success.p, ep!.cues.filter((c) => c.success).length / ep!.cues.length);
    assert.equal(rows[1]!.pWriteCue, null);
    assert.equal(rows[1]!.writeReduction, null);
  } finally {
    env.dispose();
    await ctx.dispose();
  }
});

test("decoyGoals: nothing before the first cue, a wrong goal after it, drawn again when the cued goal changes, deterministic in the seed", () => {
  const n = TASK_INFO["cue-stream"].nGoals;
  const truth = [-1, -1, 2, 2, 2, 5, 5, 0, 0, 2];
  const run = (seed: number): number[] => {
    const f = decoyGoals("cue-stream", seed);
    return truth.map((g) => f(g));
  };
  const a = run(4);
  assert.deepEqual(a, run(4));
  assert.deepEqual(a.slice(0, 2), [-1, -1]);
  for (let t = 2; t < truth.length; t++) {
    assert.ok(a[t]! >= 0 && a[t]! < n && a[t] !== truth[t], `step ${t}: decoy ${a[t]} vs true ${truth[t]}`);
    if (truth[t] === truth[t - 1]) assert.equal(a[t], a[t - 1], "one decoy per cue");
  }
  // uniform over the other goals
  const counts = new Array<number>(n).fill(0);
  for (let s = 0; s < 3000; s++) counts[decoyGoals("cue-sequence", s)(1)]!++;
  assert.equal(counts[1], 0);
  for (let k = 0; k < n; k++) if (k !== 1) assert.ok(Math.abs(counts[k]! / 3000 - 1 / (n - 1)) < 0.035, `goal ${k}: ${counts[k]}`);
});

testNeeding(PANDA, "decoy visit job: the base acting on the decoy goal (the hand-written loop), labelled with the true goal; goalDecoys only in the goal role", { timeout: 120_000 }, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  const ctx = new SimContext(ops);
  try {
    const task = "cue-sequence" as const;
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const [got] = (await runSimJob({ kind: "visit", task, seeds: [DECOY_SEED_BASE + 3], base: base.toData(), model: null, role: "goal", decoyGoal: true, beta: 0, robotDir: ROBOT }, ctx)) as Demo[];
    const f = decoyGoals(task, DECOY_SEED_BASE + 3);
    const given: number[] = [];
    const want = learnerEpisode(env, task, DECOY_SEED_BASE + 3, (o) => {
      const g = f(currentGoal(env));
      given.push(g);
      return base.forward(withGoal(task, o, g), 1).action;
    });
    assert.deepEqual([...got!.obs], [...want.obs], "the visited states");
    assert.deepEqual([...got!.goal], [...want.goal], "labelled with the true goal");
    assert.ok(given.every((g, t) => g !== got!.goal[t]), "the base never acts on the true goal");
    const honest = learnerEpisode(env, task, DECOY_SEED_BASE + 3, (o) => base.forward(withGoal(task, o, currentGoal(env)), 1).action);
    assert.notDeepEqual([...got!.obs], [...honest.obs], "acting on the decoy changes the episode");
    assert.throws(() => checkSimOptions({ ...defaultSimOptions(), robotDir: ROBOT, goalDecoys: 10 }), /goal role/);
    assert.throws(() => checkSimOptions({ ...defaultSimOptions(), robotDir: ROBOT, armRole: "goal", goalDecoys: -1 }), ConfigError);
    assert.doesNotThrow(() => checkSimOptions({ ...defaultSimOptions(), robotDir: ROBOT, armRole: "goal", goalDecoys: 10 }));
  } finally {
    env.dispose();
    await ctx.dispose();
  }
});
