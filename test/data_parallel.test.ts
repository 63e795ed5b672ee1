/**
 * Data-parallel training (src/train/data_parallel.ts): the shard-weighted combination of per-shard
 * `batchObjective` gradients equals the full-batch gradient (1e-5), in this thread (same code path)
 * and through real worker threads (started from source under tsx by registering tsx's loader in the
 * worker, or from dist/ when built), and the one-worker trainer reproduces `train()`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig } from "aura-mem/config";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel, type ArmName } from "aura-mem/model/model";
import { createOps } from "aura-mem/ops/index";
import { createTask } from "../src/tasks/index.js";
import { batchObjective, DEFAULT_TRAIN, train } from "aura-mem/train/train";
import { Rng } from "aura-mem/util/rng";
import { combineShards, DataParallelTrainer, planShards, shardedObjective, shardRows, trainDataParallel } from "aura-mem/train/data_parallel";
import type { EpisodeBatch } from "../src/tasks/types.js";

const ops = createOps("wasm");
const cfg = new MemoryConfig({ dModel: 16, dAction: 8, actionKind: "discrete", dKey: 8, dVal: 8, dProj: 8, dGate: 8, dHidden: 16, seed: 3 });

function model(arm: ArmName = "aura"): SequenceModel {
  return new SequenceModel(armSpec(arm, cfg, { writeRate: 0.2, tau: 0.5 }), ops);
}

/** max |a - b| relative to max |a| over every parameter's gradient. */
function gradError(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let maxRef = 0;
  let maxDiff = 0;
  for (const k of Object.keys(a)) {
    assert.ok(b[k], `missing gradient ${k}`);
    assert.equal(a[k]!.length, b[k]!.length);
    for (let i = 0; i < a[k]!.length; i++) {
      assert.ok(Number.isFinite(b[k]![i]!), `${k}[${i}] not finite`);
      maxRef = Math.max(maxRef, Math.abs(a[k]![i]!));
      maxDiff = Math.max(maxDiff, Math.abs(a[k]![i]! - b[k]![i]!));
    }
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

async function essBatch(B: number, seed = 1): Promise<{ batch: EpisodeBatch; seeds: number[] }> {
  const task = await createTask("ess-hard", { seed: 0, dModel: 16, horizon: 32, valEpisodes: 16, testEpisodes: 16 });
  const rng = new Rng(seed);
  const batch = task.sample(rng, B);
  return { batch, seeds: Array.from({ length: B }, () => rng.nextU32()) };
}

const OBJ = { lambdaIB: 0.1, lambdaW: 0.1, targetWriteRate: 0 };

test("shard plan: rows cover the batch, weights sum to 1, uneven label counts are weighted by labelled steps", async () => {
  assert.deepEqual(shardRows(10, 3), [[0, 3], [3, 6], [6, 10]]);
  assert.deepEqual(shardRows(2, 5), [[0, 1], [1, 2]]);
  const { batch } = await essBatch(9);
  const plans = planShards(batch, "discrete", 4);
  assert.equal(plans.reduce((s, p) => s + (p.rows[1] - p.rows[0]), 0), 9);
  const sumAlpha = plans.reduce((s, p) => s + p.alpha, 0);
  assert.ok(Math.abs(sumAlpha - 1) < 1e-12, `sum alpha ${sumAlpha}`);
  // ess loss masks start at each episode's first event: shards differ in labelled steps, so alpha is
  // not the episode share, and lambdaScale compensates on the write-probability terms
  assert.ok(plans.some((p) => Math.abs(p.alpha - (p.rows[1] - p.rows[0]) / 9) > 1e-6));
  for (const p of plans) assert.ok(Math.abs(p.alpha * p.lambdaScale - p.valid / (9 * batch.T)) < 1e-12);
});

for (const arm of ["aura", "random", "recon-gate", "gru", "kv-cache"] as const) {
  for (const gateMode of ["hard", "soft"] as const) {
    if (arm !== "aura" && gateMode === "soft") continue;
    test(`in-process: sharded gradient == full-batch gradient (1e-5) for ${arm}, ${gateMode} gate, 1..5 shards`, async () => {
      const m = model(arm);
      const { batch, seeds } = await essBatch(7);
      const full = batchObjective(m, batch, { kind: "discrete", dAction: 8 }, OBJ, { gateMode, scheduleSeeds: seeds });
      for (const n of [1, 2, 3, 5]) {
        const sh = shardedObjective(m, batch, { kind: "discrete", dAction: 8 }, OBJ, { gateMode, scheduleSeeds: seeds }, n);
        assert.equal(sh.exact, true);
        const err = gradError(full.grads, sh.grads);
        assert.ok(err < 1e-5, `${n} shards: relative gradient error ${err}`);
        assert.ok(Math.abs(full.loss - sh.loss) <= 1e-5 * Math.max(1, Math.abs(full.loss)), `${n} shards: loss ${sh.loss} vs ${full.loss}`);
        assert.ok(Math.abs(full.meanP - sh.meanP) < 1e-6);
        if (n > 1 && arm === "aura") {
          // weighting by episode share alone (the naive average) is measurably wrong on ess
          const plans = planShards(batch, "discrete", n).map((p) => ({ ...p, alpha: (p.rows[1] - p.rows[0]) / batch.B, lambdaScale: 1 }));
          const res = plans.map((p) => batchObjective(m, batchRows(batch, p.rows), { kind: "discrete", dAction: 8 }, OBJ, { gateMode, scheduleSeeds: seeds.slice(...p.rows) }));
          const naive = combineShards(plans, res, Object.keys(m.params), OBJ, "discrete");
          assert.ok(gradError(full.grads, naive.grads) > 1e-4, `naive episode-share average unexpectedly exact (${gradError(full.grads, naive.grads)})`);
        }
        assert.equal(sh.surprise.length, full.surprise.length);
        for (let i = 0; i < full.surprise.length; i++) {
          assert.ok(Math.abs(sh.surprise[i]! - full.surprise[i]!) <= 1e-5 * Math.max(1, full.surprise[i]!), `surprise[${i}]`);
        }
      }
    });
  }
}

test("in-process: a sparsity hinge that some shards are below is flagged inexact", async () => {
  const m = model("aura");
  const { batch, seeds } = await essBatch(8);
  const full = batchObjective(m, batch, { kind: "discrete", dAction: 8 }, OBJ, { gateMode: "soft", scheduleSeeds: seeds });
  // put rho exactly at the full-batch mean: shards fall on both sides (or all on one side: then exact)
  const o = { ...OBJ, targetWriteRate: full.meanP };
  const plans = planShards(batch, "discrete", 4);
  const sh = shardedObjective(m, batch, { kind: "discrete", dAction: 8 }, o, { gateMode: "soft", scheduleSeeds: seeds }, 4);
  const sides = new Set(plans.map((_, s) => s).map((s) => batchObjective(m, batchRows(batch, plans[s]!.rows), { kind: "discrete", dAction: 8 }, o, { gateMode: "soft" }).meanP > full.meanP));
  assert.equal(sh.exact, sides.size === 1);
  assert.throws(() => combineShards([], [], [], OBJ, "discrete"));
});

function batchRows(b: EpisodeBatch, [r0, r1]: [number, number]): EpisodeBatch {
  const T = b.T;
  return {
    ...b,
    B: r1 - r0,
    z: b.z.slice(r0 * T * b.dModel, r1 * T * b.dModel),
    label: b.label!.slice(r0 * T, r1 * T),
    lossMask: b.lossMask.slice(r0 * T, r1 * T),
    evalMask: b.evalMask.slice(r0 * T, r1 * T),
    stepType: b.stepType.slice(r0 * T, r1 * T),
    truth: undefined,
  };
}

test("worker threads: 2 and 3 workers give the full-batch gradient (1e-5); parameters are broadcast each call", async () => {
  const m = model("aura");
  const { batch, seeds } = await essBatch(7);
  for (const workers of [2, 3]) {
    const pool = await DataParallelTrainer.start(m, { kind: "discrete", dAction: 8 }, { workers, backend: "wasm" });
    try {
      for (let round = 0; round < 2; round++) {
        const full = batchObjective(m, batch, { kind: "discrete", dAction: 8 }, OBJ, { gateMode: "hard", scheduleSeeds: seeds });
        const dp = await pool.objective(batch, OBJ, { gateMode: "hard", scheduleSeeds: seeds });
        assert.equal(dp.shards, workers);
        assert.equal(dp.exact, true);
        const err = gradError(full.grads, dp.grads);
        assert.ok(err < 1e-5, `${workers} workers, round ${round}: relative gradient error ${err}`);
        assert.ok(Math.abs(full.loss - dp.loss) <= 1e-5 * Math.max(1, Math.abs(full.loss)));
        // change the parameters in the main thread: the next call must see them
        for (const p of Object.values(m.params)) for (let i = 0; i < p.data.length; i += 7) p.data[i] = p.data[i]! * 0.9 + 0.01;
      }
    } finally {
      await pool.close();
    }
  }
});

test("trainDataParallel: one worker reproduces train() step for step; two workers match closely", async () => {
  const task = await createTask("ess-hard", { seed: 0, dModel: 16, horizon: 32, valEpisodes: 16, testEpisodes: 16 });
  const opts = { ...DEFAULT_TRAIN, steps: 4, batchSize: 6, evalEvery: 2, evalBatchSize: 16, softWarmupSteps: 2, seed: 4 };
  const ref = model("aura");
  const r0 = train(ref, task, opts);
  const one = model("aura");
  const r1 = await trainDataParallel(one, task, { ...opts, workers: 1, backend: "wasm" });
  assert.equal(r1.stepsRun, r0.stepsRun);
  for (let i = 0; i < r0.history.length; i++) {
    assert.equal(r1.history[i]!.loss, r0.history[i]!.loss, `step ${i + 1} loss`);
    assert.equal(r1.history[i]!.val, r0.history[i]!.val, `step ${i + 1} val`);
  }
  for (const k of Object.keys(ref.params)) assert.deepEqual([...one.params[k]!.data], [...ref.params[k]!.data], k);
  const two = model("aura");
  const r2 = await trainDataParallel(two, task, { ...opts, workers: 2, backend: "wasm" });
  for (let i = 0; i < r0.history.length; i++) {
    const a = r0.history[i]!.loss;
    assert.ok(Math.abs(r2.history[i]!.loss - a) <= 1e-4 * Math.max(1, Math.abs(a)), `step ${i + 1}: ${r2.history[i]!.loss} vs ${a}`);
    assert.equal(r2.history[i]!.exact, true);
  }
  assert.ok(r2.episodesPerSecond > 0);
});

test("the action-utility term and the stochastic gate's thresholds reach every shard (in-process and worker threads)", async () => {
  const m = model("aura");
  const { batch, seeds } = await essBatch(7);
  const o = { ...OBJ, lambdaU: 0.5 };
  const u = Float32Array.from({ length: batch.B * batch.T }, (_, i) => ((i * 7919) % 1000) / 1000);
  const fwd = { gateMode: "hard" as const, scheduleSeeds: seeds, gateThresholds: u };
  const full = batchObjective(m, batch, { kind: "discrete", dAction: 8 }, o, fwd);
  // the two options change the objective (so the shards cannot agree by ignoring them)
  const plain = batchObjective(m, batch, { kind: "discrete", dAction: 8 }, OBJ, { gateMode: "hard", scheduleSeeds: seeds });
  assert.ok(gradError(full.grads, plain.grads) > 1e-4);
  const sh = shardedObjective(m, batch, { kind: "discrete", dAction: 8 }, o, fwd, 3);
  assert.ok(gradError(full.grads, sh.grads) < 1e-5, `in-process: ${gradError(full.grads, sh.grads)}`);
  const pool = await DataParallelTrainer.start(m, { kind: "discrete", dAction: 8 }, { workers: 2, backend: "wasm" });
  try {
    const dp = await pool.objective(batch, o, fwd);
    assert.ok(gradError(full.grads, dp.grads) < 1e-5, `workers: ${gradError(full.grads, dp.grads)}`);
    assert.ok(Math.abs(full.loss - dp.loss) <= 1e-5 * Math.max(1, Math.abs(full.loss)));
  } finally {
    await pool.close();
  }
});
