/**
 * Benchmark tasks: determinism, shapes, ground-truth consistency of the synthetic generators, mask
 * rules, chance level, and the real Push-T loader (skipped only when the dataset is absent).
 */
import { test } from "node:test";
import { testNeeding, type OptionalInput } from "./helpers.js";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import {
  ESS_EASY,
  ESS_HARD,
  MBAR_QUERIES,
  PUSHT_DEFAULT_PATH,
  PUSHT_METRIC_SCALE,
  StepType,
  createTask,
  describeTask,
  essCounts,
  pushtDenormalise,
  pushtNormalise,
  taskNames,
} from "../src/tasks/index.js";
import type { EpisodeBatch, PushtTask, Task } from "../src/tasks/index.js";

const PUSHT_PATH = resolve(process.cwd(), PUSHT_DEFAULT_PATH);
const HAVE_PUSHT = existsSync(PUSHT_PATH);

function bytesOf(b: EpisodeBatch): Buffer[] {
  const arrays: ArrayBufferView[] = [b.z, b.lossMask, b.evalMask, b.stepType];
  if (b.label) arrays.push(b.label);
  if (b.target) arrays.push(b.target);
  return arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}
function sameBatch(a: EpisodeBatch, b: EpisodeBatch): boolean {
  if (a.B !== b.B || a.T !== b.T || a.dModel !== b.dModel) return false;
  const x = bytesOf(a);
  const y = bytesOf(b);
  return x.length === y.length && x.every((buf, i) => buf.equals(y[i]!));
}
function checkShapes(task: Task, b: EpisodeBatch, B: number): void {
  assert.equal(b.B, B);
  assert.equal(b.dModel, task.dModel);
  const n = b.B * b.T;
  assert.equal(b.z.length, n * task.dModel);
  assert.equal(b.lossMask.length, n);
  assert.equal(b.evalMask.length, n);
  assert.equal(b.stepType.length, n);
  if (task.kind === "discrete") {
    assert.ok(b.label instanceof Int32Array && b.label.length === n);
    assert.equal(b.target, null);
  } else {
    assert.ok(b.target instanceof Float32Array && b.target.length === n * task.dAction);
    assert.equal(b.label, null);
  }
  for (let i = 0; i < b.z.length; i++) assert.ok(Number.isFinite(b.z[i]!), `z[${i}] not finite`);
  for (let i = 0; i < n; i++) {
    assert.ok(b.lossMask[i] === 0 || b.lossMask[i] === 1);
    assert.ok(b.evalMask[i] === 0 || b.evalMask[i] === 1);
    assert.ok(b.stepType[i]! <= StepType.pad);
    if (b.evalMask[i]) assert.equal(b.lossMask[i], 1, "metric read where no loss applies");
    if (b.stepType[i] === StepType.pad) assert.ok(b.lossMask[i] === 0 && b.evalMask[i] === 0, "mask on padding");
    if (b.label) {
      assert.equal(b.lossMask[i] === 1, b.label[i]! >= 0, "lossMask must equal (label defined)");
      if (b.label[i]! >= 0) assert.ok(b.label[i]! < task.dAction);
    }
  }
}
function concatEpisodes(batches: EpisodeBatch[]): { z: Float32Array[]; label: Int32Array[] } {
  const z: Float32Array[] = [];
  const label: Int32Array[] = [];
  for (const b of batches) {
    for (let r = 0; r < b.B; r++) {
      z.push(b.z.slice(r * b.T * b.dModel, (r + 1) * b.T * b.dModel));
      if (b.label) label.push(b.label.slice(r * b.T, (r + 1) * b.T));
    }
  }
  return { z, label };
}

test("createTask: unknown name and bad options throw ConfigError", async () => {
  await assert.rejects(createTask("ess-medium", { seed: 1 }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    for (const n of taskNames) assert.match((e as Error).message, new RegExp(n));
    return true;
  });
  await assert.rejects(createTask("ess-hard", { seed: -1 }), ConfigError);
  await assert.rejects(createTask("ess-hard", { seed: 1.5 }), ConfigError);
  await assert.rejects(createTask("ess-hard", { seed: 1, dModel: 0 }), ConfigError);
  await assert.rejects(createTask("ess-hard", { seed: 1, horizon: 4 }), ConfigError);
  await assert.rejects(createTask("mbar", { seed: 1, horizon: 2 }), ConfigError);
  const t = await createTask("ess-easy", { seed: 1 });
  assert.throws(() => t.sample(new Rng(1), 0), ConfigError);
  assert.throws(() => t.evalSet("train" as "val", 8), ConfigError);
  assert.throws(() => t.evalSet("val", 0), ConfigError);
});

test("pusht: missing dataset path is a ConfigError naming the option", async () => {
  await assert.rejects(createTask("pusht", { seed: 1, pushtPath: "/nonexistent/pusht.zarr" }), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match((e as Error).message, /pushtPath/);
    assert.match((e as Error).message, /\/nonexistent\/pusht\.zarr/);
    return true;
  });
});

for (const name of ["ess-easy", "ess-hard", "mbar"] as const) {
  test(`${name}: interface, determinism, shapes, eval set independent of batch size`, async () => {
    const task = await createTask(name, { seed: 7 });
    assert.equal(task.name, name);
    assert.equal(task.kind, "discrete");
    assert.equal(task.metric, "accuracy");
    assert.equal(task.dModel, 64);
    assert.equal(task.dAction, 8);
    assert.equal(task.chance, 0.125);
    assert.equal(task.metricScale, 1);
    const line = describeTask(task);
    assert.ok(line.length > 0 && !line.includes("\n"));

    const a = task.sample(new Rng(42), 5);
    const b = task.sample(new Rng(42), 5);
    const c = task.sample(new Rng(43), 5);
    assert.equal(a.T, task.horizon);
    checkShapes(task, a, 5);
    assert.ok(sameBatch(a, b), "same rng seed must give identical bytes");
    assert.ok(!sameBatch(a, c), "different rng seed must differ");
    const other = await createTask(name, { seed: 8 });
    assert.ok(!sameBatch(a, other.sample(new Rng(42), 5)), "different task seed must differ (embeddings)");
    const again = await createTask(name, { seed: 7 });
    assert.ok(sameBatch(a, again.sample(new Rng(42), 5)), "same task seed must rebuild the same task");
    // The rng advances: two consecutive batches differ.
    const r = new Rng(42);
    task.sample(r, 5);
    assert.ok(!sameBatch(a, task.sample(r, 5)));

    // Eval sets: fixed, batch-size independent, val != test, != training stream.
    assert.equal(task.evalSize("val"), 256);
    assert.equal(task.evalSize("test"), 512);
    const v7 = task.evalSet("val", 7);
    const v100 = task.evalSet("val", 100);
    assert.equal(v7.length, Math.ceil(256 / 7));
    assert.equal(v100.length, 3);
    assert.deepEqual(v7.map((x) => x.B).reduce((s, x) => s + x, 0), 256);
    for (const x of v7) checkShapes(task, x, x.B);
    const e7 = concatEpisodes(v7);
    const e100 = concatEpisodes(v100);
    assert.equal(e7.z.length, 256);
    for (let i = 0; i < 256; i++) {
      assert.deepEqual(e7.z[i], e100.z[i]);
      assert.deepEqual(e7.label[i], e100.label[i]);
    }
    assert.ok(sameBatch(task.evalSet("val", 100)[0]!, again.evalSet("val", 100)[0]!));
    const t0 = task.evalSet("test", 100)[0]!;
    assert.ok(!sameBatch(v100[0]!, t0), "val and test differ");
    assert.equal([...task.evalBatches("test", 64)].length, 8);
  });
}

for (const cfg of [ESS_EASY, ESS_HARD]) {
  test(`${cfg.name}: targets are the most recent true event; lures, distractors and queries never change them`, async () => {
    const task = await createTask(cfg.name, { seed: 3 });
    const counts = essCounts(cfg);
    const N = cfg.horizon;
    const b = task.sample(new Rng(11), 200);
    const ev = b.truth!.eventClass!;
    const lure = b.truth!.lureClass!;
    let luresSeen = 0;
    for (let r = 0; r < b.B; r++) {
      let cur = -1;
      let first = -1;
      const n = { event: 0, distractor: 0, query: 0, lure: 0 };
      for (let t = 0; t < N; t++) {
        const i = r * N + t;
        const st = b.stepType[i]!;
        assert.notEqual(st, StepType.pad);
        assert.equal(st === StepType.event, ev[i]! >= 0, "event step iff eventClass defined");
        if (ev[i]! >= 0) {
          assert.notEqual(ev[i], cur, "an event always switches the goal");
          cur = ev[i]!;
          if (first < 0) first = t;
          n.event++;
        }
        if (lure[i]! >= 0) {
          assert.equal(st, StepType.distractor, "lures are StepType.distractor");
          assert.notEqual(lure[i], cur, "a lure shows a class other than the current goal");
          n.lure++;
        }
        if (st === StepType.distractor) n.distractor++;
        if (st === StepType.query) {
          n.query++;
          assert.ok(first >= 0 && t > first, "queries only after the first event");
          assert.equal(b.evalMask[i], 1);
        } else {
          assert.equal(b.evalMask[i], 0, "metric read at query steps only");
        }
        assert.equal(b.label![i], cur, `label at (${r}, ${t}) must be the most recent event class`);
        assert.equal(b.lossMask[i], cur >= 0 ? 1 : 0);
      }
      assert.ok(first >= 0 && first < counts.firstMax, `first event at ${first}`);
      assert.ok(n.event >= cfg.eventsMin && n.event <= cfg.eventsMax);
      assert.equal(n.query, counts.queries);
      assert.equal(n.distractor, counts.distractors);
      assert.equal(n.lure, counts.lures);
      luresSeen += n.lure;
    }
    if (cfg.lureFrac > 0) assert.ok(luresSeen > 0);
  });
}

test("ess-hard: a lure is the event embedding of another class plus the fixed ignore context", async () => {
  // Observations: z(lure, class c) - z(event, class c) ~ ignore context (same vector for every lure).
  const task = await createTask("ess-hard", { seed: 5, dModel: 256 });
  const b = task.sample(new Rng(2), 64);
  const d = b.dModel;
  const ev = b.truth!.eventClass!;
  const lure = b.truth!.lureClass!;
  const eventZ = new Map<number, Float32Array>();
  for (let i = 0; i < ev.length; i++) if (ev[i]! >= 0 && !eventZ.has(ev[i]!)) eventZ.set(ev[i]!, b.z.slice(i * d, (i + 1) * d));
  const diffs: Float32Array[] = [];
  for (let i = 0; i < lure.length && diffs.length < 6; i++) {
    const e = eventZ.get(lure[i]!);
    if (!e) continue;
    diffs.push(b.z.slice(i * d, (i + 1) * d).map((v, k) => v - e[k]!));
  }
  assert.ok(diffs.length >= 2);
  const cos = (x: Float32Array, y: Float32Array): number => {
    let xy = 0, xx = 0, yy = 0;
    for (let k = 0; k < x.length; k++) { xy += x[k]! * y[k]!; xx += x[k]! * x[k]!; yy += y[k]! * y[k]!; }
    return xy / Math.sqrt(xx * yy);
  };
  // Noise norm 0.5 on each of 2 steps vs a unit context: cosine well above what unrelated vectors give.
  for (let j = 1; j < diffs.length; j++) assert.ok(cos(diffs[0]!, diffs[j]!) > 0.5, `cos ${cos(diffs[0]!, diffs[j]!)}`);
});

test("ess: horizon overrides of the --full sweep and dModel 4096", async () => {
  for (const N of [64, 128, 256, 512]) {
    for (const name of ["ess-easy", "ess-hard"]) {
      const t = await createTask(name, { seed: 1, horizon: N });
      assert.equal(t.horizon, N);
      const b = t.sample(new Rng(1), 2);
      assert.equal(b.T, N);
      checkShapes(t, b, 2);
    }
  }
  const big = await createTask("ess-hard", { seed: 1, dModel: 4096 });
  const b = big.sample(new Rng(1), 2);
  checkShapes(big, b, 2);
  // Event steps: unit embedding + noise of norm ~0.5 -> |z| ~ sqrt(1.25).
  for (let i = 0; i < b.B * b.T; i++) {
    if (b.stepType[i] !== StepType.event) continue;
    let ss = 0;
    for (let k = 0; k < 4096; k++) ss += b.z[i * 4096 + k]! ** 2;
    assert.ok(Math.abs(Math.sqrt(ss) - Math.sqrt(1.25)) < 0.1, `event norm ${Math.sqrt(ss)}`);
  }
});

test("mbar: query answers are the bound values; keys, masks and step types follow the definition", async () => {
  for (const N of [8, 16, 32, 64]) {
    const task = await createTask("mbar", { seed: 9, horizon: N });
    const T = 2 * N + MBAR_QUERIES;
    assert.equal(task.horizon, T);
    const b = task.sample(new Rng(N), 50);
    checkShapes(task, b, 50);
    assert.equal(b.T, T);
    const key = b.truth!.key!;
    const value = b.truth!.value!;
    for (let r = 0; r < b.B; r++) {
      const bound = new Map<number, number>();
      const dkeys = new Set<number>();
      let nd = 0;
      for (let t = 0; t < 2 * N; t++) {
        const i = r * T + t;
        assert.equal(b.evalMask[i], 0);
        assert.equal(b.lossMask[i], 0);
        assert.equal(b.label![i], -1);
        if (b.stepType[i] === StepType.event) {
          assert.ok(!bound.has(key[i]!), "bound keys are distinct");
          bound.set(key[i]!, value[i]!);
        } else {
          assert.equal(b.stepType[i], StepType.distractor);
          assert.ok(!dkeys.has(key[i]!), "distractor keys are distinct");
          dkeys.add(key[i]!);
          nd++;
        }
      }
      assert.equal(bound.size, N);
      assert.equal(nd, N);
      const asked = new Set<number>();
      for (let q = 0; q < MBAR_QUERIES; q++) {
        const i = r * T + 2 * N + q;
        assert.equal(b.stepType[i], StepType.query);
        assert.equal(b.evalMask[i], 1);
        assert.equal(b.lossMask[i], 1);
        assert.ok(bound.has(key[i]!), "queries ask a bound key");
        assert.ok(!asked.has(key[i]!), "query keys distinct");
        asked.add(key[i]!);
        assert.equal(b.label![i], bound.get(key[i]!), "answer = the bound value");
      }
    }
  }
});

test("chance: a constant predictor scores ~0.125 on every discrete task", async () => {
  for (const name of ["ess-easy", "ess-hard", "mbar"]) {
    const task = await createTask(name, { seed: 21, testEpisodes: 3000 });
    const hits = new Float64Array(8);
    let n = 0;
    for (const b of task.evalBatches("test", 500)) {
      for (let i = 0; i < b.B * b.T; i++) {
        if (!b.evalMask[i]) continue;
        hits[b.label![i]!]!++;
        n++;
      }
    }
    assert.ok(n >= 3000 * 4);
    for (let c = 0; c < 8; c++) {
      const acc = hits[c]! / n;
      assert.ok(Math.abs(acc - 0.125) < 0.015, `${name}: constant ${c} scores ${acc.toFixed(4)} over ${n} queries`);
    }
  }
});

test("pusht: normalisation round-trips to pixels", () => {
  for (const px of [0, 12, 256, 300.5, 511, 512]) {
    assert.ok(Math.abs(pushtDenormalise(pushtNormalise(px)) - px) < 1e-9);
  }
  assert.equal(pushtNormalise(0), -1);
  assert.equal(pushtNormalise(512), 1);
  // An error of e normalised units is e*256 pixels: mse * 256^2 = pixels^2.
  assert.equal(PUSHT_METRIC_SCALE, (pushtDenormalise(1) - pushtDenormalise(0)) ** 2);
});

const PUSHT: OptionalInput = { name: "the Push-T replay store", present: HAVE_PUSHT, hint: `expected at ${PUSHT_PATH}` };

testNeeding(PUSHT, "pusht: loads the real replay buffer, split, masks, targets", {}, async () => {
  const task = (await createTask("pusht", { seed: 1 })) as PushtTask;
  assert.equal(task.kind, "continuous");
  assert.equal(task.metric, "mse");
  assert.equal(task.dAction, 2);
  assert.equal(task.chance, null);
  assert.equal(task.metricScale, 256 * 256);
  const data = task.data;
  assert.equal(data.episodes, 206);
  assert.equal(data.steps, 25650);
  assert.equal(data.offsets[206], 25650);
  let minLen = Infinity;
  let maxLen = 0;
  for (let e = 0; e < 206; e++) {
    const L = data.offsets[e + 1]! - data.offsets[e]!;
    minLen = Math.min(minLen, L);
    maxLen = Math.max(maxLen, L);
  }
  assert.equal(minLen, 49);
  assert.equal(maxLen, 246);
  assert.equal(task.horizon, 246);
  // First step of the file (known values).
  assert.equal(data.state[0], 222);
  assert.equal(data.state[1], 97);

  // Split: disjoint and covering, 164/21/21, seed-dependent, deterministic.
  const { train, val, test: tst } = task.split;
  assert.deepEqual([train.length, val.length, tst.length], [164, 21, 21]);
  const all = [...train, ...val, ...tst].sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 206 }, (_, i) => i));
  const again = (await createTask("pusht", { seed: 1 })) as PushtTask;
  assert.deepEqual(again.split.test, tst);
  const other = (await createTask("pusht", { seed: 2 })) as PushtTask;
  assert.notDeepEqual(other.split.test, tst);

  // Eval set: whole episodes in split order, padded to the longest in the batch.
  assert.equal(task.evalSize("test"), 21);
  const batches = task.evalSet("test", 8);
  assert.deepEqual(batches.map((b) => b.B), [8, 8, 5]);
  let row = 0;
  for (const b of batches) {
    checkShapes(task, b, b.B);
    const tr = b.truth!;
    assert.equal(b.T, Math.max(...tr.length!));
    for (let r = 0; r < b.B; r++, row++) {
      const e = tr.episode![r]!;
      assert.equal(e, tst[row]);
      assert.equal(tr.start![r], 0);
      const L = data.offsets[e + 1]! - data.offsets[e]!;
      assert.equal(tr.length![r], L);
      for (let t = 0; t < b.T; t++) {
        const i = r * b.T + t;
        if (t >= L) {
          assert.equal(b.stepType[i], StepType.pad);
          assert.equal(b.lossMask[i], 0);
          assert.equal(b.evalMask[i], 0);
          continue;
        }
        assert.ok(b.stepType[i] === StepType.background || b.stepType[i] === StepType.event);
        assert.equal(b.lossMask[i], 1);
        assert.equal(b.evalMask[i], 1);
        const s = data.offsets[e]! + t;
        for (let k = 0; k < 2; k++) {
          const u = b.target![2 * i + k]!;
          assert.ok(u >= -1.0001 && u <= 1.0001);
          assert.ok(Math.abs(pushtDenormalise(u) - data.action[2 * s + k]!) < 1e-3, "target round-trips to the human action in pixels");
        }
        for (let k = 0; k < b.dModel; k++) assert.ok(Math.abs(b.z[i * b.dModel + k]!) <= 1);
      }
    }
  }
  // Same episodes whatever the batch size.
  const one = task.evalSet("test", 64);
  assert.equal(one.length, 1);
  const e0 = batches[0]!;
  const L0 = e0.truth!.length![0]!;
  assert.deepEqual(one[0]!.z.subarray(0, L0 * 64), e0.z.subarray(0, L0 * 64));

  // Training batches: train episodes only, deterministic, windows.
  const s1 = task.sample(new Rng(5), 6);
  const s2 = task.sample(new Rng(5), 6);
  assert.ok(sameBatch(s1, s2));
  checkShapes(task, s1, 6);
  const trainSet = new Set(train);
  for (const e of s1.truth!.episode!) assert.ok(trainSet.has(e));
  const win = (await createTask("pusht", { seed: 1, horizon: 32 })) as PushtTask;
  const w = win.sample(new Rng(5), 16);
  assert.equal(w.T, 32);
  checkShapes(win, w, 16);
  for (let r = 0; r < 16; r++) {
    const e = w.truth!.episode![r]!;
    const st = w.truth!.start![r]!;
    assert.equal(w.truth!.length![r], 32); // every episode is longer than 32 steps
    const s = data.offsets[e]! + st + 31;
    assert.ok(s < data.offsets[e + 1]!);
    assert.ok(Math.abs(pushtDenormalise(w.target![2 * (r * 32 + 31)]!) - data.action[2 * s]!) < 1e-3);
  }
  // Events are sparse: contact onsets / sharp reversals.
  const evSteps = Number(task.params.eventSteps);
  assert.ok(evSteps > 0 && evSteps < data.steps * 0.1, `eventSteps ${evSteps}`);
  assert.ok(task.loadSeconds > 0);
});
