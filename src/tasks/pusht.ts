/**
 * pusht: behaviour cloning on the real Push-T human demonstrations (diffusion-policy release,
 * `pusht_cchi_v7_replay.zarr`, 206 episodes, 25650 steps, 10 Hz). Read in place with zarrita (zarr
 * v2, blosc/zstd chunks; `data/img` is never read). Each step's low-dimensional observation (agent
 * and block pose, block angle as sin/cos, 9 block keypoints) is normalised and passed through a
 * fixed seeded random feature map standing in for a frozen encoder; the target is the human's
 * commanded action (pixels) normalised to [-1, 1]. Full description: docs/benchmarks.md.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import { ConfigError, FormatError, checkInt } from "aura-mem/errors";
import type { Rng } from "aura-mem/util/rng";
import { subRng } from "./embeddings.js";
import { SHARED_PATH, defaultPushtPath, whereLooked } from "../data/paths.js";
import { checkSplit } from "./ess.js";
import { StepType, allocBatch } from "./types.js";
import type { EpisodeBatch, Split, Task } from "./types.js";

/**
 * The shared dataset location, resolved against process.cwd(). Without an explicit path the task uses
 * this if it is there, else the copy `aura data fetch pusht` made ({@link defaultPushtPath}).
 */
export const PUSHT_DEFAULT_PATH = SHARED_PATH.pusht;
/** Side of the Push-T workspace in pixels: coordinates are in [0, 512]. */
export const PUSHT_PIXELS = 512;
/** metricScale: normalised units are pixels / 256 (x_n = x_px / 512 * 2 - 1), so mse * 256^2 = pixels^2. */
export const PUSHT_METRIC_SCALE = 256 * 256;
/** Action dimension (commanded agent x, y). */
export const PUSHT_D_ACTION = 2;
/** Input features per step: agent xy, block xy, sin/cos(angle), 9 keypoints xy. */
export const PUSHT_D_IN = 24;
/** Episode split fractions: val and test get round(0.1 * 206) = 21 episodes each, train the remaining 164. */
export const PUSHT_VAL_FRAC = 0.1;
export const PUSHT_TEST_FRAC = 0.1;
/** Feature map z_j = tanh(sum_k x_k A[k, j] + c_j): A [24, dModel] with A_kj ~ N(0, GAIN^2 / 24), c_j ~ N(0, BIAS_STD^2), drawn from the seed. */
export const PUSHT_FEATURE_GAIN = 2.0;
export const PUSHT_FEATURE_BIAS_STD = 0.5;
/** Event rule (a): contact starts, n_contacts goes from 0 to > 0. */
/** Event rule (b): the commanded action reverses direction: consecutive action deltas both >= this many pixels with an angle > 90 degrees. */
export const PUSHT_TURN_MIN_PX = 2;
/** Cache the z features of all steps when nSteps * dModel is at most this many floats; otherwise compute per batch. */
const Z_CACHE_MAX_FLOATS = 1 << 25;

/** Pixels -> normalised units. */
export function pushtNormalise(px: number): number {
  return (px / PUSHT_PIXELS) * 2 - 1;
}
/** Normalised units -> pixels. */
export function pushtDenormalise(u: number): number {
  return ((u + 1) / 2) * PUSHT_PIXELS;
}

/** The raw arrays of the dataset (exposed for tests / analysis). */
export interface PushtData {
  /** Number of episodes (206). */
  episodes: number;
  /** Total steps (25650). */
  steps: number;
  /** [episodes + 1] start offsets; episode e covers steps [offsets[e], offsets[e+1]). */
  offsets: Int32Array;
  /** [steps, 5] agent_x, agent_y, block_x, block_y (pixels), block_angle (radians). */
  state: Float32Array;
  /** [steps, 2] commanded agent position (pixels). */
  action: Float32Array;
  /** [steps, 9, 2] block keypoints (pixels). */
  keypoint: Float32Array;
  /** [steps] number of contacts. */
  nContacts: Float32Array;
}

/** Extra API of the pusht task (the Task interface plus the loaded data and the split). */
export interface PushtTask extends Task {
  readonly data: PushtData;
  /** Episode indices of each split (disjoint, covering 0..205). */
  readonly split: Readonly<Record<"train" | Split, Int32Array>>;
  /** Seconds spent reading the zarr store. */
  readonly loadSeconds: number;
}

export interface PushtTaskOptions {
  seed: number;
  dModel: number;
  /** Training window length; undefined = whole episodes (T = longest episode in the batch). */
  window?: number;
  path?: string;
}

async function readArray(root: zarr.Location<FileSystemStore>, path: string, shape: number[]): Promise<zarr.TypedArray<zarr.DataType>> {
  let arr: zarr.Array<zarr.DataType, FileSystemStore>;
  try {
    arr = await zarr.open.v2(root.resolve(path), { kind: "array" });
  } catch (e) {
    throw new FormatError(`pusht: cannot open array ${path}: ${(e as Error).message}`);
  }
  if (arr.shape.length !== shape.length || arr.shape.some((s, i) => shape[i]! >= 0 && s !== shape[i])) {
    throw new FormatError(`pusht: ${path} has shape [${arr.shape.join(", ")}], expected [${shape.map((s) => (s < 0 ? "n" : s)).join(", ")}]`);
  }
  const chunk = await zarr.get(arr);
  return chunk.data as zarr.TypedArray<zarr.DataType>;
}

/** Read the Push-T replay buffer (everything but `data/img`). */
export async function loadPushtData(path: string): Promise<PushtData> {
  const root = zarr.root(new FileSystemStore(path));
  const endsRaw = await readArray(root, "meta/episode_ends", [-1]);
  if (!(endsRaw instanceof BigInt64Array)) throw new FormatError("pusht: meta/episode_ends must be int64");
  const episodes = endsRaw.length;
  const offsets = new Int32Array(episodes + 1);
  for (let e = 0; e < episodes; e++) {
    offsets[e + 1] = Number(endsRaw[e]!);
    if (offsets[e + 1]! <= offsets[e]!) throw new FormatError(`pusht: episode_ends not strictly increasing at ${e}`);
  }
  const steps = offsets[episodes]!;
  const [state, action, keypoint, nc] = await Promise.all([
    readArray(root, "data/state", [steps, 5]),
    readArray(root, "data/action", [steps, 2]),
    readArray(root, "data/keypoint", [steps, 9, 2]),
    readArray(root, "data/n_contacts", [steps, 1]),
  ]);
  for (const [n, a] of [["state", state], ["action", action], ["keypoint", keypoint], ["n_contacts", nc]] as const) {
    if (!(a instanceof Float32Array)) throw new FormatError(`pusht: data/${n} must be float32`);
  }
  return {
    episodes,
    steps,
    offsets,
    state: state as Float32Array,
    action: action as Float32Array,
    keypoint: keypoint as Float32Array,
    nContacts: nc as Float32Array,
  };
}

/** Normalised input features x [steps, 24] (see PUSHT_D_IN). */
export function pushtFeatures(data: PushtData): Float32Array {
  const x = new Float32Array(data.steps * PUSHT_D_IN);
  for (let i = 0; i < data.steps; i++) {
    const o = i * PUSHT_D_IN;
    const s = i * 5;
    for (let k = 0; k < 4; k++) x[o + k] = pushtNormalise(data.state[s + k]!);
    const ang = data.state[s + 4]!;
    x[o + 4] = Math.sin(ang);
    x[o + 5] = Math.cos(ang);
    for (let k = 0; k < 18; k++) x[o + 6 + k] = pushtNormalise(data.keypoint[i * 18 + k]!);
  }
  return x;
}

/** Per-step event flags [steps]: contact onset or sharp reversal of the commanded action (within an episode). */
export function pushtEvents(data: PushtData): Uint8Array {
  const ev = new Uint8Array(data.steps);
  const a = data.action;
  const min2 = PUSHT_TURN_MIN_PX * PUSHT_TURN_MIN_PX;
  for (let e = 0; e < data.episodes; e++) {
    const s0 = data.offsets[e]!;
    const s1 = data.offsets[e + 1]!;
    for (let t = s0 + 1; t < s1; t++) {
      if (data.nContacts[t - 1] === 0 && data.nContacts[t]! > 0) ev[t] = 1;
      if (t >= s0 + 2) {
        const dx1 = a[2 * t]! - a[2 * t - 2]!;
        const dy1 = a[2 * t + 1]! - a[2 * t - 1]!;
        const dx0 = a[2 * t - 2]! - a[2 * t - 4]!;
        const dy0 = a[2 * t - 1]! - a[2 * t - 3]!;
        if (dx1 * dx1 + dy1 * dy1 >= min2 && dx0 * dx0 + dy0 * dy0 >= min2 && dx1 * dx0 + dy1 * dy0 < 0) ev[t] = 1;
      }
    }
  }
  return ev;
}

/** Split episodes with the seed: a seeded shuffle, first 21 -> test, next 21 -> val, the rest -> train. */
export function pushtSplit(episodes: number, seed: number): Record<"train" | Split, Int32Array> {
  const idx = Array.from({ length: episodes }, (_, i) => i);
  subRng(seed, "pusht/split").shuffle(idx);
  const nTest = Math.round(PUSHT_TEST_FRAC * episodes);
  const nVal = Math.round(PUSHT_VAL_FRAC * episodes);
  const sorted = (a: number[]): Int32Array => Int32Array.from(a).sort();
  return {
    test: sorted(idx.slice(0, nTest)),
    val: sorted(idx.slice(nTest, nTest + nVal)),
    train: sorted(idx.slice(nTest + nVal)),
  };
}

/** Load the dataset and build the pusht task. */
export async function createPushtTask(opts: PushtTaskOptions): Promise<PushtTask> {
  const path = resolve(process.cwd(), opts.path ?? defaultPushtPath());
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    const looked = opts.path === undefined ? `; ${whereLooked("pusht")}` : "";
    throw new ConfigError(`pusht: dataset not found at ${path} (set the pushtPath option / --pusht-path to pusht_cchi_v7_replay.zarr${looked})`);
  }
  const window = opts.window === undefined ? undefined : checkInt("pusht window (horizon)", opts.window, 2, 4096);
  const d = opts.dModel;
  const t0 = performance.now();
  const data = await loadPushtData(path);
  const loadSeconds = (performance.now() - t0) / 1000;
  const x = pushtFeatures(data);
  const events = pushtEvents(data);
  const split = pushtSplit(data.episodes, opts.seed);
  let maxLen = 0;
  for (let e = 0; e < data.episodes; e++) maxLen = Math.max(maxLen, data.offsets[e + 1]! - data.offsets[e]!);

  // Fixed random feature map standing in for a frozen encoder: z = tanh(A x + c).
  const fr = subRng(opts.seed, "pusht/features");
  const A = fr.normals(PUSHT_D_IN * d, PUSHT_FEATURE_GAIN / Math.sqrt(PUSHT_D_IN)); // [24, d] (input-major)
  const c = fr.normals(d, PUSHT_FEATURE_BIAS_STD);
  const featureInto = (step: number, dst: Float32Array, off: number): void => {
    const xo = step * PUSHT_D_IN;
    const out = dst.subarray(off, off + d);
    out.set(c);
    for (let k = 0; k < PUSHT_D_IN; k++) {
      const xk = x[xo + k]!;
      const ao = k * d;
      for (let j = 0; j < d; j++) out[j] = out[j]! + A[ao + j]! * xk;
    }
    for (let j = 0; j < d; j++) out[j] = Math.tanh(out[j]!);
  };
  let zCache: Float32Array | null = null;
  if (data.steps * d <= Z_CACHE_MAX_FLOATS) {
    zCache = new Float32Array(data.steps * d);
    for (let s = 0; s < data.steps; s++) featureInto(s, zCache, s * d);
  }

  /** Fill a batch from (episode, start, length) rows, T = given. */
  const build = (eps: ArrayLike<number>, starts: ArrayLike<number>, lens: ArrayLike<number>, T: number): EpisodeBatch => {
    const B = eps.length;
    const batch = allocBatch(B, T, d, "continuous", PUSHT_D_ACTION);
    batch.truth = { episode: Int32Array.from(eps), start: Int32Array.from(starts), length: Int32Array.from(lens) };
    const target = batch.target!;
    batch.stepType.fill(StepType.pad);
    for (let b = 0; b < B; b++) {
      const s0 = data.offsets[eps[b]!]! + starts[b]!;
      for (let t = 0; t < lens[b]!; t++) {
        const i = b * T + t;
        const s = s0 + t;
        if (zCache) batch.z.set(zCache.subarray(s * d, (s + 1) * d), i * d);
        else featureInto(s, batch.z, i * d);
        target[2 * i] = pushtNormalise(data.action[2 * s]!);
        target[2 * i + 1] = pushtNormalise(data.action[2 * s + 1]!);
        batch.lossMask[i] = 1;
        batch.evalMask[i] = 1;
        batch.stepType[i] = events[s] ? StepType.event : StepType.background;
      }
    }
    return batch;
  };
  const epLen = (e: number): number => data.offsets[e + 1]! - data.offsets[e]!;

  const evalBatches = function* (which: Split, batchSize: number): Generator<EpisodeBatch> {
    checkSplit(which);
    checkInt("batchSize", batchSize, 1);
    const eps = split[which];
    for (let i0 = 0; i0 < eps.length; i0 += batchSize) {
      const sub = eps.subarray(i0, Math.min(eps.length, i0 + batchSize));
      const lens = Array.from(sub, epLen);
      yield build(sub, new Int32Array(sub.length), lens, Math.max(...lens));
    }
  };

  return {
    name: "pusht",
    metric: "mse",
    kind: "continuous",
    dModel: d,
    dAction: PUSHT_D_ACTION,
    horizon: window ?? maxLen,
    chance: null,
    metricScale: PUSHT_METRIC_SCALE,
    params: {
      seed: opts.seed,
      path,
      episodes: data.episodes,
      steps: data.steps,
      maxEpisodeLength: maxLen,
      window: window ?? "episode",
      train: split.train.length,
      val: split.val.length,
      test: split.test.length,
      dIn: PUSHT_D_IN,
      featureGain: PUSHT_FEATURE_GAIN,
      featureBiasStd: PUSHT_FEATURE_BIAS_STD,
      eventSteps: events.reduce((a, v) => a + v, 0),
    },
    data,
    split,
    loadSeconds,
    sample(rng: Rng, B: number): EpisodeBatch {
      checkInt("B", B, 1);
      const eps = new Int32Array(B);
      const starts = new Int32Array(B);
      const lens = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const e = split.train[rng.int(split.train.length)]!;
        const L = epLen(e);
        eps[b] = e;
        if (window === undefined) {
          lens[b] = L;
        } else {
          starts[b] = L > window ? rng.int(L - window + 1) : 0;
          lens[b] = Math.min(L, window);
        }
      }
      return build(eps, starts, lens, window ?? Math.max(...lens));
    },
    evalBatches,
    evalSet: (which, batchSize) => Array.from(evalBatches(which, batchSize)),
    evalSize: (which) => (checkSplit(which), split[which].length),
  };
}
