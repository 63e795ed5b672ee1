/**
 * DAgger for the closed-loop pipelines (src/sim/dagger.ts): the learner sees every observation (a memory
 * arm's state follows the whole episode, also where the expert's action is executed), a visit job with a
 * memory arm rolls out base + the arm's residual with its memory carried, the visit seeds stay disjoint from
 * the demonstration and evaluation seeds, and bad round counts are refused. Reads the Menagerie Panda from
 * ../shared/models/franka_emika_panda (skipped, saying so, only when absent; under CI=true a missing input fails).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "aura-mem/errors";
import { MemoryConfig } from "aura-mem/config";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel } from "aura-mem/model/model";
import { naiveOps } from "aura-mem/ops/index";
import { Rng } from "aura-mem/util/rng";
import { testNeeding, type OptionalInput } from "./helpers.js";
import { ACTION_DIM, STREAM_TASK, TabletopEnv } from "../src/sim/env.js";
import { learnerEpisode, type Demo } from "../src/sim/demos.js";
import { BasePolicy } from "../src/sim/policy.js";
import { armToData, runSimJob, SimContext } from "../src/sim/jobs.js";
import { stepArm } from "../src/sim/rollout.js";
import { checkDaggerOptions, MAX_DAGGER_DEMOS, MAX_DAGGER_ROUNDS, visitSeed } from "../src/sim/dagger.js";
import { EVAL_SEED_BASE } from "../src/sim/demos.js";

const ROBOT = "../shared/models/franka_emika_panda";
const PANDA: OptionalInput = { name: "the MuJoCo Menagerie Panda", present: existsSync(join(ROBOT, "panda.xml")), hint: `expected at ${ROBOT} (README: where to get Menagerie)` };

test("DAgger options and seeds: rounds in [0, 9], visit seeds of the base and the arms disjoint from each other, the demos and the evaluation seeds", () => {
  checkDaggerOptions({ daggerRounds: 0, armDaggerRounds: 0, goalDecoys: 0 }, 10 ** 6, "residual"); // no DAgger: any number of demos
  checkDaggerOptions({ daggerRounds: MAX_DAGGER_ROUNDS, armDaggerRounds: 1, goalDecoys: 0 }, MAX_DAGGER_DEMOS, "residual");
  for (const bad of [-1, 1.5, MAX_DAGGER_ROUNDS + 1, NaN]) {
    assert.throws(() => checkDaggerOptions({ daggerRounds: bad, armDaggerRounds: 0, goalDecoys: 0 }, 10, "residual"), ConfigError);
    assert.throws(() => checkDaggerOptions({ daggerRounds: 0, armDaggerRounds: bad, goalDecoys: 0 }, 10, "residual"), /armDaggerRounds must be an integer in \[0, 9\]/);
  }
  assert.throws(() => checkDaggerOptions({ daggerRounds: 0, armDaggerRounds: 1, goalDecoys: 0 }, MAX_DAGGER_DEMOS + 1, "residual"), /at most 50000 demonstrations/);
  const seen = new Set<number>();
  for (let r = 1; r <= MAX_DAGGER_ROUNDS; r++)
    for (const learner of ["base", "arm"] as const)
      for (const i of [0, 1, MAX_DAGGER_DEMOS - 1]) {
        const s = visitSeed(learner, r, i);
        assert.ok(s >= MAX_DAGGER_DEMOS && s < EVAL_SEED_BASE, `seed ${s} of ${learner} round ${r} episode ${i}`);
        assert.ok(!seen.has(s), `seed ${s} used twice`);
        seen.add(s);
      }
});

testNeeding(PANDA, "learnerEpisode calls the learner on every observation, also on the steps where the expert's action is executed", {}, async () => {
  const env = await TabletopEnv.create(ROBOT);
  try {
    let calls = 0;
    const d = learnerEpisode(env, STREAM_TASK, 3, () => (calls++, [0, 0, 0, 0, 0, 0, -1]), { horizon: 600, beta: 1 });
    assert.equal(d.T, 600);
    assert.equal(calls, 600, "beta = 1 executes only the expert, and the learner still saw all 600 observations");
  } finally {
    env.dispose();
  }
});

testNeeding(PANDA, "visit job with a memory arm: base + the arm's residual, its memory carried over the whole episode (equal to a hand-written rollout; different from the base alone)", {}, async () => {
  const ops = naiveOps();
  const env = await TabletopEnv.create(ROBOT);
  const ctx = new SimContext(ops);
  try {
    const base = new BasePolicy(ops, { hidden: 16, seed: 1 });
    const model = new SequenceModel(armSpec("gru", new MemoryConfig({ dModel: 16, dAction: ACTION_DIM, actionKind: "continuous", seed: 2 })), ops);
    const rng = new Rng(5);
    for (const p of Object.values(model.params)) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! + 0.3 * rng.normal();
    model.paramsChanged();
    const H = 520;
    const job = { kind: "visit" as const, task: STREAM_TASK, seeds: [7], horizon: H, base: base.toData(), beta: 0.5, robotDir: ROBOT };
    const [withArm] = (await runSimJob({ ...job, model: armToData(model) }, ctx)) as Demo[];
    const [alone] = (await runSimJob(job, ctx)) as Demo[];
    let state = model.initState(1);
    const byHand = learnerEpisode(env, STREAM_TASK, 7, (o) => {
      const { z, action } = base.forward(o, 1);
      const r = stepArm(model, z, state);
      state = r.state;
      return action.map((v, i) => v + r.out[i]!);
    }, { horizon: H, beta: 0.5 });
    assert.deepEqual([...withArm!.obs], [...byHand.obs], "the visited states of base + arm, the GRU state carried from step 0 to the end");
    assert.deepEqual([...withArm!.act], [...byHand.act], "labelled by the expert");
    assert.notDeepEqual([...withArm!.obs], [...alone!.obs], "the arm's residual changes where the learner goes");
  } finally {
    env.dispose();
    await ctx.dispose();
  }
});
