/**
 * Is the cued goal linearly decodable where the goal role's arms must store it? (dev script, docs/sim.md)
 * `npx tsx bench/goal_probe.ts [demos]`: cue-visible demonstrations of cue-sequence, the base cloned on them
 * (as in `aura sim --arm-role goal`, without DAgger), then a ridge least-squares one-vs-all probe of the goal
 * index from the base's features z of the real observations (cue hidden outside its steps) at the cue steps
 * and after them, from the observation's cue channel itself, and from the goal role's cue features (goal.ts
 * `cueFeatures`, which every goal arm reads beside z); train on demos 20.., test on demos 0-19.
 */
import { createOps } from "aura-mem/ops/index";
import type { Demo } from "../src/sim/demos.js";
import type { BaseJobResult } from "../src/sim/jobs.js";
import { runSimJob, SimContext } from "../src/sim/jobs.js";
import { BasePolicy } from "../src/sim/policy.js";
import { cueFeatures, hideCue } from "../src/sim/goal.js";
import { OBS_DIM, OBS_LAYOUT, CUE_DIM } from "../src/sim/env.js";
const ROBOT = "../shared/models/franka_emika_panda";
const ops = createOps("auto");
const ctx = new SimContext(ops);
const task = "cue-sequence" as const;
const N = Number(process.argv[2] ?? 120);
const demos = (await runSimJob({ kind: "demos", task, seeds: Array.from({ length: N }, (_, i) => i), robotDir: ROBOT, cueAlwaysOn: true }, ctx)) as Demo[];
const val = demos.slice(0, 20), tr = demos.slice(20);
const t0 = Date.now();
const res = (await runSimJob({ kind: "base", task, train: tr, val, hidden: 256, epochs: 35, lr: 2e-3, seed: 0 }, ctx)) as BaseJobResult;
console.log("base val mse", res.valMse.toFixed(4), ((Date.now() - t0) / 1000).toFixed(0), "s");
const base = new BasePolicy(ops, res.base);
const H = base.hidden;
type Sel = (d: Demo, t: number) => boolean;
interface Rows { X: number[][]; Y: number[] }
function rows(ds: Demo[], which: Sel): Rows {
  const X: number[][] = [], Y: number[] = [];
  for (const d of ds) {
    const obs = hideCue(d.obs, d.stepType);
    const z = base.forward(obs, d.T).z;
    for (let t = 0; t < d.T; t++) {
      if (!which(d, t)) continue;
      X.push([...z.subarray(t * H, (t + 1) * H), 1]);
      Y.push(d.goal[t]);
    }
  }
  return { X, Y };
}
function rowsCue(ds: Demo[], which: Sel): Rows {
  const X: number[][] = [], Y: number[] = [];
  for (const d of ds) for (let t = 0; t < d.T; t++) if (which(d, t)) { X.push([...d.obs.subarray(t * OBS_DIM + OBS_LAYOUT.cue, t * OBS_DIM + OBS_LAYOUT.cue + CUE_DIM), 1]); Y.push(d.goal[t]); }
  return { X, Y };
}
function rowsFeatures(ds: Demo[], which: Sel): Rows {
  const X: number[][] = [], Y: number[] = [];
  for (const d of ds) for (let t = 0; t < d.T; t++) if (which(d, t)) { X.push([...cueFeatures(d.obs, t * OBS_DIM), 1]); Y.push(d.goal[t]); }
  return { X, Y };
}
// ridge one-vs-all least squares
function fit({ X, Y }: Rows, C = 6, lam = 1e-2): Float64Array[] {
  const D = X[0].length;
  const A = Array.from({ length: D }, () => new Float64Array(D));
  const B = Array.from({ length: D }, () => new Float64Array(C));
  for (let n = 0; n < X.length; n++) { const x = X[n]; for (let i = 0; i < D; i++) { const xi = x[i]; if (xi === 0) continue; const Ai = A[i]; for (let j = 0; j < D; j++) Ai[j] += xi * x[j]; B[i][Y[n]] += xi; } }
  for (let i = 0; i < D; i++) A[i][i] += lam * X.length;
  // Gaussian elimination
  for (let k = 0; k < D; k++) { let p = k; for (let i = k + 1; i < D; i++) if (Math.abs(A[i][k]) > Math.abs(A[p][k])) p = i; [A[k], A[p]] = [A[p], A[k]]; [B[k], B[p]] = [B[p], B[k]];
    for (let i = k + 1; i < D; i++) { const f = A[i][k] / A[k][k]; if (!f) continue; for (let j = k; j < D; j++) A[i][j] -= f * A[k][j]; for (let c = 0; c < C; c++) B[i][c] -= f * B[k][c]; } }
  const W = Array.from({ length: D }, () => new Float64Array(C));
  for (let i = D - 1; i >= 0; i--) for (let c = 0; c < C; c++) { let s = B[i][c]; for (let j = i + 1; j < D; j++) s -= A[i][j] * W[j][c]; W[i][c] = s / A[i][i]; }
  return W;
}
function acc(W: Float64Array[], { X, Y }: Rows): number { let ok = 0; for (let n = 0; n < X.length; n++) { let best = 0, bv = -Infinity; for (let c = 0; c < 6; c++) { let s = 0; for (let i = 0; i < X[n].length; i++) s += X[n][i] * W[i][c]; if (s > bv) { bv = s; best = c; } } if (best === Y[n]) ok++; } return ok / X.length; }
const isCue: Sel = (d, t) => d.stepType[t] === 1;
for (const [name, sel] of <[string, Sel][]>[["cue steps", isCue], ["step 10 (4 after the cue)", (_d, t) => t === 10], ["step 30", (_d, t) => t === 30], ["steps >= 6 (after the cue)", (d, t) => t >= 6 && d.stepType[t] !== 1]]) {
  const a = rows(tr, sel), b = rows(val, sel);
  const W = fit(a);
  console.log(`z probe, ${name}: train ${acc(W, a).toFixed(3)} (n ${a.X.length}), val ${acc(W, b).toFixed(3)} (n ${b.X.length})`);
}
const ca = rowsCue(tr, isCue), cb = rowsCue(val, isCue);
const Wc = fit(ca);
console.log(`cue-channel probe at cue steps: train ${acc(Wc, ca).toFixed(3)}, val ${acc(Wc, cb).toFixed(3)}; stepType codes at t<8:`, [...demos[0].stepType.subarray(0, 8)]);
const fa = rowsFeatures(tr, isCue), fb = rowsFeatures(val, isCue);
const Wf = fit(fa);
console.log(`cue-features probe at cue steps: train ${acc(Wf, fa).toFixed(3)}, val ${acc(Wf, fb).toFixed(3)}`);
await ctx.dispose();
