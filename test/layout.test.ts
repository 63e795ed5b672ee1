/**
 * The source layout: no import circles in src/, and the library (what `aura-mem` users install:
 * config, errors, layer, ops, model, train, io, deploy, persist, wasm, util) never imports the
 * harness (tasks, bench, sim, cli, web). Static: reads the relative imports of every src/ file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const SRC = "src";
const HARNESS = ["tasks", "bench", "sim", "cli", "web"];
/**
 * Known library -> harness imports, each with its reason; the test fails when one is gone (remove it
 * here then). The package index still re-exports the benchmark tasks until the library / harness
 * packages are split (issue 8).
 */
const KNOWN: Record<string, string> = {
  "src/index.ts -> src/tasks/index.ts": "public createTask / taskNames / describeTask until the workspaces split",
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Relative imports (static, dynamic, type-only, re-exports) of each file, resolved to .ts paths. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const pat = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
  for (const f of files(SRC)) {
    const deps: string[] = [];
    for (const m of readFileSync(f, "utf8").matchAll(pat)) {
      const t = normalize(join(dirname(f), (m[1] ?? m[2])!)).replace(/\.js$/, ".ts");
      if (existsSync(t)) deps.push(t);
    }
    g.set(f, deps);
  }
  return g;
}

test("no import circles in src/", () => {
  const g = graph();
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, "open");
    for (const d of g.get(f) ?? []) {
      if (state.get(d) === "open") cycles.push([...path.slice(path.indexOf(d)), d].join(" -> "));
      else if (!state.has(d)) visit(d, [...path, d]);
    }
    state.set(f, "done");
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(cycles, []);
});

test("the library does not import the harness", () => {
  const bad: string[] = [];
  for (const [f, deps] of graph()) {
    const top = relative(SRC, f).split(/[\\/]/)[0]!;
    if (HARNESS.includes(top)) continue;
    for (const d of deps) if (HARNESS.includes(relative(SRC, d).split(/[\\/]/)[0]!)) bad.push(`${f} -> ${d}`);
  }
  assert.deepEqual(bad.filter((e) => !(e in KNOWN)), [], "library modules importing the harness");
  assert.deepEqual(Object.keys(KNOWN).filter((e) => !bad.includes(e)), [], "stale entries in KNOWN: remove them");
});

test("one set of SIMD exp / tanh / sigmoid helpers: assembly/simd_math.ts, used by every kernel", () => {
  // (the library folders may move under packages/aura-mem/; look in both places)
  const dir: string | undefined = ["assembly", "packages/aura-mem/assembly"].find((d) => existsSync(join(d, "simd_math.ts")));
  if (dir === undefined) return assert.fail("assembly/simd_math.ts does not exist");
  const math = readFileSync(join(dir, "simd_math.ts"), "utf8");
  for (const f of ["vexp", "vtanh", "vsigmoid", "exp1", "tanh1", "sigmoid1"]) assert.match(math, new RegExp(`export function ${f}\\(`), f);
  const helper = /function\s+(\w*(?:exp|tanh|sigmoid)\w*)\s*\(/gi;
  const users: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".ts") && n !== "simd_math.ts")) {
    const text: string = readFileSync(join(dir, f), "utf8");
    // kernel entry points (act_tanh, ...), derivative helpers (vtanhGrad, ...) and array loops over the
    // shared helpers (tanhArr) are not maths helpers
    const own: string[] = [...text.matchAll(helper)].map((m) => m[1]!).filter((n) => !n.startsWith("act_") && !n.endsWith("Grad") && !n.endsWith("Arr"));
    assert.deepEqual(own, [], `${f} defines its own exp / tanh / sigmoid helper(s); use simd_math.ts`);
    assert.doesNotMatch(text, /\bMath[f]?\.(exp|tanh|expm1)\s*\(/, `${f} calls a scalar libm exp / tanh; use simd_math.ts (exp1, tanh1, sigmoid1)`);
    if (/from "\.\/simd_math"/.test(text)) users.push(f);
  }
  assert.deepEqual(users.sort(), ["activation.ts", "attention.ts", "delta_rule.ts", "rnn.ts", "step.ts"]);
});
