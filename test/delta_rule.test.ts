/**
 * Gated delta-rule cell (src/ops/delta_rule): WASM vs the TypeScript reference (forward and
 * backward), the reference backward vs central finite differences and vs tfjs autodiff, streaming
 * equivalence, the closed-form read-out identity, and input validation.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { loadKernels } from "aura-mem/wasm/runtime";
import { ConfigError, ShapeError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import {
  deltaRuleNaive,
  deltaRuleWasm,
  type DeltaRuleGrads,
  type DeltaRuleInputs,
  type DeltaRuleOp,
  type DeltaRuleOutput,
  type DeltaRuleState,
  type GateSpec,
} from "aura-mem/ops/delta_rule/index";
import { assertClose, finiteDiff, sampleIdx } from "./helpers.js";

const kernels = loadKernels();
const wasm = deltaRuleWasm(kernels);
const naive = deltaRuleNaive;

type Shape = readonly [B: number, T: number, dK: number, dV: number, dG: number];
type Mode = "learned-hard" | "learned-sampled" | "learned-soft" | "fixed-01" | "fixed-ones" | "recon";
const SHAPES: readonly Shape[] = [
  [1, 1, 4, 4, 4],
  [2, 7, 5, 3, 6],
  [3, 33, 32, 32, 32],
  [2, 40, 16, 8, 8],
  [2, 19, 7, 13, 21], // every SIMD path: dV = 8 + 4 + 1 columns, dGate = 16 + 4 + 1
];
const MODES: readonly Mode[] = ["learned-hard", "learned-sampled", "learned-soft", "fixed-01", "fixed-ones", "recon"];

function unitRows(rng: Rng, rows: number, d: number): Float32Array {
  const a = rng.normals(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += a[r * d + i]! ** 2;
    s = Math.sqrt(s);
    for (let i = 0; i < d; i++) a[r * d + i]! /= s;
  }
  return a;
}

function makeGate(rng: Rng, mode: Mode, B: number, T: number, dV: number, dG: number): GateSpec {
  switch (mode) {
    case "learned-hard":
    case "learned-sampled":
    case "learned-soft":
      return {
        mode: "learned",
        gatePre: rng.normals(B * T * dG, 0.5),
        W1e: rng.normals(dV * dG, 0.4),
        W1a: rng.normals(dV * dG, 0.4),
        w2: rng.normals(dG, 0.6),
        b2: 0.15,
        hard: mode !== "learned-soft",
        threshold: mode === "learned-hard" ? 0.45 : undefined,
        // the stochastic gate of training: per-step thresholds u ~ U(0, 1), g = [p > u]
        ...(mode === "learned-sampled" ? { thresholds: Float32Array.from({ length: B * T }, () => rng.uniform()) } : {}),
      };
    case "fixed-01":
      return { mode: "fixed", g: Float32Array.from({ length: B * T }, () => (rng.uniform() < 0.5 ? 1 : 0)) };
    case "fixed-ones":
      return { mode: "fixed", g: new Float32Array(B * T).fill(1) };
    case "recon":
      // Surprise ~ ||v|| ~ 0.8 sqrt(dV) at first (shrinking as the memory learns): a mix of writes.
      return { mode: "recon", tau: 0.8 * Math.sqrt(dV) };
  }
}

function makeInputs(shape: Shape, mode: Mode, seed: number, decay = 1): DeltaRuleInputs {
  const [B, T, dK, dV, dG] = shape;
  const rng = new Rng(seed);
  const learned = mode.startsWith("learned");
  return {
    B,
    T,
    dK,
    dV,
    dGate: learned ? dG : 0,
    k: unitRows(rng, B * T, dK),
    q: unitRows(rng, B * T, dK),
    v: rng.normals(B * T * dV, 0.8),
    beta: Float32Array.from({ length: B * T }, () => 0.1 + 0.8 * rng.uniform()),
    gate: makeGate(rng, mode, B, T, dV, dG),
    ...(decay !== 1 ? { decay } : {}),
  };
}

function makeState(rng: Rng, B: number, dK: number, dV: number, std = 0.3): DeltaRuleState {
  return { M: rng.normals(B * dK * dV, std), m: rng.normals(B * dV, std) };
}

function upstream(rng: Rng, inp: DeltaRuleInputs) {
  const { B, T, dK, dV } = inp;
  return { dr: rng.normals(B * T * dV), dp: rng.normals(B * T), dFinal: makeState(rng, B, dK, dV, 1) };
}

function compareOutputs(tag: string, ref: DeltaRuleOutput, got: DeltaRuleOutput, tol: number): void {
  assertClose(`${tag} r`, ref.r, got.r, tol);
  assertClose(`${tag} e`, ref.e, got.e, tol);
  assertClose(`${tag} p`, ref.p, got.p, tol);
  // 0/1 gates (hard, fixed, recon) must take exactly the same decisions.
  for (let i = 0; i < ref.g.length; i++) {
    if (ref.g[i] === 0 || ref.g[i] === 1) assert.equal(got.g[i], ref.g[i], `${tag} gate decision ${i}`);
  }
  assertClose(`${tag} g`, ref.g, got.g, tol);
  assertClose(`${tag} surprise`, ref.surprise, got.surprise, tol);
  assertClose(`${tag} final M`, ref.finalState.M, got.finalState.M, tol);
  assertClose(`${tag} final m`, ref.finalState.m, got.finalState.m, tol);
}

function compareGrads(tag: string, ref: DeltaRuleGrads, got: DeltaRuleGrads, tol: number, learned: boolean): void {
  assertClose(`${tag} dk`, ref.dk, got.dk, tol);
  assertClose(`${tag} dq`, ref.dq, got.dq, tol);
  assertClose(`${tag} dv`, ref.dv, got.dv, tol);
  assertClose(`${tag} dbeta`, ref.dbeta, got.dbeta, tol);
  assertClose(`${tag} dM0`, ref.dInitial.M, got.dInitial.M, tol);
  assertClose(`${tag} dm0`, ref.dInitial.m, got.dInitial.m, tol);
  if (learned) {
    assertClose(`${tag} dGatePre`, ref.dGatePre!, got.dGatePre!, tol);
    assertClose(`${tag} dW1e`, ref.dW1e!, got.dW1e!, tol);
    assertClose(`${tag} dW1a`, ref.dW1a!, got.dW1a!, tol);
    assertClose(`${tag} dw2`, ref.dw2!, got.dw2!, tol);
    // db2 = sum over all B*T steps of dL/dlogit: terms of size ~|dGatePre| that largely cancel, so its
    // float32 rounding error scales with the terms, not with the (possibly tiny) sum.
    const termScale = ref.dGatePre!.reduce((s, x) => s + Math.abs(x), 0) / Math.max(1, ref.dw2!.length);
    const err = Math.abs(ref.db2! - got.db2!);
    assert.ok(Number.isFinite(got.db2!) && err <= tol * termScale, `${tag} db2: ${got.db2} vs ${ref.db2} (term scale ${termScale})`);
  } else {
    assert.equal(got.dGatePre, undefined);
    assert.equal(got.db2, undefined);
  }
}

// -------------------------------------------------------------------------------------------------

describe("delta rule forward: WASM vs naive", () => {
  for (const shape of SHAPES) {
    for (const mode of MODES) {
      test(`${shape.join(",")} ${mode}`, () => {
        const [B, , dK, dV] = shape;
        const init = makeState(new Rng(5), B, dK, dV);
        let writes = 0;
        // without and with the write decay (forgetting where the gate writes)
        for (const decay of [1, 0.8]) {
          const inp = makeInputs(shape, mode, 11, decay);
          for (const initialState of [undefined, init]) {
            const ref = naive.forward(inp, { initialState });
            const got = wasm.forward(inp, { initialState, saveForBackward: true });
            compareOutputs(`${mode} decay=${decay} init=${!!initialState}`, ref, got, 1e-5);
            if (decay === 1) writes += ref.g.reduce((s, x) => s + (x > 0 ? 1 : 0), 0);
          }
        }
        if (mode === "fixed-ones") assert.equal(writes, 2 * shape[0] * shape[1]);
        // The gate is exercised: some writes happen (and for the 0/1 gates, not all of them on big shapes).
        if (shape[1] > 1) assert.ok(writes > 0, "no step wrote");
        if (mode !== "fixed-ones" && mode !== "learned-soft" && shape[1] >= 7) assert.ok(writes < 2 * shape[0] * shape[1], "every step wrote");
      });
    }
  }
});

describe("delta rule backward: WASM vs naive", () => {
  for (const shape of SHAPES) {
    for (const mode of MODES) {
      // without and with the write decay (the SIMD backward computes both)
      for (const decay of [1, 0.8]) test(`${shape.join(",")} ${mode}${decay !== 1 ? ` decay ${decay}` : ""}`, () => {
        const inp = makeInputs(shape, mode, 12, decay);
        const [B, , dK, dV] = shape;
        const rng = new Rng(6);
        const initialState = makeState(rng, B, dK, dV);
        const up = upstream(rng, inp);
        const outN = naive.forward(inp, { initialState, saveForBackward: true });
        const outW = wasm.forward(inp, { initialState, saveForBackward: true });
        const gN = naive.backward(inp, outN, up);
        const gW = wasm.backward(inp, outW, up);
        compareGrads(mode, gN, gW, 1e-4, mode.startsWith("learned"));
        // Without dp / dFinal, and each backward on the other backend's saved output.
        const gN2 = naive.backward(inp, outW, { dr: up.dr });
        const gW2 = wasm.backward(inp, outN, { dr: up.dr });
        compareGrads(`${mode} cross`, gN2, gW2, 1e-4, mode.startsWith("learned"));
      });
    }
  }

  for (const decay of [1, 0.7]) test(`checkpoint interval does not change the result (C = 1, 5, 16, 64)${decay !== 1 ? `, write decay ${decay}` : ""}`, () => {
    const inp = makeInputs([2, 37, 6, 7, 5], "learned-soft", 13, decay);
    const rng = new Rng(3);
    const initialState = makeState(rng, 2, 6, 7);
    const up = upstream(rng, inp);
    const ref = naive.backward(inp, naive.forward(inp, { initialState, saveForBackward: true }), up);
    let first: DeltaRuleGrads | null = null;
    for (const chunk of [1, 5, 16, 64]) {
      const op = deltaRuleWasm(kernels, { chunk });
      const out = op.forward(inp, { initialState, saveForBackward: true });
      assert.equal(out.saved!.checkpoints.length, 2 * Math.ceil(37 / Math.min(chunk, 37)) * 6 * 7);
      const g = op.backward(inp, out, up);
      compareGrads(`C=${chunk}`, ref, g, 1e-4, true);
      // Recomputed states are bit-identical to the forward's, so the chunking is exact.
      if (first) assert.deepEqual(g.dk, first.dk, `C=${chunk} dk differs from C=1`);
      else first = g;
    }
  });
});

// -------------------------------------------------------------------------------------------------

/** L = sum(cr*r) + sum(cp*p) + <cF, final> in float64 from a forward's outputs. */
function linearLoss(out: DeltaRuleOutput, cr: Float32Array, cp: Float32Array, cF: DeltaRuleState): number {
  let L = 0;
  for (let i = 0; i < cr.length; i++) L += cr[i]! * out.r[i]!;
  for (let i = 0; i < cp.length; i++) L += cp[i]! * out.p[i]!;
  for (let i = 0; i < cF.M.length; i++) L += cF.M[i]! * out.finalState.M[i]!;
  for (let i = 0; i < cF.m.length; i++) L += cF.m[i]! * out.finalState.m[i]!;
  return L;
}

describe("delta rule naive backward vs finite differences", () => {
  for (const [mode, decay] of [["learned-soft", 1], ["fixed-01", 1], ["fixed-ones", 1], ["learned-soft", 0.7], ["fixed-01", 0.7]] as const) {
    test(`${mode}${decay !== 1 ? ` decay ${decay}` : ""}`, () => {
      const shape: Shape = [2, 6, 4, 3, 5];
      const [B, , dK, dV] = shape;
      const inp = makeInputs(shape, mode, 21, decay);
      const rng = new Rng(8);
      const init = makeState(rng, B, dK, dV);
      const up = upstream(rng, inp);
      const dp = mode === "learned-soft" ? up.dp : new Float32Array(up.dp.length); // p has no gradient path otherwise
      const loss = () => linearLoss(naive.forward(inp, { initialState: init }), up.dr, dp, up.dFinal);
      const grads = naive.backward(inp, naive.forward(inp, { initialState: init, saveForBackward: true }), { dr: up.dr, dp, dFinal: up.dFinal });

      const targets: [string, Float32Array, Float32Array][] = [
        ["k", inp.k, grads.dk],
        ["q", inp.q, grads.dq],
        ["v", inp.v, grads.dv],
        ["beta", inp.beta, grads.dbeta],
        ["M0", init.M, grads.dInitial.M],
        ["m0", init.m, grads.dInitial.m],
      ];
      if (inp.gate.mode === "learned") {
        targets.push(["gatePre", inp.gate.gatePre, grads.dGatePre!], ["W1e", inp.gate.W1e, grads.dW1e!], ["W1a", inp.gate.W1a, grads.dW1a!], ["w2", inp.gate.w2, grads.dw2!]);
      }
      for (const [name, x, dx] of targets) {
        const idx = sampleIdx(x.length, 10, name.length);
        const fd = finiteDiff(loss, x, idx, 1e-2);
        const an = idx.map((i) => dx[i]!);
        // h = 1e-2 in float32: truncation O(h^2) and rounding O(1e-7 / h) errors, both << 2e-2.
        assertClose(`d${name}`, fd, an, 2e-2, 2e-3);
      }
      if (inp.gate.mode === "learned") {
        const gate = inp.gate;
        const c0 = gate.b2;
        const h = 1e-2;
        gate.b2 = c0 + h;
        const lp = loss();
        gate.b2 = c0 - h;
        const lm = loss();
        gate.b2 = c0;
        assertClose("db2", [(lp - lm) / (2 * h)], [grads.db2!], 2e-2, 2e-3);
      }
    });
  }

  test("finite-difference check fails for a sign error (sanity of the tolerance)", () => {
    const inp = makeInputs([2, 6, 4, 3, 5], "fixed-ones", 21);
    const rng = new Rng(8);
    const up = upstream(rng, inp);
    const loss = () => linearLoss(naive.forward(inp), up.dr, new Float32Array(up.dp.length), up.dFinal);
    const grads = naive.backward(inp, naive.forward(inp, { saveForBackward: true }), { dr: up.dr, dFinal: up.dFinal });
    const idx = sampleIdx(inp.k.length, 10, 1);
    const fd = finiteDiff(loss, inp.k, idx, 1e-2);
    assert.throws(() => assertClose("dk flipped", fd, idx.map((i) => -grads.dk[i]!), 2e-2, 2e-3));
  });
});

// -------------------------------------------------------------------------------------------------

/** The same recurrence in tfjs ops; returns the gradients from tf.grads. */
function tfjsGrads(inp: DeltaRuleInputs, init: DeltaRuleState, cr: Float32Array, cp: Float32Array, cF: DeltaRuleState) {
  const { B, T, dK, dV, gate } = inp;
  const dG = gate.mode === "learned" ? inp.dGate : 1;
  const threshold = gate.mode === "learned" ? gate.threshold ?? 0.5 : 0;
  const tau = gate.mode === "recon" ? gate.tau : 0;
  // Hard gates: forward is a step, backward the straight-through estimator (learned) or zero (recon).
  type GradFn = Parameters<typeof tf.customGrad>[0];
  const steAt = (thr: number | tf.Tensor) =>
    tf.customGrad(((x: tf.Tensor) => ({ value: tf.cast(tf.greater(x, thr), "float32"), gradFunc: (dy: tf.Tensor) => dy })) as GradFn);
  const ste = steAt(threshold);
  // per-step thresholds (the stochastic gate of training): one straight-through step per time step
  const steps = gate.mode === "learned" && gate.thresholds ? tf.unstack(tf.tensor(gate.thresholds, [B, T]), 1).map(steAt) : null;
  const reconStep = tf.customGrad(((x: tf.Tensor) => ({ value: tf.cast(tf.greater(x, tau), "float32"), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as GradFn);

  const loss = (k: tf.Tensor, q: tf.Tensor, v: tf.Tensor, beta: tf.Tensor, M0: tf.Tensor, m0: tf.Tensor, gatePre: tf.Tensor, W1e: tf.Tensor, W1a: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) => {
    const ks = tf.unstack(k.reshape([B, T, dK]), 1);
    const qs = tf.unstack(q.reshape([B, T, dK]), 1);
    const vs = tf.unstack(v.reshape([B, T, dV]), 1);
    const bs = tf.unstack(beta.reshape([B, T]), 1);
    const gps = tf.unstack(gatePre.reshape([B, T, dG]), 1);
    const crs = tf.unstack(tf.tensor(cr, [B, T, dV]), 1);
    const cps = tf.unstack(tf.tensor(cp, [B, T]), 1);
    const gFixed = gate.mode === "fixed" ? tf.unstack(tf.tensor(gate.g, [B, T]), 1) : [];
    let M = M0.reshape([B, dK, dV]);
    let m = m0.reshape([B, dV]);
    let L: tf.Tensor = tf.scalar(0);
    for (let t = 0; t < T; t++) {
      const kt = ks[t]!;
      const vhat = tf.add(tf.matMul(kt.reshape([B, 1, dK]), M).reshape([B, dV]), m);
      const e = tf.sub(vs[t]!, vhat);
      let p: tf.Tensor;
      let g: tf.Tensor;
      if (gate.mode === "learned") {
        const a = tf.tanh(tf.add(tf.add(gps[t]!, tf.matMul(e, W1e.reshape([dV, dG]))), tf.matMul(tf.abs(e), W1a.reshape([dV, dG]))));
        p = tf.sigmoid(tf.add(tf.matMul(a, w2.reshape([dG, 1])).reshape([B]), b2));
        g = gate.hard ? ((steps ? steps[t]! : ste)(p) as tf.Tensor) : p;
      } else if (gate.mode === "fixed") {
        p = g = gFixed[t]!;
      } else {
        p = g = reconStep(tf.sqrt(tf.sum(tf.square(e), 1))) as tf.Tensor;
      }
      const w = tf.mul(g, bs[t]!);
      // write decay where the gate writes: a = 1 - g (1 - alpha)
      const a = tf.sub(1, tf.mul(g, 1 - (inp.decay ?? 1)));
      M = tf.add(tf.mul(M, a.reshape([B, 1, 1])), tf.mul(w.reshape([B, 1, 1]), tf.mul(kt.reshape([B, dK, 1]), e.reshape([B, 1, dV]))));
      m = tf.add(tf.mul(m, a.reshape([B, 1])), tf.mul(w.reshape([B, 1]), e));
      const r = tf.add(tf.matMul(qs[t]!.reshape([B, 1, dK]), M).reshape([B, dV]), m);
      L = tf.add(L, tf.sum(tf.mul(crs[t]!, r)));
      if (gate.mode === "learned") L = tf.add(L, tf.sum(tf.mul(cps[t]!, p)));
    }
    // Non-learned modes: keep the unused gate arguments in the graph (zero gradient) for tf.grads.
    if (gate.mode !== "learned") for (const x of [gatePre, W1e, W1a, w2, b2]) L = tf.add(L, tf.mul(0, tf.sum(x)));
    L = tf.add(L, tf.sum(tf.mul(tf.tensor(cF.M, [B, dK, dV]), M)));
    return tf.add(L, tf.sum(tf.mul(tf.tensor(cF.m, [B, dV]), m)));
  };
  return tf.tidy(() => {
    const lg = gate.mode === "learned" ? gate : null;
    const args = [
      tf.tensor(inp.k),
      tf.tensor(inp.q),
      tf.tensor(inp.v),
      tf.tensor(inp.beta),
      tf.tensor(init.M),
      tf.tensor(init.m),
      tf.tensor(lg ? lg.gatePre : new Float32Array(B * T)),
      tf.tensor(lg ? lg.W1e : new Float32Array(dV)),
      tf.tensor(lg ? lg.W1a : new Float32Array(dV)),
      tf.tensor(lg ? lg.w2 : new Float32Array(1)),
      tf.scalar(lg ? lg.b2 : 0),
    ];
    const grads = tf.grads(loss as (...a: tf.Tensor[]) => tf.Tensor)(args);
    return grads.map((x) => x.dataSync() as Float32Array);
  });
}

describe("delta rule backward vs tfjs autodiff", () => {
  for (const [mode, decay] of [...MODES.map((m) => [m, 1] as const), ...MODES.map((m) => [m, 0.75] as const)]) {
    test(`${mode}${decay !== 1 ? ` decay ${decay}` : ""}`, async () => {
      await tf.setBackend("cpu");
      const shape: Shape = [2, 9, 5, 6, 4];
      const [B, , dK, dV] = shape;
      const inp = makeInputs(shape, mode, 31, decay);
      const rng = new Rng(9);
      const init = makeState(rng, B, dK, dV);
      const up = upstream(rng, inp);
      const learned = inp.gate.mode === "learned";
      const [dk, dq, dv, dbeta, dM0, dm0, dGatePre, dW1e, dW1a, dw2, db2] = tfjsGrads(inp, init, up.dr, up.dp, up.dFinal);
      for (const [name, op] of [["naive", naive], ["wasm", wasm]] as [string, DeltaRuleOp][]) {
        const out = op.forward(inp, { initialState: init, saveForBackward: true });
        const g = op.backward(inp, out, up);
        const tag = `${name} vs tfjs (${mode})`;
        assertClose(`${tag} dk`, dk!, g.dk, 1e-4, 1e-5);
        assertClose(`${tag} dq`, dq!, g.dq, 1e-4, 1e-5);
        assertClose(`${tag} dv`, dv!, g.dv, 1e-4, 1e-5);
        assertClose(`${tag} dbeta`, dbeta!, g.dbeta, 1e-4, 1e-5);
        assertClose(`${tag} dM0`, dM0!, g.dInitial.M, 1e-4, 1e-5);
        assertClose(`${tag} dm0`, dm0!, g.dInitial.m, 1e-4, 1e-5);
        if (learned) {
          assertClose(`${tag} dGatePre`, dGatePre!, g.dGatePre!, 1e-4, 1e-5);
          assertClose(`${tag} dW1e`, dW1e!, g.dW1e!, 1e-4, 1e-5);
          assertClose(`${tag} dW1a`, dW1a!, g.dW1a!, 1e-4, 1e-5);
          assertClose(`${tag} dw2`, dw2!, g.dw2!, 1e-4, 1e-5);
          assertClose(`${tag} db2`, db2!, [g.db2!], 1e-4, 1e-5);
        }
      }
    });
  }
});

// -------------------------------------------------------------------------------------------------

/** Steps [t0, t1) of every row of `inp` as a new input. */
function sliceSteps(inp: DeltaRuleInputs, t0: number, t1: number): DeltaRuleInputs {
  const { B, T, dK, dV, dGate } = inp;
  const n = t1 - t0;
  const cut = (a: Float32Array, d: number) => {
    const o = new Float32Array(B * n * d);
    for (let b = 0; b < B; b++) o.set(a.subarray((b * T + t0) * d, (b * T + t1) * d), b * n * d);
    return o;
  };
  const g = inp.gate;
  const gate: GateSpec = g.mode === "learned" ? { ...g, gatePre: cut(g.gatePre, dGate) } : g.mode === "fixed" ? { mode: "fixed", g: cut(g.g, 1) } : g;
  return { B, T: n, dK, dV, dGate, k: cut(inp.k, dK), q: cut(inp.q, dK), v: cut(inp.v, dV), beta: cut(inp.beta, 1), gate, decay: inp.decay };
}

describe("delta rule streaming", () => {
  for (const mode of ["learned-hard", "learned-soft", "recon", "fixed-01"] as const) {
    test(`T steps == T1 + T2 == T single steps (${mode}, write decay 0.8)`, () => {
      const inp = makeInputs([3, 20, 8, 12, 6], mode, 41, 0.8);
      const init = makeState(new Rng(2), 3, 8, 12);
      for (const op of [naive, wasm]) {
        const full = op.forward(inp, { initialState: init });
        const a = op.forward(sliceSteps(inp, 0, 7), { initialState: init });
        const b = op.forward(sliceSteps(inp, 7, 20), { initialState: a.finalState });
        const rJoin = new Float32Array(full.r.length);
        const gJoin = new Float32Array(full.g.length);
        for (let bb = 0; bb < 3; bb++) {
          rJoin.set(a.r.subarray(bb * 7 * 12, (bb + 1) * 7 * 12), bb * 20 * 12);
          rJoin.set(b.r.subarray(bb * 13 * 12, (bb + 1) * 13 * 12), (bb * 20 + 7) * 12);
          gJoin.set(a.g.subarray(bb * 7, (bb + 1) * 7), bb * 20);
          gJoin.set(b.g.subarray(bb * 13, (bb + 1) * 13), bb * 20 + 7);
        }
        assertClose("chunked r", full.r, rJoin, 1e-6);
        assertClose("chunked g", full.g, gJoin, 1e-6);
        assertClose("chunked final M", full.finalState.M, b.finalState.M, 1e-6);
        assertClose("chunked final m", full.finalState.m, b.finalState.m, 1e-6);

        let state = init;
        const rStep = new Float32Array(full.r.length);
        for (let t = 0; t < 20; t++) {
          const o = op.forward(sliceSteps(inp, t, t + 1), { initialState: state });
          for (let bb = 0; bb < 3; bb++) rStep.set(o.r.subarray(bb * 12, (bb + 1) * 12), (bb * 20 + t) * 12);
          state = o.finalState;
        }
        assertClose("single-step r", full.r, rStep, 1e-6);
        assertClose("single-step final M", full.finalState.M, state.M, 1e-6);
      }
    });
  }
});

describe("delta rule identities", () => {
  test("closed-form read-out r = r0 + g beta (k.q + 1) e", () => {
    const [B, T, dK, dV] = [2, 10, 6, 5];
    const inp = makeInputs([B, T, dK, dV, 4], "learned-soft", 51);
    for (const op of [naive, wasm]) {
      let state = makeState(new Rng(4), B, dK, dV);
      for (let t = 0; t < T; t++) {
        const step = sliceSteps(inp, t, t + 1);
        const o = op.forward(step, { initialState: state });
        const pred = new Float32Array(B * dV);
        for (let b = 0; b < B; b++) {
          let kq = 0;
          for (let i = 0; i < dK; i++) kq += step.k[b * dK + i]! * step.q[b * dK + i]!;
          const w = o.g[b]! * step.beta[b]!;
          for (let j = 0; j < dV; j++) {
            let r0 = state.m[b * dV + j]!;
            for (let i = 0; i < dK; i++) r0 += state.M[(b * dK + i) * dV + j]! * step.q[b * dK + i]!;
            pred[b * dV + j] = r0 + w * (kq + 1) * o.e[b * dV + j]!;
          }
        }
        assertClose(`t=${t} r`, pred, o.r, 1e-5);
        state = o.finalState;
      }
    }
  });

  test("fixed all-zero gate leaves the state unchanged and reads r = M0^T q + m0", () => {
    const [B, T, dK, dV] = [2, 5, 4, 7];
    const inp = { ...makeInputs([B, T, dK, dV, 0], "fixed-01", 52), gate: { mode: "fixed" as const, g: new Float32Array(B * T) } };
    const init = makeState(new Rng(1), B, dK, dV);
    for (const op of [naive, wasm]) {
      const o = op.forward(inp, { initialState: init });
      assert.deepEqual(o.finalState.M, init.M);
      assert.deepEqual(o.finalState.m, init.m);
      const want = new Float32Array(B * T * dV);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          for (let j = 0; j < dV; j++) {
            let s = init.m[b * dV + j]!;
            for (let i = 0; i < dK; i++) s += init.M[(b * dK + i) * dV + j]! * inp.q[(b * T + t) * dK + i]!;
            want[(b * T + t) * dV + j] = s;
          }
      assertClose("r", want, o.r, 1e-6);
      assert.ok(o.g.every((x) => x === 0));
    }
  });

  test("hard gate outputs exactly 0/1 and g = [p > threshold]; soft gate g = p", () => {
    const inp = makeInputs([3, 33, 32, 32, 32], "learned-hard", 53);
    for (const op of [naive, wasm]) {
      const o = op.forward(inp);
      for (let i = 0; i < o.g.length; i++) {
        assert.ok(o.g[i] === 0 || o.g[i] === 1, `g[${i}] = ${o.g[i]}`);
        assert.equal(o.g[i], o.p[i]! > 0.45 ? 1 : 0);
      }
      const soft = op.forward({ ...inp, gate: { ...(inp.gate as Extract<GateSpec, { mode: "learned" }>), hard: false } });
      assert.deepEqual(soft.g, soft.p);
    }
  });

  test("write decay: a silent step forgets nothing; a write == scaling the state by alpha, then the alpha = 1 write", () => {
    const base = makeInputs([2, 1, 6, 5, 4], "fixed-ones", 57);
    const init = makeState(new Rng(3), 2, 6, 5);
    for (const op of [naive, wasm]) {
      const silent = op.forward({ ...base, decay: 0.6, gate: { mode: "fixed", g: new Float32Array(2) } }, { initialState: init });
      assert.deepEqual(silent.finalState.M, init.M);
      assert.deepEqual(silent.finalState.m, init.m);
      const decayed = op.forward({ ...base, decay: 0.6 }, { initialState: init });
      // the surprise reads the undecayed state, so e is the same; the write adds to 0.6 * state
      const plain = op.forward(base, { initialState: init });
      assertClose("same surprise", plain.e, decayed.e, 1e-6);
      const zero = { M: new Float32Array(init.M.length), m: new Float32Array(init.m.length) };
      const writeOnly = op.forward({ ...base, v: decayed.e.map((x, i) => x) }, { initialState: zero }); // e from a zero state = v
      const wantM = init.M.map((x, i) => 0.6 * x + writeOnly.finalState.M[i]!);
      const wantm = init.m.map((x, i) => 0.6 * x + writeOnly.finalState.m[i]!);
      assertClose("decayed M", wantM, decayed.finalState.M, 1e-6);
      assertClose("decayed m", wantm, decayed.finalState.m, 1e-6);
      assert.throws(() => op.forward({ ...base, decay: 0 }), ConfigError);
      assert.throws(() => op.forward({ ...base, decay: 1.5 }), ConfigError);
    }
  });

  test("per-step thresholds: g = [p > u_t] exactly, the scalar threshold ignored; bad thresholds rejected", () => {
    const inp = makeInputs([3, 33, 32, 32, 32], "learned-sampled", 54);
    const gate = inp.gate as Extract<GateSpec, { mode: "learned" }>;
    for (const op of [naive, wasm]) {
      const o = op.forward({ ...inp, gate: { ...gate, threshold: 0.99 } });
      let writes = 0;
      for (let i = 0; i < o.g.length; i++) {
        assert.equal(o.g[i], o.p[i]! > gate.thresholds![i]! ? 1 : 0, `step ${i}`);
        writes += o.g[i]!;
      }
      assert.ok(writes > 0 && writes < o.g.length, `sampled writes ${writes} of ${o.g.length}`);
      const bad = Float32Array.from(gate.thresholds!);
      bad[5] = NaN;
      assert.throws(() => op.forward({ ...inp, gate: { ...gate, thresholds: bad } }), ConfigError);
      assert.throws(() => op.forward({ ...inp, gate: { ...gate, thresholds: bad.subarray(1) } }), ShapeError);
    }
  });

  test("zero initial state == no initial state; zero upstream gives zero gradients", () => {
    const inp = makeInputs([2, 9, 4, 5, 3], "learned-soft", 54);
    for (const op of [naive, wasm]) {
      const a = op.forward(inp, { saveForBackward: true });
      const b = op.forward(inp, { initialState: { M: new Float32Array(2 * 4 * 5), m: new Float32Array(2 * 5) } });
      assert.deepEqual(a.r, b.r);
      const g = op.backward(inp, a, { dr: new Float32Array(2 * 9 * 5) });
      assert.ok(g.dk.every((x) => x === 0) && g.dW1e!.every((x) => x === 0) && g.db2 === 0);
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe("delta rule validation", () => {
  const shape: Shape = [2, 3, 4, 5, 6];
  const fields: [string, (i: DeltaRuleInputs) => DeltaRuleInputs][] = [
    ["k", (i) => ({ ...i, k: new Float32Array(i.k.length - 1) })],
    ["q", (i) => ({ ...i, q: new Float32Array(i.q.length + 4) })],
    ["v", (i) => ({ ...i, v: new Float32Array(3) })],
    ["beta", (i) => ({ ...i, beta: new Float32Array(i.beta.length * 2) })],
    ["gate.gatePre", (i) => ({ ...i, gate: { ...(i.gate as Extract<GateSpec, { mode: "learned" }>), gatePre: new Float32Array(1) } })],
    ["gate.W1e", (i) => ({ ...i, gate: { ...(i.gate as Extract<GateSpec, { mode: "learned" }>), W1e: new Float32Array(5 * 5) } })],
    ["gate.W1a", (i) => ({ ...i, gate: { ...(i.gate as Extract<GateSpec, { mode: "learned" }>), W1a: Array.from({ length: 30 }) as unknown as Float32Array } })],
    ["gate.w2", (i) => ({ ...i, gate: { ...(i.gate as Extract<GateSpec, { mode: "learned" }>), w2: new Float32Array(7) } })],
  ];
  for (const op of [naive, wasm]) {
    test(`${op === naive ? "naive" : "wasm"}: wrong lengths throw ShapeError naming the field`, () => {
      const inp = makeInputs(shape, "learned-soft", 61);
      for (const [name, bad] of fields) {
        assert.throws(() => op.forward(bad(inp)), (e: Error) => e instanceof ShapeError && e.message.startsWith(name), name);
      }
      const fixed = makeInputs(shape, "fixed-01", 61);
      assert.throws(() => op.forward({ ...fixed, gate: { mode: "fixed", g: new Float32Array(5) } }), (e: Error) => e instanceof ShapeError && e.message.startsWith("gate.g"));
      assert.throws(() => op.forward(inp, { initialState: { M: new Float32Array(2 * 4 * 5), m: new Float32Array(4) } }), (e: Error) => e instanceof ShapeError && e.message.startsWith("initialState.m"));
      assert.throws(() => op.forward(inp, { initialState: { M: new Float32Array(4 * 5), m: new Float32Array(10) } }), (e: Error) => e instanceof ShapeError && e.message.startsWith("initialState.M"));
      assert.throws(() => op.forward({ ...inp, dGate: 0 }), ConfigError);
      assert.throws(() => op.forward({ ...inp, T: 0 }), ConfigError);
      assert.throws(() => op.forward({ ...inp, dK: 2.5 }), ConfigError);
      assert.throws(() => op.forward({ ...inp, gate: { mode: "bogus" } as unknown as GateSpec }), ConfigError);
      assert.throws(() => op.forward({ ...inp, gate: { mode: "recon", tau: NaN } }), ConfigError);
      const out = op.forward(inp);
      assert.throws(() => op.backward(inp, out, { dr: new Float32Array(2 * 3 * 5) }), (e: Error) => e instanceof ConfigError && /saveForBackward/.test(e.message));
      const saved = op.forward(inp, { saveForBackward: true });
      assert.throws(() => op.backward(inp, saved, { dr: new Float32Array(4) }), (e: Error) => e instanceof ShapeError && e.message.startsWith("dr"));
      assert.throws(() => op.backward(inp, saved, { dr: new Float32Array(30), dp: new Float32Array(5) }), (e: Error) => e instanceof ShapeError && e.message.startsWith("dp"));
      assert.throws(() => op.backward(inp, saved, { dr: new Float32Array(30), dFinal: { M: new Float32Array(40), m: new Float32Array(9) } }), (e: Error) => e instanceof ShapeError && e.message.startsWith("dFinal.m"));
    });

    test(`${op === naive ? "naive" : "wasm"}: inputs are not mutated`, () => {
      for (const mode of ["learned-hard", "fixed-01", "recon"] as const) {
        const inp = makeInputs(shape, mode, 62);
        const rng = new Rng(1);
        const init = makeState(rng, 2, 4, 5);
        const up = upstream(rng, inp);
        const snap = structuredClone({ inp, init, up });
        const out = op.forward(inp, { initialState: init, saveForBackward: true });
        const outSnap = structuredClone(out);
        op.backward(inp, out, up);
        assert.deepEqual({ inp, init, up }, snap);
        assert.deepEqual(out, outSnap);
      }
    });
  }
});
