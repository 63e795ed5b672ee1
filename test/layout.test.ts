/**
 * The workspace layout (issue 8): the library package `packages/aura-mem` (what `npm install aura-mem`
 * gives a robot: config, errors, layer, ops, model, train, io, deploy, persist, wasm, util) stands on
 * its own: every relative import stays inside it and every bare import is a Node built-in or one of
 * its declared (peer) dependencies. The harness (src/: tasks, bench, sim, cli, web), the tests and the
 * web demo reach the library only through its package name. No import circles anywhere.
 * Static: reads the imports of every source file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const LIB = "packages/aura-mem";
const LIB_SRC = join(LIB, "src");
const CONSUMERS = ["src", "test", "bench", "examples", "web/src"];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every import specifier (static, dynamic, type-only, re-exports) of a file. */
function specifiers(f: string): string[] {
  const pat = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  return [...readFileSync(f, "utf8").matchAll(pat)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** A specifier resolved to a source file: relative paths, and `aura-mem[/sub]` to the library source. */
function resolveSpec(from: string, spec: string): string | null {
  let t: string;
  if (spec.startsWith(".")) t = normalize(join(dirname(from), spec)).replace(/\.js$/, ".ts");
  else if (spec === "aura-mem") t = join(LIB_SRC, "index.ts");
  else if (spec.startsWith("aura-mem/")) t = join(LIB_SRC, spec.slice("aura-mem/".length) + ".ts");
  else return null;
  return existsSync(t) ? t : null;
}

test("the library package imports nothing outside itself but Node built-ins and its declared dependencies", () => {
  const pkg = JSON.parse(readFileSync(join(LIB, "package.json"), "utf8"));
  const allowed = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
  const bad: string[] = [];
  for (const f of files(LIB_SRC)) {
    for (const s of specifiers(f)) {
      if (s.startsWith(".")) {
        const t = normalize(join(dirname(f), s));
        if (!t.startsWith(LIB_SRC + "/")) bad.push(`${f} -> ${s} (outside the package)`);
      } else if (!s.startsWith("node:")) {
        const name = s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!;
        if (!allowed.has(name)) bad.push(`${f} -> ${s} (not a declared dependency)`);
      }
    }
  }
  assert.deepEqual(bad, []);
  // A robot's control loop pulls no physics, plotting or dataset packages: the library's one runtime
  // dependency is the store's writer lock (proper-lockfile); onnx-proto is an optional peer, loaded only
  // by exportOnnx.
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), ["proper-lockfile"]);
});

test("the harness, tests, benchmarks, examples and demo reach the library only by its package name", () => {
  const bad: string[] = [];
  for (const dir of CONSUMERS) {
    for (const f of files(dir)) {
      for (const s of specifiers(f)) {
        if (s.startsWith(".") && normalize(join(dirname(f), s)).startsWith(LIB + "/")) bad.push(`${f} -> ${s}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

test("no import circles (library and harness, through the package name)", () => {
  const g = new Map<string, string[]>();
  for (const f of [...files(LIB_SRC), ...files("src")]) {
    g.set(f, specifiers(f).map((s) => resolveSpec(f, s)).filter((t): t is string => t !== null));
  }
  assert.ok(g.size > 80, `expected the whole source tree, read ${g.size} files`);
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

test("one set of SIMD exp / tanh / sigmoid helpers: assembly/simd_math.ts, used by every kernel", () => {
  const dir = join(LIB, "assembly");
  assert.ok(existsSync(join(dir, "simd_math.ts")), "packages/aura-mem/assembly/simd_math.ts does not exist");
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
