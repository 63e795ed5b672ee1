/**
 * The closed-loop MuJoCo panel: environment determinism, IK accuracy, the scripted expert's success
 * rate (a broken environment fails here), a smoke run of every arm through `aura sim`, and clear
 * errors for bad options. Reads the Menagerie Panda from ../shared/models/franka_emika_panda (the tests
 * that need it are skipped, saying so, only when that directory is absent).
 */
import { test } from "node:test";
import { testNeeding, type OptionalInput } from "./helpers.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { TabletopEnv, TASK_INFO, SIM_TASKS, HOME_Q, planEpisode, type SimTaskName } from "../src/sim/env.js";
import { Expert } from "../src/sim/expert.js";
import { Ik } from "../src/sim/ik.js";
import { qexp, qmul, rotErr } from "../src/sim/math.js";
import { EVAL_SEED_BASE, type Demo } from "../src/sim/demos.js";
import { SimPool } from "../src/sim/pool.js";
import { SIM_ARMS } from "../src/sim/jobs.js";
import { defaultSimOptions, checkSimOptions } from "../src/sim/panel.js";
import { ConfigError } from "aura-mem/errors";
import { StepType } from "../src/tasks/types.js";
import { Rng } from "aura-mem/util/rng";

const ROBOT = "../shared/models/franka_emika_panda";
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };

let envP: Promise<TabletopEnv> | null = null;
const env = (): Promise<TabletopEnv> => (envP ??= TabletopEnv.create(ROBOT));

testNeeding(PANDA, "environment: same seed -> same trajectory; another seed -> another episode; cue and distractor steps typed", {}, async () => {
  const e = await env();
  const roll = (task: SimTaskName, seed: number, n: number): number[][] => {
    e.reset(task, seed);
    const ex = new Expert(e);
    ex.reset();
    const out: number[][] = [];
    for (let t = 0; t < n; t++) out.push([...e.step(ex.act())]);
    return out;
  };
  const a = roll("cue-place", 7, 40);
  const b = roll("cue-place", 7, 40);
  assert.deepEqual(a, b, "same seed must give the same trajectory, bit for bit");
  const c = roll("cue-place", 8, 40);
  assert.notDeepEqual(a, c);
  // cue shown exactly on the first cueSteps observations, flicker and nudge marked as distractors
  const plan = planEpisode("cue-sequence", 3);
  e.reset("cue-sequence", 3);
  const types: number[] = [e.stepType];
  const cues: number[] = [e.cueCode];
  const ex = new Expert(e);
  ex.reset();
  while (e.t < Math.max(plan.flickerStep, plan.nudgeStep) + 2) {
    e.step(ex.act());
    types.push(e.stepType);
    cues.push(e.cueCode);
  }
  const k = TASK_INFO["cue-sequence"].cueSteps;
  for (let t = 0; t < k; t++) assert.equal(types[t], StepType.event);
  assert.equal(cues[0], 1 + plan.goalIndex);
  assert.equal(types[plan.flickerStep], StepType.distractor);
  assert.equal(cues[plan.flickerStep], -1);
  if (e.nudged) assert.equal(types[plan.nudgeStep], StepType.distractor);
  assert.throws(() => e.step([0, 0, 0]), ConfigError);
});

testNeeding(PANDA, "IK reaches reachable targets within 1 mm and 0.01 rad", {}, async () => {
  const e = await env();
  const ik = new Ik(e.mj, e.model);
  try {
    const rng = new Rng(5);
    for (let i = 0; i < 20; i++) {
      const pos: [number, number, number] = [0.35 + 0.3 * rng.uniform(), -0.25 + 0.5 * rng.uniform(), 0.03 + 0.3 * rng.uniform()];
      const quat = qmul(qexp([0, 0, (rng.uniform() - 0.5) * 1.2]), e.downQuat);
      const r = ik.solve(pos, quat, HOME_Q, 200);
      assert.ok(r.posErr < 1e-3, `target ${pos.map((x) => x.toFixed(3))}: position error ${r.posErr}`);
      assert.ok(r.rotErr < 0.01, `target ${pos.map((x) => x.toFixed(3))}: orientation error ${r.rotErr}`);
      const fk = ik.fk(r.q);
      assert.ok(Math.hypot(fk.pos[0] - pos[0], fk.pos[1] - pos[1], fk.pos[2] - pos[2]) < 1e-3);
      assert.ok(Math.hypot(...rotErr(quat, fk.quat)) < 0.01);
    }
  } finally {
    ik.dispose();
  }
});

testNeeding(PANDA, "scripted expert succeeds on >= 90% of 50 seeded episodes of each task", {}, async (t) => {
  const pool = new SimPool(2);
  try {
    for (const task of SIM_TASKS) {
      const seeds = Array.from({ length: 50 }, (_, i) => EVAL_SEED_BASE + i);
      const parts = await Promise.all(
        [seeds.slice(0, 25), seeds.slice(25)].map((s) => pool.submit<Demo[]>({ kind: "demos", task, seeds: s, robotDir: ROBOT, perturb: false })),
      );
      const ok = parts.flat().filter((d) => d.success).length;
      t.diagnostic(`${task}: expert succeeded on ${ok}/50 evaluation seeds`);
      assert.ok(ok >= 45, `${task}: expert succeeded on ${ok}/50`);
    }
  } finally {
    await pool.close();
  }
});

testNeeding(PANDA, "aura sim smoke run (the CLI): every arm, both tasks, report files and trace format", {}, () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-sim-"));
  try {
    const args = ["sim", "--tasks", SIM_TASKS.join(","), "--arms", SIM_ARMS.join(","), "--episodes", "2", "--demos", "6"];
    args.push("--base-epochs", "1", "--arm-steps", "2", "--workers", "2", "--robot-dir", ROBOT, "--out", dir);
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Paper claims|AURA/);
    for (const f of ["results.json", "summary.md"]) assert.ok(existsSync(join(dir, f)), f);
    const res = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    for (const task of SIM_TASKS) {
      const t = res.tasks[task];
      assert.equal(t.metric, "success");
      assert.equal(t.horizon, TASK_INFO[task].horizon);
      for (const arm of SIM_ARMS) {
        const a = t.arms[arm];
        assert.ok(a, `${task}: missing arm ${arm}`);
        for (const k of ["mean", "ci95", "writesPerEpisode", "writeReduction", "stateBytes", "stateBytesAt100k", "params", "perSeed", "seedIds", "episodes", "placedPerEpisode", "totalWrites", "actionMse", "episodeSeconds"]) {
          assert.ok(k in a, `${task}/${arm} lacks ${k}`);
        }
        assert.equal(a.episodes, 2);
        assert.ok(a.ci95[0] <= a.mean && a.mean <= a.ci95[1]);
      }
      const T = t.horizon;
      assert.equal(t.arms["no-memory"].writesPerEpisode, 0);
      assert.equal(t.arms["no-memory"].stateBytes, 0);
      assert.equal(t.arms["always-write"].writesPerEpisode, T);
      assert.equal(t.arms["aura"].stateBytes, 4224);
      assert.equal(t.arms["always-write"].stateBytes, 4224);
      assert.equal(t.arms["kv-cache"].stateBytes, T * (32 + 32) * 4, "the KV cache grows by one (k, v) entry per step");
      assert.ok(t.arms["aura"].writesPerEpisode <= T);
      assert.ok(t.ais, "AIS figures present");
      assert.ok(Number.isFinite(t.ais.epsMean) && t.ais.probes > 0);
      for (const arm of SIM_ARMS) {
        const tr = JSON.parse(readFileSync(join(dir, "traces", `${task}_${arm}.json`), "utf8"));
        assert.equal(tr.format, "aura-sim-trace");
        assert.equal(tr.version, 1);
        assert.equal(tr.arm, arm);
        assert.equal(tr.controlHz, 20);
        assert.equal(tr.steps.length, T + 1);
        const s = tr.steps[5];
        assert.equal(s.q.length, 9);
        assert.equal(s.ee.length, 3);
        assert.equal(s.cubes.length, 3);
        assert.equal(s.cubes[0].length, 7);
        for (const k of ["t", "cue", "p", "g", "writes", "stateBytes"]) assert.ok(k in s, k);
      }
    }
    assert.match(readFileSync(join(dir, "summary.md"), "utf8"), /Paper claims/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad options give clear errors", () => {
  const base = { ...defaultSimOptions(), robotDir: ROBOT };
  assert.throws(() => checkSimOptions({ ...base, robotDir: "/nonexistent/panda" }), (e: Error) => e instanceof ConfigError && /robot directory not found.*mujoco_menagerie/.test(e.message));
  assert.throws(() => checkSimOptions({ ...base, tasks: ["stack-cubes" as SimTaskName] }), (e: Error) => e instanceof ConfigError && /unknown sim task "stack-cubes".*cue-place/.test(e.message));
  assert.throws(() => checkSimOptions({ ...base, arms: ["lstm" as never] }), (e: Error) => e instanceof ConfigError && /unknown sim arm "lstm"/.test(e.message));
  assert.throws(() => checkSimOptions({ ...base, episodes: 0 }), ConfigError);
  const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim", ...args], { encoding: "utf8" });
  const r1 = cli(["--robot-dir", "/nonexistent/panda", "--episodes", "1"]);
  assert.equal(r1.status, 2, r1.stderr);
  assert.match(r1.stderr, /robot directory not found: \/nonexistent\/panda/);
  const r2 = cli(["--tasks", "stack-cubes"]);
  assert.equal(r2.status, 2, r2.stderr);
  assert.match(r2.stderr, /unknown sim task "stack-cubes"/);
  assert.throws(() => checkSimOptions({ ...base, armDaggerRounds: 10 }), /armDaggerRounds must be an integer in \[0, 9\], got 10/);
  const r3 = cli(["--dagger", "12", "--robot-dir", ROBOT]);
  assert.equal(r3.status, 2, r3.stderr);
  assert.match(r3.stderr, /daggerRounds must be an integer in \[0, 9\], got 12/);
});
