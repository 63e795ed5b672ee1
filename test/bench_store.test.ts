/**
 * The content-addressed job store of `aura bench`: stable keys that change with any option or the code,
 * a rerun that trains nothing and gives the same results, `aura bench --plan`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { quickOptions, planJobs, keyJobs, runBench, type BenchOptions } from "../src/bench/run.js";
import { JobStore, canonicalJson, codeVersion, writeFileAtomic } from "../src/bench/store.js";

function tiny(): BenchOptions {
  const q = quickOptions();
  return {
    ...q,
    tasks: ["ess-easy"],
    arms: ["aura", "always-write", "random"],
    seeds: [0],
    ablationTasks: [],
    stepsByTask: {},
    workers: 0,
    backend: "wasm",
    panel: { ...q.panel, multiples: [], extra: [] },
    train: { ...q.train, steps: 8, batchSize: 8, evalEvery: 4, evalBatchSize: 32, softWarmupSteps: 2 },
  };
}

test("job keys: stable, the budget-matched arm keyed by its AURA job, new keys for new options or code", () => {
  const a = keyJobs(planJobs(tiny()));
  const b = keyJobs(planJobs(tiny()));
  assert.deepEqual(a.map((k) => k.key), b.map((k) => k.key));
  assert.equal(new Set(a.map((k) => k.key)).size, 3);
  assert.ok(a.every((k) => /^[0-9a-f]{32}$/.test(k.key)));
  const aura = a.find((k) => k.job.arm === "aura")!;
  assert.equal(a.find((k) => k.job.arm === "random")!.dependsOn, aura.key);
  assert.equal(a.find((k) => k.job.arm === "always-write")!.dependsOn, null);
  assert.match(aura.fields.codeVersion, /^0\.\d+\.\d+\+[0-9a-f]{12}$/);
  assert.equal(aura.fields.codeVersion, codeVersion());
  // one training option changes every key (and the dependant's through its AURA key)
  const c = keyJobs(planJobs({ ...tiny(), train: { ...tiny().train, lambdaW: 0.2 } }));
  for (let i = 0; i < a.length; i++) assert.notEqual(c[i]!.key, a[i]!.key);
  // so does the task's learning rate (the stream recipe's lrByTask overrides train.lr on the ess tasks)
  const e = keyJobs(planJobs({ ...tiny(), lrByTask: { "ess-easy": 1e-3 } }));
  for (let i = 0; i < a.length; i++) assert.notEqual(e[i]!.key, a[i]!.key);
  assert.deepEqual(keyJobs(planJobs({ ...tiny(), train: { ...tiny().train, lr: 1e-3 } })).map((k) => k.key), a.map((k) => k.key), "train.lr is overridden by lrByTask");
  // another code version: new keys
  const d = keyJobs(planJobs(tiny()), "9.9.9+000000000000");
  for (let i = 0; i < a.length; i++) assert.notEqual(d[i]!.key, a[i]!.key);
  // the data path is where the data are, not what they are; the plan id is not part of the key
  assert.deepEqual(keyJobs(planJobs({ ...tiny(), pushtPath: "/elsewhere" })).map((k) => k.key), a.map((k) => k.key));
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] }), '{"a":[1,{"d":2}],"b":1}');
});

test("runBench with a store: a rerun trains nothing and returns the same results; --plan counts them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aura-store-"));
  try {
    const store = new JobStore(join(dir, "store"));
    let ran = 0;
    const first = await runBench(tiny(), { onStart: () => ran++ }, { store });
    assert.equal(ran, 3);
    const files = readdirSync(store.dir);
    assert.equal(files.length, 3, `one file per job, no temp file left: ${files.join(", ")}`);
    const keys = keyJobs(planJobs(tiny())).map((k) => k.key);
    assert.deepEqual(files.sort(), keys.map((k) => `${k}.json`).sort());
    ran = 0;
    const again = await runBench(tiny(), { onStart: () => ran++ }, { store });
    assert.equal(ran, 0, "every job came from the store");
    assert.deepEqual(again, first);
    // a stored AURA job gives the budget-matched job its rate: drop random's result and rerun
    rmSync(store.path(keys[2]!));
    const third = await runBench(tiny(), { onStart: (j) => assert.equal(j.arm, "random") }, { store });
    assert.deepEqual(third.map((r) => r.test), first.map((r) => r.test), "random reruns to the same numbers with AURA's stored rate");
    // the CLI: a run fills its store, --plan then counts every job done; another option, none
    const cli = join(process.cwd(), "dist", "src", "cli", "main.js");
    const args = ["bench", "--tasks", "ess-easy", "--arms", "aura,always-write,random", "--seeds", "0", "--batch", "8", "--no-horizons", "--no-ablation", "--backend", "wasm", "--workers", "0", "--store", join(dir, "cli-store")];
    const run = spawnSync(process.execPath, [cli, ...args, "--steps", "8", "--out", join(dir, "out")], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const plan = spawnSync(process.execPath, [cli, ...args, "--steps", "8", "--plan"], { encoding: "utf8" });
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, /3 jobs, 3 done, 0 to run/);
    assert.match(plan.stdout, /ETA 0 s/);
    const other = spawnSync(process.execPath, [cli, ...args, "--steps", "9", "--plan"], { encoding: "utf8" });
    assert.match(other.stdout, /3 jobs, 0 done, 3 to run/);
    assert.match(other.stdout, /random ess-easy s0 .* to run after [0-9a-f]{8}/);
    assert.match(other.stdout, /ETA \d+ s on 1 worker/, "estimated from the done jobs of the same task and arm");
    await writeFileAtomic(join(dir, "x", "y.json"), "{}");
    assert.deepEqual(readdirSync(join(dir, "x")), ["y.json"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
