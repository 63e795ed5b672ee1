/**
 * One conformance suite over every backend: every op (forward and backward) and every arm (forward,
 * loss and every gradient, soft and hard gate) runs from ONE list of cases on each backend, and each
 * backend must give the TypeScript reference's numbers (`ts-ref`, the readable ops beside the kernels)
 * within the case's tolerance. A case x backend that is known not to conform goes in SKIP with its
 * reason; a skipped pair is still run, and the suite fails when it conforms (the skip is stale).
 * The per-op suites (dense, delta_rule, rnn, attention, activation) check the references themselves
 * (finite differences, tfjs, invariants); this suite only asks that the backends agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryConfig } from "aura-mem/config";
import { armSpec } from "aura-mem/model/arms";
import { ARMS, SequenceModel } from "aura-mem/model/model";
import { naiveOps, wasmOps, type Ops } from "aura-mem/ops/index";
import { batchObjective } from "aura-mem/train/train";
import type { EpisodeBatch } from "aura-mem/train/batch";
import { Rng } from "aura-mem/util/rng";
import { assertClose } from "./helpers.js";

/** The backends of the suite: the TypeScript reference and the WASM SIMD kernels. */
const BACKENDS = { "ts-ref": naiveOps, wasm: () => wasmOps() } as const;
type BackendName = keyof typeof BACKENDS;

type Outputs = Record<string, ArrayLike<number>>;
interface Case {
  readonly name: string;
  /** Relative tolerance of assertClose. */
  readonly tol: number;
  /** Tighter (or looser) tolerances of single outputs. */
  readonly tols?: Readonly<Record<string, number>>;
  run(ops: Ops): Outputs;
}

const rnd = (seed: number, n: number, std = 1): Float32Array => new Rng(seed).normals(n, std);
const unitRows = (x: Float32Array, D: number): Float32Array => {
  for (let r = 0; r < x.length / D; r++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += x[r * D + j]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-6);
    for (let j = 0; j < D; j++) x[r * D + j]! *= inv;
  }
  return x;
};

// ---- ops ----
const [M, K, N] = [5, 7, 6];
const opCases: Case[] = [
  {
    name: "dense forward/backward",
    tol: 1e-5,
    run: (ops) => {
      const x = rnd(1, M * K);
      const W = rnd(2, K * N, 0.3);
      const b = rnd(3, N);
      const y = ops.dense.forward(x, W, b, M, K, N);
      const g = ops.dense.backward(x, W, rnd(4, M * N), M, K, N, true);
      return { y, dx: g.dx!, dW: g.dW, db: g.db };
    },
  },
  {
    name: "dense l2norm forward",
    tol: 1e-5,
    run: (ops) => ({ y: ops.dense.l2normForward(rnd(5, M * K), M, K) }),
  },
  {
    name: "activation tanh/sigmoid forward/backward",
    tol: 1e-5,
    run: (ops) => {
      const x = rnd(6, 37, 2);
      const dy = rnd(7, 37);
      const t = ops.act.tanh(x);
      const s = ops.act.sigmoid(x);
      return { t, s, dt: ops.act.tanhBackward(t, dy), ds: ops.act.sigmoidBackward(s, dy) };
    },
  },
  ...(["learned-hard", "learned-soft", "fixed", "recon"] as const).map(
    (mode): Case => ({
      name: `delta rule (${mode} gate) forward/backward`,
      tol: 1e-4,
      run: (ops) => {
        const [B, T, dK, dV, dGate] = [2, 9, 4, 3, 5];
        const inp = {
          B,
          T,
          dK,
          dV,
          dGate: mode.startsWith("learned") ? dGate : 0,
          k: unitRows(rnd(10, B * T * dK), dK),
          q: unitRows(rnd(11, B * T * dK), dK),
          v: rnd(12, B * T * dV),
          beta: Float32Array.from(rnd(13, B * T), (x) => 1 / (1 + Math.exp(-x))),
          gate:
            mode === "fixed"
              ? { mode: "fixed" as const, g: Float32Array.from(rnd(14, B * T), (x) => (x > 0 ? 1 : 0)) }
              : mode === "recon"
                ? { mode: "recon" as const, tau: 0.9 }
                : { mode: "learned" as const, gatePre: rnd(15, B * T * dGate), W1e: rnd(16, dV * dGate, 0.5), W1a: rnd(17, dV * dGate, 0.5), w2: rnd(18, dGate), b2: 0.1, hard: mode === "learned-hard" },
        };
        const out = ops.deltaRule.forward(inp, { saveForBackward: true });
        const g = ops.deltaRule.backward(inp, out, { dr: rnd(19, B * T * dV), dp: rnd(20, B * T) });
        const o: Outputs = { r: out.r, e: out.e, p: out.p, g: out.g, surprise: out.surprise, M: out.finalState.M, m: out.finalState.m };
        Object.assign(o, { dk: g.dk, dq: g.dq, dv: g.dv, dbeta: g.dbeta, dM0: g.dInitial.M, dm0: g.dInitial.m });
        if (g.dGatePre) o["dGatePre"] = g.dGatePre;
        return o;
      },
    }),
  ),
  ...(["gru", "lstm"] as const).map(
    (kind): Case => ({
      name: `rnn (${kind}) forward/backward`,
      tol: 1e-4,
      run: (ops) => {
        const [B, T, H] = [2, 7, 5];
        const G = kind === "gru" ? 3 : 4;
        const inp = { kind, B, T, H, xg: rnd(21, B * T * G * H), Wh: rnd(22, H * G * H, 0.4), bh: rnd(23, G * H, 0.1) };
        const out = ops.rnn.forward(inp, { saveForBackward: true });
        const g = ops.rnn.backward(inp, out, { dh: rnd(24, B * T * H) });
        return { h: out.h, hT: out.finalState.h, dxg: g.dxg, dWh: g.dWh, dbh: g.dbh, dh0: g.dInitial.h };
      },
    }),
  ),
  ...([0, 3] as const).map(
    (window): Case => ({
      name: `attention (window ${window || "none"}) forward/backward`,
      tol: 1e-4,
      run: (ops) => {
        const [B, T, dK, dV] = [2, 8, 4, 3];
        const inp = { B, T, dK, dV, q: rnd(31, B * T * dK), k: rnd(32, B * T * dK), v: rnd(33, B * T * dV), scale: 0.5, window };
        const out = ops.attention.forward(inp, { saveForBackward: true });
        const g = ops.attention.backward(inp, out, { do: rnd(34, B * T * dV) });
        return { o: out.o, dq: g.dq, dk: g.dk, dv: g.dv };
      },
    }),
  ),
];

// ---- arms ----
const [B, T, dModel, C] = [2, 6, 5, 3];
function episodeBatch(seed: number): EpisodeBatch {
  const rng = new Rng(seed);
  const label = new Int32Array(B * T);
  for (let i = 0; i < label.length; i++) label[i] = rng.int(C);
  const lossMask = new Float32Array(B * T).fill(1);
  lossMask[0] = 0;
  return { B, T, dModel, z: rng.normals(B * T * dModel), label, target: null, lossMask, evalMask: lossMask.slice(), stepType: new Uint8Array(B * T) };
}
const armCases: Case[] = ARMS.flatMap((arm) =>
  (["soft", "hard"] as const).map(
    (gateMode): Case => ({
      name: `arm ${arm} (${gateMode} gate): forward, loss, every gradient`,
      tol: 1e-4,
      tols: { loss: 1e-5 },
      run: (ops) => {
        const config = new MemoryConfig({ dModel, dAction: C, actionKind: "discrete", dKey: 4, dVal: 3, dProj: 4, dGate: 5, dHidden: 6, seed: 11 });
        const model = new SequenceModel(armSpec(arm, config, { matchParams: null, window: 3, writeRate: 0.5, tau: 0.8, rnnHidden: 4 }), ops);
        const r = batchObjective(model, episodeBatch(2), { kind: "discrete", dAction: C }, { lambdaIB: 0.2, lambdaW: 0.3, targetWriteRate: 0.1 }, { gateMode, scheduleSeeds: [5, 6] });
        const o: Outputs = { loss: [r.loss], meanP: [r.meanP], surprise: r.surprise };
        for (const [k, g] of Object.entries(r.grads)) o[`grad ${k}`] = g;
        return o;
      },
    }),
  ),
);

const CASES: readonly Case[] = [...opCases, ...armCases];

/** Known non-conforming case x backend pairs, with the reason (none today). */
const SKIP: Partial<Record<`${string} @ ${BackendName}`, string>> = {};

function conforms(c: Case, ref: Outputs, got: Outputs): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(ref).sort(), "output names");
  for (const k of Object.keys(ref)) assertClose(k, ref[k]!, got[k]!, c.tols?.[k] ?? c.tol, 1e-5);
}

for (const c of CASES) {
  const ref = c.run(BACKENDS["ts-ref"]());
  for (const backend of Object.keys(BACKENDS) as BackendName[]) {
    const key = `${c.name} @ ${backend}` as const;
    test(key, () => {
      const got = c.run(BACKENDS[backend]());
      const reason = SKIP[key];
      if (reason === undefined) return conforms(c, ref, got);
      assert.throws(() => conforms(c, ref, got), `stale skip "${key}" (${reason}): it conforms now, remove it from SKIP`);
    });
  }
}

test("every skip names a case and a backend of this suite", () => {
  const keys = new Set(CASES.flatMap((c) => (Object.keys(BACKENDS) as BackendName[]).map((b) => `${c.name} @ ${b}`)));
  for (const k of Object.keys(SKIP)) assert.ok(keys.has(k), `SKIP entry "${k}" matches no case`);
});
