/**
 * mbar: multi-binding associative recall. N key->value bindings (values: 8 classes) are shown in
 * random order, interleaved with N distractor pairs (keys from a disjoint pool, random values); then
 * Q = 4 query steps each show a query cue plus one of the N bound keys, and the target is that key's
 * value. T = 2N + Q. Full generative process: docs/benchmarks.md.
 */
import { ConfigError, checkInt } from "aura-mem/errors";
import type { Rng } from "aura-mem/util/rng";
import { addNoise, addRow, sampleDistinct, subRng, unitVectors } from "./embeddings.js";
import { checkSplit } from "./ess.js";
import { StepType, allocBatch, forkedBatches } from "./types.js";
import type { EpisodeBatch, Split, Task } from "./types.js";

/** Default number of bindings N (T = 2*16 + 4 = 36). */
export const MBAR_BINDINGS = 16;
/** Query steps per episode (distinct bound keys, at the end of the episode). */
export const MBAR_QUERIES = 4;
/** Value classes (chance 1/8). */
export const MBAR_NUM_CLASSES = 8;
/** Bound-key pool size is max(MBAR_KEY_POOL, 4N); an episode's N keys are drawn from it without replacement. */
export const MBAR_KEY_POOL = 256;
/** Distractor-key pool (disjoint from the bound-key pool), same size rule; N distinct keys per episode. */
export const MBAR_DISTRACTOR_KEY_POOL = 256;
/** L2 norm of the fixed binding-context vector added to binding steps only (key/value/cue embeddings have norm 1). */
export const MBAR_BIND_CTX_NORM = 1.0;
/** Observation noise: expected L2 norm of the Gaussian noise added to every step. */
export const MBAR_NOISE = 0.2;
/** Largest N accepted. */
export const MBAR_MAX_BINDINGS = 1024;

export interface MbarTaskOptions {
  seed: number;
  dModel: number;
  /** Number of bindings N. */
  bindings: number;
  valEpisodes: number;
  testEpisodes: number;
}

interface MbarEmbeddings {
  key: Float32Array; // [keyPool, d]
  dkey: Float32Array; // [dkeyPool, d]
  value: Float32Array; // [C, d]
  query: Float32Array; // [1, d]
  bindCtx: Float32Array; // [1, d]
}

/** Create the mbar task with N bindings. */
export function createMbarTask(opts: MbarTaskOptions): Task {
  const N = checkInt("mbar bindings (horizon)", opts.bindings, MBAR_QUERIES, MBAR_MAX_BINDINGS);
  const d = opts.dModel;
  const C = MBAR_NUM_CLASSES;
  const Q = MBAR_QUERIES;
  const T = 2 * N + Q;
  const keyPool = Math.max(MBAR_KEY_POOL, 4 * N);
  const dkeyPool = Math.max(MBAR_DISTRACTOR_KEY_POOL, 4 * N);
  if (N > keyPool || N > dkeyPool) throw new ConfigError(`mbar: N=${N} exceeds the key pools`);
  const embRng = subRng(opts.seed, `mbar/embeddings/${keyPool}/${dkeyPool}`);
  const emb: MbarEmbeddings = {
    key: unitVectors(embRng, keyPool, d),
    dkey: unitVectors(embRng, dkeyPool, d),
    value: unitVectors(embRng, C, d),
    query: unitVectors(embRng, 1, d),
    bindCtx: unitVectors(embRng, 1, d),
  };
  const alloc = (B: number): EpisodeBatch => {
    const b = allocBatch(B, T, d, "discrete", C);
    b.truth = { key: new Int32Array(B * T).fill(-1), value: new Int32Array(B * T).fill(-1) };
    return b;
  };
  const write = (rng: Rng, batch: EpisodeBatch, row: number): void => {
    const base = row * T;
    const keys = sampleDistinct(rng, N, 0, keyPool);
    const dkeys = sampleDistinct(rng, N, 0, dkeyPool);
    const values = new Int32Array(N);
    const dvalues = new Int32Array(N);
    for (let j = 0; j < N; j++) values[j] = rng.int(C);
    for (let j = 0; j < N; j++) dvalues[j] = rng.int(C);
    // Random interleaving of the 2N write steps: item j < N is binding j, j >= N distractor pair j-N.
    const order = sampleDistinct(rng, 2 * N, 0, 2 * N);
    const tk = batch.truth!.key!;
    const tv = batch.truth!.value!;
    for (let t = 0; t < 2 * N; t++) {
      const i = base + t;
      const off = i * d;
      const j = order[t]!;
      if (j < N) {
        addRow(batch.z, off, emb.key, keys[j]!, d);
        addRow(batch.z, off, emb.value, values[j]!, d);
        addRow(batch.z, off, emb.bindCtx, 0, d, MBAR_BIND_CTX_NORM);
        batch.stepType[i] = StepType.event;
        tk[i] = keys[j]!;
        tv[i] = values[j]!;
      } else {
        addRow(batch.z, off, emb.dkey, dkeys[j - N]!, d);
        addRow(batch.z, off, emb.value, dvalues[j - N]!, d);
        batch.stepType[i] = StepType.distractor;
        tk[i] = dkeys[j - N]!;
        tv[i] = dvalues[j - N]!;
      }
      addNoise(rng, batch.z, off, d, MBAR_NOISE);
    }
    const qs = sampleDistinct(rng, Q, 0, N);
    for (let q = 0; q < Q; q++) {
      const i = base + 2 * N + q;
      const off = i * d;
      const j = qs[q]!;
      addRow(batch.z, off, emb.query, 0, d);
      addRow(batch.z, off, emb.key, keys[j]!, d);
      addNoise(rng, batch.z, off, d, MBAR_NOISE);
      batch.stepType[i] = StepType.query;
      batch.label![i] = values[j]!;
      batch.lossMask[i] = 1;
      batch.evalMask[i] = 1;
      tk[i] = keys[j]!;
    }
  };
  const sizes: Record<Split, number> = { val: opts.valEpisodes, test: opts.testEpisodes };
  const evalBatches = (split: Split, batchSize: number): Iterable<EpisodeBatch> => {
    checkSplit(split);
    checkInt("batchSize", batchSize, 1);
    return forkedBatches(subRng(opts.seed, `mbar/eval/${split}/N${N}`), sizes[split], batchSize, alloc, write);
  };
  return {
    name: "mbar",
    metric: "accuracy",
    kind: "discrete",
    dModel: d,
    dAction: C,
    horizon: T,
    chance: 1 / C,
    metricScale: 1,
    params: {
      seed: opts.seed,
      bindings: N,
      distractorPairs: N,
      queries: Q,
      horizon: T,
      classes: C,
      keyPool,
      distractorKeyPool: dkeyPool,
      bindCtxNorm: MBAR_BIND_CTX_NORM,
      noise: MBAR_NOISE,
      valEpisodes: sizes.val,
      testEpisodes: sizes.test,
    },
    sample(rng: Rng, B: number): EpisodeBatch {
      checkInt("B", B, 1);
      const batch = alloc(B);
      for (let r = 0; r < B; r++) write(rng, batch, r);
      return batch;
    },
    evalBatches,
    evalSet: (split, batchSize) => Array.from(evalBatches(split, batchSize)),
    evalSize: (split) => (checkSplit(split), sizes[split]),
  };
}
