/**
 * GRU / LSTM sequence op (src/ops/rnn): WASM vs the TypeScript reference (forward and backward, both
 * directions of mixing the saved record), the reference backward vs central finite differences,
 * both backwards vs tfjs autodiff, streaming / truncated-BPTT equivalence, saturation, and input
 * validation (errors, no mutation).
 */
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { loadKernels } from "aura-mem/wasm/runtime";
import { ConfigError, ShapeError } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import {
  gateCount,
  rnnNaive,
  rnnWasm,
  type RnnGrads,
  type RnnInputs,
  type RnnKind,
  type RnnOp,
  type RnnOutput,
  type RnnState,
} from "aura-mem/ops/rnn/index";
import { assertClose, finiteDiff, sampleIdx } from "./helpers.js";

const wasm = rnnWasm(loadKernels());
const naive = rnnNaive;
const KINDS: readonly RnnKind[] = ["gru", "lstm"];
const SHAPES: readonly (readonly [B: number, T: number, H: number])[] = [
  [1, 1, 1],
  [2, 5, 3],
  [3, 17, 8],
  [2, 33, 48],
  [5, 7, 13], // odd batch (single-row blocks) and H % 4 != 0 (vector body + scalar tail)
];

function makeInputs(kind: RnnKind, B: number, T: number, H: number, seed: number): RnnInputs {
  const rng = new Rng(seed);
  const G = gateCount(kind);
  return {
    kind,
    B,
    T,
    H,
    xg: rng.normals(B * T * G * H, 0.8),
    Wh: rng.normals(H * G * H, 1.2 / Math.sqrt(H)),
    bh: rng.normals(G * H, 0.3),
  };
}

function makeState(kind: RnnKind, B: number, H: number, seed: number, scale = 0.6): RnnState {
  const rng = new Rng(seed);
  return kind === "lstm" ? { h: rng.normals(B * H, scale), c: rng.normals(B * H, 2 * scale) } : { h: rng.normals(B * H, scale) };
}

/** Random linear loss L = <wh, h> + <wf.h, h_T> (+ <wf.c, c_T>): its upstream gradient. */
function makeUpstream(kind: RnnKind, B: number, T: number, H: number, seed: number): { dh: Float32Array; dFinal: RnnState } {
  const rng = new Rng(seed);
  return { dh: rng.normals(B * T * H), dFinal: makeState(kind, B, H, seed + 1, 1) };
}

function lossOf(out: RnnOutput, up: { dh: Float32Array; dFinal: RnnState }): number {
  let s = 0;
  for (let i = 0; i < out.h.length; i++) s += out.h[i]! * up.dh[i]!;
  for (let i = 0; i < out.finalState.h.length; i++) s += out.finalState.h[i]! * up.dFinal.h[i]!;
  if (up.dFinal.c) for (let i = 0; i < up.dFinal.c.length; i++) s += out.finalState.c![i]! * up.dFinal.c[i]!;
  return s;
}

function assertGradsClose(what: string, ref: RnnGrads, got: RnnGrads, tol: number): void {
  assertClose(`${what} dxg`, ref.dxg, got.dxg, tol);
  assertClose(`${what} dWh`, ref.dWh, got.dWh, tol);
  assertClose(`${what} dbh`, ref.dbh, got.dbh, tol);
  assertClose(`${what} dInitial.h`, ref.dInitial.h, got.dInitial.h, tol);
  if (ref.dInitial.c || got.dInitial.c) assertClose(`${what} dInitial.c`, ref.dInitial.c!, got.dInitial.c!, tol);
}

describe("rnn forward: WASM vs naive", () => {
  for (const kind of KINDS) {
    for (const [B, T, H] of SHAPES) {
      for (const withInit of [false, true]) {
        test(`${kind} B=${B} T=${T} H=${H} ${withInit ? "with" : "without"} initial state`, () => {
          const inp = makeInputs(kind, B, T, H, 11 + B * 7 + T * 3 + H);
          const initialState = withInit ? makeState(kind, B, H, 99 + H) : undefined;
          const a = naive.forward(inp, { initialState });
          const b = wasm.forward(inp, { initialState });
          assert.equal(b.h.length, B * T * H);
          assertClose("h", a.h, b.h, 1e-5);
          assertClose("final h", a.finalState.h, b.finalState.h, 1e-5);
          if (kind === "lstm") assertClose("final c", a.finalState.c!, b.finalState.c!, 1e-5);
          else assert.equal(b.finalState.c, undefined);
          assert.equal(a.saved, undefined);
          assert.equal(b.saved, undefined);
          // final state is the last step of h
          for (let bb = 0; bb < B; bb++) {
            for (let j = 0; j < H; j++) assert.equal(b.finalState.h[bb * H + j], b.h[(bb * T + T - 1) * H + j]);
          }
          // saving does not change the outputs
          const c = wasm.forward(inp, { initialState, saveForBackward: true });
          assert.deepEqual(c.h, b.h);
        });
      }
    }
  }

  test("saturated pre-activations stay finite and agree", () => {
    for (const kind of KINDS) {
      const [B, T, H] = [2, 6, 5];
      const inp = makeInputs(kind, B, T, H, 5);
      const rng = new Rng(6);
      for (let i = 0; i < inp.xg.length; i++) inp.xg[i] = (rng.uniform() < 0.5 ? -1 : 1) * [0.3, 9, 50, 1e4][i % 4]!;
      const a = naive.forward(inp, { saveForBackward: true });
      const b = wasm.forward(inp, { saveForBackward: true });
      assertClose(`${kind} saturated h`, a.h, b.h, 1e-5);
      const up = makeUpstream(kind, B, T, H, 7);
      const ga = naive.backward(inp, a, up);
      const gb = wasm.backward(inp, b, up);
      assertGradsClose(`${kind} saturated`, ga, gb, 1e-4);
    }
  });
});

describe("rnn backward: naive vs central finite differences", () => {
  for (const kind of KINDS) {
    test(`${kind} every input`, () => {
      const [B, T, H] = [2, 4, 3];
      const inp = makeInputs(kind, B, T, H, 21);
      const init = makeState(kind, B, H, 22);
      const up = makeUpstream(kind, B, T, H, 23);
      const grads = naive.backward(inp, naive.forward(inp, { initialState: init, saveForBackward: true }), up);
      const loss = (): number => lossOf(naive.forward(inp, { initialState: init }), up);
      const checks: [string, Float32Array, Float32Array][] = [
        ["xg", inp.xg, grads.dxg],
        ["Wh", inp.Wh, grads.dWh],
        ["bh", inp.bh, grads.dbh],
        ["h0", init.h, grads.dInitial.h],
      ];
      if (kind === "lstm") checks.push(["c0", init.c!, grads.dInitial.c!]);
      for (const [name, x, g] of checks) {
        const idx = sampleIdx(x.length, 12, 3);
        const fd = finiteDiff(loss, x, idx, 1e-2);
        const an = idx.map((i) => g[i]!);
        let se = 0;
        let ss = 0;
        for (let k = 0; k < idx.length; k++) {
          se += (fd[k]! - an[k]!) ** 2;
          ss += an[k]! ** 2;
          assert.ok(Math.abs(fd[k]! - an[k]!) <= 5e-4 + 2e-3 * Math.abs(an[k]!), `${kind} d${name}[${idx[k]}]: fd ${fd[k]} vs analytic ${an[k]}`);
        }
        assert.ok(ss > 1e-4, `${kind} d${name}: gradient too small to be a meaningful check`);
        assert.ok(Math.sqrt(se / ss) < 1e-3, `${kind} d${name}: relative error ${Math.sqrt(se / ss)}`);
      }
    });
  }
});

/** The same cells in tf ops; returns dL/d[xg, Wh, bh, h0, c0?] for the linear loss. */
function tfGrads(inp: RnnInputs, init: RnnState, up: { dh: Float32Array; dFinal: RnnState }): Float32Array[] {
  const { kind, B, T, H } = inp;
  const G = gateCount(kind);
  return tf.tidy(() => {
    const wh = tf.tensor3d(up.dh, [B, T, H]);
    const wfh = tf.tensor2d(up.dFinal.h, [B, H]);
    const wfc = kind === "lstm" ? tf.tensor2d(up.dFinal.c!, [B, H]) : null;
    const f = (xg: tf.Tensor, Wh: tf.Tensor, bh: tf.Tensor, h0: tf.Tensor, c0?: tf.Tensor): tf.Scalar => {
      let h = h0 as tf.Tensor2D;
      let c = c0 as tf.Tensor2D | undefined;
      const hs: tf.Tensor2D[] = [];
      for (let t = 0; t < T; t++) {
        const x = tf.reshape(tf.slice(xg, [0, t, 0], [B, 1, G * H]), [B, G * H]);
        const hg = tf.add(tf.matMul(h, Wh as tf.Tensor2D), bh);
        const xs = tf.split(x, G, 1);
        const hs_ = tf.split(hg, G, 1);
        if (kind === "gru") {
          const r = tf.sigmoid(tf.add(xs[0]!, hs_[0]!));
          const z = tf.sigmoid(tf.add(xs[1]!, hs_[1]!));
          const n = tf.tanh(tf.add(xs[2]!, tf.mul(r, hs_[2]!)));
          h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h)) as tf.Tensor2D;
        } else {
          const i = tf.sigmoid(tf.add(xs[0]!, hs_[0]!));
          const fg = tf.sigmoid(tf.add(xs[1]!, hs_[1]!));
          const g = tf.tanh(tf.add(xs[2]!, hs_[2]!));
          const o = tf.sigmoid(tf.add(xs[3]!, hs_[3]!));
          c = tf.add(tf.mul(fg, c!), tf.mul(i, g)) as tf.Tensor2D;
          h = tf.mul(o, tf.tanh(c)) as tf.Tensor2D;
        }
        hs.push(h);
      }
      let L = tf.add(tf.sum(tf.mul(tf.stack(hs, 1), wh)), tf.sum(tf.mul(h, wfh)));
      if (wfc) L = tf.add(L, tf.sum(tf.mul(c!, wfc)));
      return L as tf.Scalar;
    };
    const args = [
      tf.tensor3d(inp.xg, [B, T, G * H]),
      tf.tensor2d(inp.Wh, [H, G * H]),
      tf.tensor1d(inp.bh),
      tf.tensor2d(init.h, [B, H]),
      ...(kind === "lstm" ? [tf.tensor2d(init.c!, [B, H])] : []),
    ];
    const gs = tf.grads((...a: tf.Tensor[]) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]))(args);
    return gs.map((g) => g.dataSync() as Float32Array).map((d) => Float32Array.from(d));
  });
}

describe("rnn backward vs tfjs autodiff", () => {
  before(async () => {
    await tf.setBackend("cpu");
  });
  for (const kind of KINDS) {
    for (const [B, T, H] of [
      [2, 6, 5],
      [3, 9, 8],
    ] as const) {
      test(`${kind} B=${B} T=${T} H=${H}`, () => {
        const inp = makeInputs(kind, B, T, H, 31 + H);
        const init = makeState(kind, B, H, 32);
        const up = makeUpstream(kind, B, T, H, 33);
        const ref = tfGrads(inp, init, up);
        const refGrads: RnnGrads = {
          dxg: ref[0]!,
          dWh: ref[1]!,
          dbh: ref[2]!,
          dInitial: kind === "lstm" ? { h: ref[3]!, c: ref[4]! } : { h: ref[3]! },
        };
        for (const [name, op] of [
          ["naive", naive],
          ["wasm", wasm],
        ] as [string, RnnOp][]) {
          const g = op.backward(inp, op.forward(inp, { initialState: init, saveForBackward: true }), up);
          assertGradsClose(`${kind} ${name} vs tf`, refGrads, g, 1e-4);
        }
      });
    }
  }
});

describe("rnn backward: WASM vs naive", () => {
  for (const kind of KINDS) {
    for (const [B, T, H] of SHAPES) {
      for (const withInit of [false, true]) {
        test(`${kind} B=${B} T=${T} H=${H} ${withInit ? "with" : "without"} initial state and final-state gradient`, () => {
          const inp = makeInputs(kind, B, T, H, 41 + B + T + H);
          const initialState = withInit ? makeState(kind, B, H, 42) : undefined;
          const up = makeUpstream(kind, B, T, H, 43);
          const grad = withInit ? up : { dh: up.dh };
          const fa = naive.forward(inp, { initialState, saveForBackward: true });
          const fb = wasm.forward(inp, { initialState, saveForBackward: true });
          const ga = naive.backward(inp, fa, grad);
          const gb = wasm.backward(inp, fb, grad);
          assertGradsClose(`${kind}`, ga, gb, 1e-4);
          // the saved record is shared: each backward accepts the other's forward
          assertGradsClose(`${kind} wasm bwd of naive fwd`, ga, wasm.backward(inp, fa, grad), 1e-4);
          assertGradsClose(`${kind} naive bwd of wasm fwd`, ga, naive.backward(inp, fb, grad), 1e-4);
        });
      }
    }
  }
  test("lstm dFinal without c is zeros", () => {
    const inp = makeInputs("lstm", 2, 4, 5, 3);
    const out = wasm.forward(inp, { saveForBackward: true });
    const up = makeUpstream("lstm", 2, 4, 5, 4);
    const zc = { dh: up.dh, dFinal: { h: up.dFinal.h, c: new Float32Array(10) } };
    for (const op of [naive, wasm]) {
      const a = op.backward(inp, out, { dh: up.dh, dFinal: { h: up.dFinal.h } });
      assertGradsClose("dFinal.c omitted", op.backward(inp, out, zc), a, 1e-7);
    }
  });
});

/** xg rows [t0, t1) of every batch element. */
function sliceT(inp: RnnInputs, t0: number, t1: number): RnnInputs {
  const GH = gateCount(inp.kind) * inp.H;
  const n = t1 - t0;
  const xg = new Float32Array(inp.B * n * GH);
  for (let b = 0; b < inp.B; b++) xg.set(inp.xg.subarray((b * inp.T + t0) * GH, (b * inp.T + t1) * GH), b * n * GH);
  return { ...inp, T: n, xg };
}

describe("rnn streaming", () => {
  for (const kind of KINDS) {
    for (const [name, op] of [
      ["naive", naive],
      ["wasm", wasm],
    ] as [string, RnnOp][]) {
      test(`${kind} ${name}: all steps == chunks with carried state == single steps`, () => {
        const [B, T, H] = [3, 17, 6];
        const inp = makeInputs(kind, B, T, H, 51);
        const init = makeState(kind, B, H, 52);
        const full = op.forward(inp, { initialState: init });
        for (const cuts of [[0, 5, 12, 17], Array.from({ length: T + 1 }, (_, t) => t)]) {
          let state = init;
          const h = new Float32Array(B * T * H);
          for (let k = 0; k + 1 < cuts.length; k++) {
            const [t0, t1] = [cuts[k]!, cuts[k + 1]!];
            const out = op.forward(sliceT(inp, t0, t1), { initialState: state });
            for (let b = 0; b < B; b++) h.set(out.h.subarray(b * (t1 - t0) * H, (b + 1) * (t1 - t0) * H), (b * T + t0) * H);
            state = out.finalState;
          }
          assertClose(`${kind} ${name} streamed h (${cuts.length - 1} chunks)`, full.h, h, 1e-6);
          assertClose("final h", full.finalState.h, state.h, 1e-6);
          if (kind === "lstm") assertClose("final c", full.finalState.c!, state.c!, 1e-6);
        }
      });

      test(`${kind} ${name}: backward through chunks (dInitial -> dFinal) == full backward`, () => {
        const [B, T, H] = [2, 12, 5];
        const inp = makeInputs(kind, B, T, H, 61);
        const init = makeState(kind, B, H, 62);
        const up = makeUpstream(kind, B, T, H, 63);
        const full = op.backward(inp, op.forward(inp, { initialState: init, saveForBackward: true }), up);
        const tc = 7;
        const i1 = sliceT(inp, 0, tc);
        const i2 = sliceT(inp, tc, T);
        const o1 = op.forward(i1, { initialState: init, saveForBackward: true });
        const o2 = op.forward(i2, { initialState: o1.finalState, saveForBackward: true });
        const dh1 = new Float32Array(B * tc * H);
        const dh2 = new Float32Array(B * (T - tc) * H);
        for (let b = 0; b < B; b++) {
          dh1.set(up.dh.subarray(b * T * H, (b * T + tc) * H), b * tc * H);
          dh2.set(up.dh.subarray((b * T + tc) * H, (b + 1) * T * H), b * (T - tc) * H);
        }
        const g2 = op.backward(i2, o2, { dh: dh2, dFinal: up.dFinal });
        const g1 = op.backward(i1, o1, { dh: dh1, dFinal: g2.dInitial });
        const dWh = g1.dWh.map((v, i) => v + g2.dWh[i]!);
        const dbh = g1.dbh.map((v, i) => v + g2.dbh[i]!);
        const dxg = new Float32Array(full.dxg.length);
        const GH = gateCount(kind) * H;
        for (let b = 0; b < B; b++) {
          dxg.set(g1.dxg.subarray(b * tc * GH, (b + 1) * tc * GH), b * T * GH);
          dxg.set(g2.dxg.subarray(b * (T - tc) * GH, (b + 1) * (T - tc) * GH), (b * T + tc) * GH);
        }
        assertGradsClose(`${kind} ${name} chunked`, full, { dxg, dWh, dbh, dInitial: g1.dInitial }, 1e-5);
      });
    }
  }
});

describe("rnn validation", () => {
  const good = (kind: RnnKind): RnnInputs => makeInputs(kind, 2, 3, 4, 71);
  for (const [name, op] of [
    ["naive", naive],
    ["wasm", wasm],
  ] as [string, RnnOp][]) {
    test(`${name}: bad inputs throw ConfigError / ShapeError`, () => {
      const g = good("gru");
      const l = good("lstm");
      assert.throws(() => op.forward({ ...g, kind: "rnn" as RnnKind }), ConfigError);
      assert.throws(() => op.forward({ ...g, B: 0 }), ConfigError);
      assert.throws(() => op.forward({ ...g, T: 1.5 }), ConfigError);
      assert.throws(() => op.forward({ ...g, H: -4 }), ConfigError);
      assert.throws(() => op.forward({ ...g, xg: new Float32Array(5) }), (e: Error) => e instanceof ShapeError && /xg/.test(e.message));
      assert.throws(() => op.forward({ ...g, Wh: new Float32Array(4 * 16) }), (e: Error) => e instanceof ShapeError && /Wh/.test(e.message));
      assert.throws(() => op.forward({ ...g, bh: l.bh }), (e: Error) => e instanceof ShapeError && /bh/.test(e.message));
      assert.throws(() => op.forward({ ...g, xg: Array.from(g.xg) as unknown as Float32Array }), ShapeError);
      // an lstm-sized input passed as a gru (wrong G)
      assert.throws(() => op.forward({ ...l, kind: "gru" }), ShapeError);
      assert.throws(() => op.forward(g, { initialState: { h: new Float32Array(7) } }), (e: Error) => e instanceof ShapeError && /initialState\.h/.test(e.message));
      assert.throws(() => op.forward(g, { initialState: { h: new Float32Array(8), c: new Float32Array(8) } }), ShapeError);
      assert.throws(() => op.forward(l, { initialState: { h: new Float32Array(8) } }), (e: Error) => e instanceof ShapeError && /initialState\.c/.test(e.message));
      assert.throws(() => op.forward(l, { initialState: { h: new Float32Array(8), c: new Float32Array(9) } }), ShapeError);

      const out = op.forward(l, { saveForBackward: true });
      const dh = new Float32Array(2 * 3 * 4);
      assert.throws(() => op.backward(l, op.forward(l), { dh }), ConfigError); // nothing saved
      assert.throws(() => op.backward(l, out, { dh: new Float32Array(5) }), (e: Error) => e instanceof ShapeError && /dh/.test(e.message));
      assert.throws(() => op.backward(l, out, { dh, dFinal: { h: new Float32Array(3) } }), ShapeError);
      assert.throws(() => op.backward(l, out, { dh, dFinal: { h: new Float32Array(8), c: new Float32Array(2) } }), ShapeError);
      assert.throws(() => op.backward({ ...l, T: 2, xg: l.xg.subarray(0, 2 * 2 * 16) }, out, { dh: dh.subarray(0, 16) }), ShapeError);
      assert.throws(() => op.backward(g, op.forward(g, { saveForBackward: true }), { dh, dFinal: { h: new Float32Array(8), c: new Float32Array(8) } }), ShapeError);
      // saved record from a different kind
      const gOut = op.forward(g, { saveForBackward: true });
      assert.throws(() => op.backward(l, { ...out, saved: gOut.saved }, { dh }), ShapeError);
    });

    test(`${name}: inputs are not mutated`, () => {
      for (const kind of KINDS) {
        const inp = makeInputs(kind, 3, 5, 6, 81);
        const init = makeState(kind, 3, 6, 82);
        const up = makeUpstream(kind, 3, 5, 6, 83);
        const snap = (a: Float32Array): Float32Array => Float32Array.from(a);
        const copies = [inp.xg, inp.Wh, inp.bh, init.h, init.c ?? new Float32Array(0), up.dh, up.dFinal.h, up.dFinal.c ?? new Float32Array(0)].map(snap);
        const out = op.forward(inp, { initialState: init, saveForBackward: true });
        const hCopy = snap(out.h);
        op.backward(inp, out, up);
        op.backward(inp, out, up); // backward is repeatable: it does not consume `out`
        const after = [inp.xg, inp.Wh, inp.bh, init.h, init.c ?? new Float32Array(0), up.dh, up.dFinal.h, up.dFinal.c ?? new Float32Array(0)];
        copies.forEach((c, i) => assert.deepEqual(after[i], c, `${kind} input ${i} mutated`));
        assert.deepEqual(out.h, hCopy);
        // outputs do not alias inputs
        assert.notEqual(out.finalState.h, init.h);
        out.finalState.h.fill(0);
        assert.deepEqual(init.h, copies[3]);
      }
    });
  }
});
