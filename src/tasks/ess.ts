/**
 * ess: event-sparse stream. A stream of N steps in which a few "events" set the goal (one of 8
 * classes) and everything else must not change it: background filler, salient novel distractors
 * and (ess-hard) event-like lures. The target at every step from the first event on is the class of
 * the most recent event; the metric is read at a few query steps. Full generative process and the
 * reasoning behind the constants: docs/benchmarks.md.
 */
import { ConfigError, checkInt } from "aura-mem/errors";
import type { Rng } from "aura-mem/util/rng";
import { addNoise, addRow, intIn, otherClass, sampleDistinct, subRng, unitVectors, writeRandomDirection } from "./embeddings.js";
import { StepType, allocBatch, forkedBatches } from "./types.js";
import type { EpisodeBatch, Split, Task } from "./types.js";

/** Concrete constants of one ess variant. Norms are L2 norms; noise is relative (see embeddings.ts). */
export interface EssConfig {
  /** Task name ("ess-easy" / "ess-hard"). */
  readonly name: string;
  /** Episode length N (steps). */
  readonly horizon: number;
  /** Number of goal classes (= dAction). */
  readonly numClasses: number;
  /** Number of true events per episode, uniform in [eventsMin, eventsMax] (fixed whatever N: longer N = sparser). */
  readonly eventsMin: number;
  readonly eventsMax: number;
  /** The first event lies uniformly in steps [0, max(1, floor(firstEventFrac * N))). */
  readonly firstEventFrac: number;
  /** Distractor steps per episode = round(distractorFrac * N). */
  readonly distractorFrac: number;
  /** Of the distractors, round(lureFrac * D) are event-like lures (event embedding + ignore context); the rest are novel directions. */
  readonly lureFrac: number;
  /** Query steps per episode = max(1, floor(N / queryEvery)). */
  readonly queryEvery: number;
  /** Observation noise: expected L2 norm of the additive Gaussian noise on every step. */
  readonly noise: number;
  /** Size of the fixed background filler pool. */
  readonly bgPool: number;
  /** L2 norm of a background filler vector (events / query cue have norm 1). */
  readonly bgNorm: number;
  /** L2 norm of a novel distractor (a fresh random direction per occurrence). */
  readonly distractorNorm: number;
  /** L2 norm of the fixed "ignore" context vector added to event-like lures. */
  readonly ignoreCtxNorm: number;
}

/** 8 goal classes for both variants: chance of a uniform guess 1/8 = 0.125. */
export const ESS_NUM_CLASSES = 8;
/** Query density shared by both variants: one query per 16 steps (4 at N=64, 8 at N=128). */
export const ESS_QUERY_EVERY = 16;
/** The first event lies in the first 10% of the episode (so every episode has a defined goal early). */
export const ESS_FIRST_EVENT_FRAC = 0.1;
/** Background filler: a pool of 8 fixed vectors of norm 0.5 (low variance, uninformative). */
export const ESS_BG_POOL = 8;
export const ESS_BG_NORM = 0.5;
/** Novel distractors have twice the norm of an event: the most "surprising" steps in the stream. */
export const ESS_DISTRACTOR_NORM = 2.0;
/** The "ignore" (cue-for-another-robot) context added to lures has the norm of an event embedding. */
export const ESS_IGNORE_CTX_NORM = 1.0;

/** ess-easy: short, 2-3 events, ~5% novel distractors (3 at N=64), no lures, low noise. */
export const ESS_EASY: EssConfig = {
  name: "ess-easy",
  horizon: 64,
  numClasses: ESS_NUM_CLASSES,
  eventsMin: 2,
  eventsMax: 3,
  firstEventFrac: ESS_FIRST_EVENT_FRAC,
  distractorFrac: 0.05,
  lureFrac: 0,
  queryEvery: ESS_QUERY_EVERY,
  noise: 0.1,
  bgPool: ESS_BG_POOL,
  bgNorm: ESS_BG_NORM,
  distractorNorm: ESS_DISTRACTOR_NORM,
  ignoreCtxNorm: ESS_IGNORE_CTX_NORM,
};

/**
 * ess-hard: N=128, 4-6 events, 28% distractor steps (36 at N=128) of which half (18) are event-like
 * lures (E[c'] + ignore context, c' != current goal) and half novel high-norm directions, noise 0.5.
 */
export const ESS_HARD: EssConfig = {
  name: "ess-hard",
  horizon: 128,
  numClasses: ESS_NUM_CLASSES,
  eventsMin: 4,
  eventsMax: 6,
  firstEventFrac: ESS_FIRST_EVENT_FRAC,
  distractorFrac: 0.28,
  lureFrac: 0.5,
  queryEvery: ESS_QUERY_EVERY,
  noise: 0.5,
  bgPool: ESS_BG_POOL,
  bgNorm: ESS_BG_NORM,
  distractorNorm: ESS_DISTRACTOR_NORM,
  ignoreCtxNorm: ESS_IGNORE_CTX_NORM,
};

/** Default sizes of the fixed evaluation sets of the synthetic tasks (episodes). */
export const DEFAULT_VAL_EPISODES = 256;
export const DEFAULT_TEST_EPISODES = 512;

/** Derived per-episode counts of an ess config at its horizon. */
export function essCounts(cfg: EssConfig): { firstMax: number; queries: number; distractors: number; lures: number } {
  const N = cfg.horizon;
  const firstMax = Math.max(1, Math.floor(cfg.firstEventFrac * N));
  const queries = Math.max(1, Math.floor(N / cfg.queryEvery));
  const distractors = Math.round(cfg.distractorFrac * N);
  const lures = Math.round(cfg.lureFrac * distractors);
  return { firstMax, queries, distractors, lures };
}

/** Fixed embeddings of an ess task instance (all drawn from the task seed). */
export interface EssEmbeddings {
  /** [numClasses, d] unit event embeddings E[c]. */
  event: Float32Array;
  /** [d] unit query cue. */
  query: Float32Array;
  /** [bgPool, d] unit background directions (scaled by bgNorm). */
  bg: Float32Array;
  /** [d] unit "ignore" context (scaled by ignoreCtxNorm). */
  ignore: Float32Array;
}

export interface EssTaskOptions {
  seed: number;
  dModel: number;
  valEpisodes: number;
  testEpisodes: number;
}

/**
 * The fixed embeddings of the ess task `cfg.name` with task seed `seed` at width `dModel` (what the
 * task's episodes are made of, whatever the horizon): a model trained on the task reads them.
 */
export function essEmbeddings(cfg: EssConfig, seed: number, dModel: number): EssEmbeddings {
  const embRng = subRng(seed, `${cfg.name}/embeddings`);
  return {
    event: unitVectors(embRng, cfg.numClasses, dModel),
    query: unitVectors(embRng, 1, dModel),
    bg: unitVectors(embRng, cfg.bgPool, dModel),
    ignore: unitVectors(embRng, 1, dModel),
  };
}

/** Validate an ess config (feasibility of the step placement) and return it. */
export function checkEssConfig(cfg: EssConfig): EssConfig {
  const N = checkInt(`${cfg.name} horizon`, cfg.horizon, 16, 1 << 20);
  const { firstMax, queries, distractors } = essCounts(cfg);
  if (N - firstMax < cfg.eventsMax - 1 + queries || N < cfg.eventsMax + queries + distractors) {
    throw new ConfigError(`${cfg.name}: horizon ${N} too short for ${cfg.eventsMax} events, ${queries} queries and ${distractors} distractors`);
  }
  return cfg;
}

/** Create an ess task ("ess-easy" / "ess-hard") from a config. */
export function createEssTask(cfg: EssConfig, opts: EssTaskOptions): Task {
  checkEssConfig(cfg);
  const d = opts.dModel;
  const C = cfg.numClasses;
  const N = cfg.horizon;
  const counts = essCounts(cfg);
  const emb = essEmbeddings(cfg, opts.seed, d);
  const alloc = (B: number): EpisodeBatch => {
    const b = allocBatch(B, N, d, "discrete", C);
    b.truth = { eventClass: new Int32Array(B * N).fill(-1), lureClass: new Int32Array(B * N).fill(-1) };
    return b;
  };
  const write = (rng: Rng, batch: EpisodeBatch, row: number): void => writeEssEpisode(cfg, counts, emb, rng, batch, row);
  const sizes: Record<Split, number> = { val: opts.valEpisodes, test: opts.testEpisodes };
  const evalBatches = (split: Split, batchSize: number): Iterable<EpisodeBatch> => {
    checkSplit(split);
    checkInt("batchSize", batchSize, 1);
    return forkedBatches(subRng(opts.seed, `${cfg.name}/eval/${split}/N${N}`), sizes[split], batchSize, alloc, write);
  };
  return {
    name: cfg.name,
    metric: "accuracy",
    kind: "discrete",
    dModel: d,
    dAction: C,
    horizon: N,
    chance: 1 / C,
    metricScale: 1,
    params: {
      seed: opts.seed,
      horizon: N,
      classes: C,
      events: `${cfg.eventsMin}-${cfg.eventsMax}`,
      firstEventBefore: counts.firstMax,
      queries: counts.queries,
      distractors: counts.distractors,
      lures: counts.lures,
      noise: cfg.noise,
      bgPool: cfg.bgPool,
      bgNorm: cfg.bgNorm,
      distractorNorm: cfg.distractorNorm,
      ignoreCtxNorm: cfg.ignoreCtxNorm,
      valEpisodes: sizes.val,
      testEpisodes: sizes.test,
    },
    sample(rng: Rng, B: number): EpisodeBatch {
      checkInt("B", B, 1);
      const batch = alloc(B);
      for (let r = 0; r < B; r++) write(rng, batch, r);
      return batch;
    },
    sampleStream(rng: Rng, length: number): EpisodeBatch {
      checkInt("length", length, N);
      // half the streams at the task's event density, half with its events spread over the whole
      // stream (long retention under a flood of distractors): both regimes a robot runs in
      const sc = checkEssConfig(rng.uniform() < 0.5 ? densityConfig(cfg, length) : { ...cfg, horizon: length });
      const batch = allocBatch(1, length, d, "discrete", C);
      batch.truth = { eventClass: new Int32Array(length).fill(-1), lureClass: new Int32Array(length).fill(-1) };
      writeEssEpisode(sc, essCounts(sc), emb, rng, batch, 0);
      return batch;
    },
    evalBatches,
    evalSet: (split, batchSize) => Array.from(evalBatches(split, batchSize)),
    evalSize: (split) => (checkSplit(split), sizes[split]),
  };
}

export function checkSplit(split: unknown): asserts split is Split {
  if (split !== "val" && split !== "test") throw new ConfigError(`split must be "val" or "test", got ${String(split)}`);
}

/** Kinds of step in the ess placement (internal; lures and novel distractors are both StepType.distractor). */
const K_BG = 0;
const K_EVENT = 1;
const K_NOVEL = 2;
const K_LURE = 3;
const K_QUERY = 4;

/** Generate one ess episode into row `row` of `batch`, consuming `rng`. */
function writeEssEpisode(
  cfg: EssConfig,
  counts: ReturnType<typeof essCounts>,
  emb: EssEmbeddings,
  rng: Rng,
  batch: EpisodeBatch,
  row: number,
): void {
  const N = cfg.horizon;
  const d = batch.dModel;
  const C = cfg.numClasses;
  // 1. Placement. First event in [0, firstMax); the other K-1 events anywhere after it; queries at
  //    distinct non-event steps after the first event; distractors at distinct remaining steps
  //    (anywhere, also before the first event); the first `lures` distractors drawn are lures.
  const kind = new Uint8Array(N); // K_BG
  const K = intIn(rng, cfg.eventsMin, cfg.eventsMax);
  const first = rng.int(counts.firstMax);
  kind[first] = K_EVENT;
  for (const p of sampleDistinct(rng, K - 1, first + 1, N)) kind[p] = K_EVENT;
  const afterFree: number[] = [];
  for (let t = first + 1; t < N; t++) if (kind[t] === K_BG) afterFree.push(t);
  for (const i of sampleDistinct(rng, counts.queries, 0, afterFree.length)) kind[afterFree[i]!] = K_QUERY;
  const free: number[] = [];
  for (let t = 0; t < N; t++) if (kind[t] === K_BG) free.push(t);
  const dIdx = sampleDistinct(rng, counts.distractors, 0, free.length);
  for (let j = 0; j < dIdx.length; j++) kind[free[dIdx[j]!]!] = j < counts.lures ? K_LURE : K_NOVEL;

  // 2. Walk the stream in time order: classes, observations, targets, masks.
  const base = row * N;
  const label = batch.label!;
  const eventClass = batch.truth!.eventClass!;
  const lureClass = batch.truth!.lureClass!;
  let cur = -1;
  for (let t = 0; t < N; t++) {
    const i = base + t;
    const off = i * d;
    switch (kind[t]) {
      case K_EVENT: {
        // The first event's class is uniform; every later event switches to a different class.
        cur = otherClass(rng, C, cur);
        addRow(batch.z, off, emb.event, cur, d);
        batch.stepType[i] = StepType.event;
        eventClass[i] = cur;
        break;
      }
      case K_LURE: {
        // Event-like distractor: a real event embedding of a class other than the current goal,
        // arriving with the "ignore" context. It must not change the goal.
        const c = otherClass(rng, C, cur);
        addRow(batch.z, off, emb.event, c, d);
        addRow(batch.z, off, emb.ignore, 0, d, cfg.ignoreCtxNorm);
        batch.stepType[i] = StepType.distractor;
        lureClass[i] = c;
        break;
      }
      case K_NOVEL:
        writeRandomDirection(rng, batch.z, off, d, cfg.distractorNorm);
        batch.stepType[i] = StepType.distractor;
        break;
      case K_QUERY:
        addRow(batch.z, off, emb.query, 0, d);
        batch.stepType[i] = StepType.query;
        batch.evalMask[i] = 1;
        break;
      default:
        addRow(batch.z, off, emb.bg, rng.int(cfg.bgPool), d, cfg.bgNorm);
        batch.stepType[i] = StepType.background;
    }
    addNoise(rng, batch.z, off, d, cfg.noise);
    if (cur >= 0) {
      label[i] = cur;
      batch.lossMask[i] = 1;
    }
  }
}

/**
 * How the number of events scales when an ess stream is longer than the task's base horizon:
 * "fixed" keeps [eventsMin, eventsMax] whatever N (longer = longer retention under more distractors);
 * "density" scales both by N / baseHorizon (the steady state of a robot that keeps getting cues).
 */
export type EssStream = "fixed" | "density";

/**
 * The ess config for a task name with an optional horizon override and stream kind (default "fixed").
 * With "density", events per episode are [round(eventsMin*N/N0), round(eventsMax*N/N0)] (N0 = the
 * variant's base horizon, 64 easy / 128 hard) and the first event still lies in the first 10%.
 */
export function essConfig(name: "ess-easy" | "ess-hard", horizon?: number, stream: EssStream = "fixed"): EssConfig {
  const base = name === "ess-easy" ? ESS_EASY : ESS_HARD;
  if (stream !== "fixed" && stream !== "density") throw new ConfigError(`stream must be "fixed" or "density", got ${String(stream)}`);
  if (horizon === undefined) return base;
  return stream === "fixed" ? { ...base, horizon } : densityConfig(base, horizon);
}

/** `cfg` stretched to `horizon` steps at the same event density (events scale with horizon / cfg.horizon). */
export function densityConfig(cfg: EssConfig, horizon: number): EssConfig {
  const scale = horizon / cfg.horizon;
  return {
    ...cfg,
    horizon,
    eventsMin: Math.max(1, Math.round(cfg.eventsMin * scale)),
    eventsMax: Math.max(1, Math.round(cfg.eventsMax * scale)),
  };
}
