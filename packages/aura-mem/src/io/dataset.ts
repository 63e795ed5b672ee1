/**
 * User datasets: precomputed backbone features plus targets, stored as one safetensors file
 * (see docs/data-format.md):
 *
 *   z          F32 [E, T, dModel]   backbone features per episode and step (required)
 *   action     F32 [E, T, dAction]  continuous targets          } exactly one of the two
 *   label      I32|I64 [E, T]       discrete targets, -1 = none }
 *   mask       F32|U8 [E, T]        1 = valid step, 0 = padding (optional, default all ones)
 *   step_type  U8 [E, T]            per-step type for gate-selectivity analysis, the codes of
 *                                   `StepType` (0 background, 1 event, 2 distractor, 3 query, 4 pad)
 *                                   (optional; default background, padding steps become pad)
 *   __metadata__.num_classes        number of classes for `label` (optional; default max label + 1)
 *
 * Other tensors are ignored. Every value is checked: NaN/Inf in z or action (padding included: pad
 * with zeros) -> NonFiniteError naming the tensor and index, labels outside [-1, classes) or masks
 * other than 0/1 or step types outside the
 * StepType codes -> FormatError, inconsistent shapes -> FormatError (file) / ShapeError (in memory).
 */
import { ConfigError, FormatError, NonFiniteError, ShapeError } from "../errors.js";
import { Rng } from "../util/rng.js";
import { StepType } from "../train/batch.js";
import { int64ToInt32, readSafetensors, writeSafetensors, type TensorEntry } from "./safetensors.js";

export const DATASET_FORMAT = "aura-mem-dataset";
const MAX_STEP_TYPE = Math.max(...Object.values(StepType));

export interface Dataset {
  /** Episodes. */
  E: number;
  /** Steps per episode (padded length; the mask marks the valid steps). */
  T: number;
  dModel: number;
  kind: "discrete" | "continuous";
  /** Action dimension (continuous) or number of classes (discrete). */
  dAction: number;
  /** [E, T, dModel] row-major. */
  z: Float32Array;
  /** [E, T, dAction] for continuous datasets, else null. */
  action: Float32Array | null;
  /** [E, T] class indices (-1 = no target) for discrete datasets, else null. */
  label: Int32Array | null;
  /** [E, T] 1 = valid step, 0 = padding. */
  mask: Float32Array;
  /** [E, T] optional per-step `StepType` code (0 background, 1 event, 2 distractor, 3 query, 4 pad). */
  stepType: Uint8Array | null;
  /** String metadata from the file (loadDataset) or to write (saveDataset); optional. */
  metadata?: Record<string, string>;
}

function isPosInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 1;
}

/** "name[e, t, d]" for a flat index into an [E, T, D] tensor (or [E, T] when D is omitted). */
function at(name: string, i: number, T: number, D?: number): string {
  if (D === undefined) return `${name}[${Math.floor(i / T)}, ${i % T}]`;
  const e = Math.floor(i / (T * D));
  const t = Math.floor(i / D) % T;
  return `${name}[${e}, ${t}, ${i % D}]`;
}

/**
 * Check an in-memory dataset. ConfigError for bad sizes/kind, ShapeError for arrays of the wrong
 * type or length (or targets not matching `kind`), NonFiniteError for NaN/Inf in z or action,
 * FormatError for labels outside [-1, dAction), mask values other than 0/1 or step types that are
 * not `StepType` codes.
 */
export function validateDataset(ds: Dataset): void {
  if (typeof ds !== "object" || ds === null) throw new ConfigError("dataset must be an object");
  for (const k of ["E", "T", "dModel", "dAction"] as const) {
    if (!isPosInt(ds[k])) throw new ConfigError(`dataset ${k} must be a positive integer, got ${String(ds[k])}`);
  }
  const { E, T, dModel, dAction } = ds;
  if (ds.kind !== "discrete" && ds.kind !== "continuous") throw new ConfigError(`dataset kind must be "discrete" or "continuous", got ${String(ds.kind)}`);
  const n = E * T;
  const arr = (name: string, a: unknown, Ctor: Function, len: number, shape: string) => {
    if (!(a instanceof Ctor)) throw new ShapeError(`dataset ${name} must be a ${Ctor.name} ${shape}`);
    if ((a as ArrayLike<number>).length !== len) throw new ShapeError(`dataset ${name} must have ${len} values ${shape}, got ${(a as ArrayLike<number>).length}`);
  };
  arr("z", ds.z, Float32Array, n * dModel, `[E=${E}, T=${T}, dModel=${dModel}]`);
  arr("mask", ds.mask, Float32Array, n, `[E=${E}, T=${T}]`);
  if (ds.stepType !== null && ds.stepType !== undefined) arr("stepType", ds.stepType, Uint8Array, n, `[E=${E}, T=${T}]`);
  if (ds.kind === "continuous") {
    if (ds.label !== null && ds.label !== undefined) throw new ShapeError("continuous dataset must have label = null");
    arr("action", ds.action, Float32Array, n * dAction, `[E=${E}, T=${T}, dAction=${dAction}]`);
  } else {
    if (ds.action !== null && ds.action !== undefined) throw new ShapeError("discrete dataset must have action = null");
    arr("label", ds.label, Int32Array, n, `[E=${E}, T=${T}]`);
  }
  if (ds.metadata !== undefined) {
    if (typeof ds.metadata !== "object" || ds.metadata === null) throw new ConfigError("dataset metadata must be an object of strings");
    for (const [k, v] of Object.entries(ds.metadata)) if (typeof v !== "string") throw new ConfigError(`dataset metadata "${k}" must be a string`);
  }

  const z = ds.z;
  for (let i = 0; i < z.length; i++) {
    if (!Number.isFinite(z[i]!)) throw new NonFiniteError(`dataset ${at("z", i, T, dModel)} is ${z[i]}`);
  }
  const mask = ds.mask;
  for (let i = 0; i < n; i++) {
    const m = mask[i]!;
    if (m !== 0 && m !== 1) throw new FormatError(`dataset ${at("mask", i, T)} is ${m}, must be 0 or 1`);
  }
  if (ds.action) {
    const a = ds.action;
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) throw new NonFiniteError(`dataset ${at("action", i, T, dAction)} is ${a[i]}`);
    }
  }
  if (ds.stepType) {
    const st = ds.stepType;
    for (let i = 0; i < n; i++) {
      if (st[i]! > MAX_STEP_TYPE) throw new FormatError(`dataset ${at("step_type", i, T)} is ${st[i]}, must be a StepType code in [0, ${MAX_STEP_TYPE}]`);
    }
  }
  if (ds.label) {
    const l = ds.label;
    for (let i = 0; i < n; i++) {
      const v = l[i]!;
      if (v < -1 || v >= dAction) throw new FormatError(`dataset ${at("label", i, T)} is ${v}, must be -1 (no target) or in [0, ${dAction})`);
    }
  }
}

function expectShape(name: string, t: TensorEntry, shape: (number | null)[], what: string): number[] {
  if (t.shape.length !== shape.length) {
    throw new FormatError(`dataset tensor "${name}" must have rank ${shape.length} ${what}, got shape [${t.shape.join(", ")}]`);
  }
  shape.forEach((d, i) => {
    if (d !== null && t.shape[i] !== d) throw new FormatError(`dataset tensor "${name}" has shape [${t.shape.join(", ")}], expected ${what}`);
  });
  return t.shape;
}

/** Build a Dataset from decoded safetensors contents (validated). */
export function datasetFromTensors(tensors: Record<string, TensorEntry>, metadata: Record<string, string> = {}, source = "dataset"): Dataset {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(tensors, k);
  if (!has("z")) throw new FormatError(`${source}: missing required tensor "z" (F32 [E, T, dModel])`);
  const zt = tensors["z"]!;
  if (zt.dtype !== "F32") throw new FormatError(`${source}: tensor "z" must be F32, got ${zt.dtype}`);
  const [E, T, dModel] = expectShape("z", zt, [null, null, null], "[E, T, dModel]") as [number, number, number];
  if (E < 1 || T < 1 || dModel < 1) throw new FormatError(`${source}: tensor "z" has an empty dimension, shape [${zt.shape.join(", ")}]`);
  if (has("action") && has("label")) throw new FormatError(`${source}: has both "action" and "label"; a dataset is either continuous or discrete`);
  if (!has("action") && !has("label")) throw new FormatError(`${source}: needs a target tensor, "action" (F32 [E, T, dAction]) or "label" (I32/I64 [E, T])`);

  let kind: Dataset["kind"];
  let dAction: number;
  let action: Float32Array | null = null;
  let label: Int32Array | null = null;
  if (has("action")) {
    const at_ = tensors["action"]!;
    if (at_.dtype !== "F32") throw new FormatError(`${source}: tensor "action" must be F32, got ${at_.dtype}`);
    dAction = expectShape("action", at_, [E, T, null], `[E=${E}, T=${T}, dAction]`)[2]!;
    if (dAction < 1) throw new FormatError(`${source}: tensor "action" has dAction = 0`);
    kind = "continuous";
    action = at_.data as Float32Array;
  } else {
    const lt = tensors["label"]!;
    if (lt.dtype === "I32") label = lt.data as Int32Array;
    else if (lt.dtype === "I64") label = int64ToInt32(lt.data as BigInt64Array, `${source}: label`);
    else throw new FormatError(`${source}: tensor "label" must be I32 or I64, got ${lt.dtype}`);
    expectShape("label", lt, [E, T], `[E=${E}, T=${T}]`);
    kind = "discrete";
    let maxLabel = -1;
    for (let i = 0; i < label.length; i++) if (label[i]! > maxLabel) maxLabel = label[i]!;
    const nc = metadata["num_classes"];
    if (nc !== undefined) {
      if (!/^[1-9][0-9]*$/.test(nc) || !Number.isSafeInteger(Number(nc))) throw new FormatError(`${source}: metadata num_classes must be a positive integer, got ${JSON.stringify(nc)}`);
      dAction = Number(nc);
    } else {
      if (maxLabel < 0) throw new FormatError(`${source}: every label is -1 and metadata num_classes is missing; cannot infer the number of classes`);
      dAction = maxLabel + 1;
    }
  }
  let mask: Float32Array;
  if (has("mask")) {
    const mt = tensors["mask"]!;
    expectShape("mask", mt, [E, T], `[E=${E}, T=${T}]`);
    if (mt.dtype === "F32") mask = mt.data as Float32Array;
    else if (mt.dtype === "U8") mask = Float32Array.from(mt.data as Uint8Array);
    else throw new FormatError(`${source}: tensor "mask" must be F32 or U8, got ${mt.dtype}`);
  } else {
    mask = new Float32Array(E * T).fill(1);
  }
  let stepType: Uint8Array | null = null;
  if (has("step_type")) {
    const st = tensors["step_type"]!;
    if (st.dtype !== "U8") throw new FormatError(`${source}: tensor "step_type" must be U8, got ${st.dtype}`);
    expectShape("step_type", st, [E, T], `[E=${E}, T=${T}]`);
    stepType = st.data as Uint8Array;
  }
  const ds: Dataset = { E, T, dModel, kind, dAction, z: zt.data as Float32Array, action, label, mask, stepType, metadata: { ...metadata } };
  try {
    validateDataset(ds);
  } catch (e) {
    if (e instanceof ShapeError || e instanceof ConfigError) throw new FormatError(`${source}: ${e.message}`);
    if (e instanceof FormatError || e instanceof NonFiniteError) {
      e.message = `${source}: ${e.message}`;
    }
    throw e;
  }
  return ds;
}

/** Read and validate a dataset file (FormatError / NonFiniteError as described in the module doc). */
export async function loadDataset(path: string): Promise<Dataset> {
  const { tensors, metadata } = await readSafetensors(path);
  return datasetFromTensors(tensors, metadata, `dataset ${path}`);
}

/** Tensors and metadata that `saveDataset` writes (validated). */
export function datasetToTensors(ds: Dataset): { tensors: Record<string, TensorEntry>; metadata: Record<string, string> } {
  validateDataset(ds);
  const { E, T, dModel, dAction } = ds;
  const tensors: Record<string, TensorEntry> = {
    z: { dtype: "F32", shape: [E, T, dModel], data: ds.z },
    mask: { dtype: "U8", shape: [E, T], data: Uint8Array.from(ds.mask) },
  };
  if (ds.kind === "continuous") tensors["action"] = { dtype: "F32", shape: [E, T, dAction], data: ds.action! };
  else tensors["label"] = { dtype: "I32", shape: [E, T], data: ds.label! };
  if (ds.stepType) tensors["step_type"] = { dtype: "U8", shape: [E, T], data: ds.stepType };
  const metadata: Record<string, string> = { ...(ds.metadata ?? {}), format: DATASET_FORMAT, version: "1", kind: ds.kind };
  if (ds.kind === "discrete") metadata["num_classes"] = String(dAction);
  else delete metadata["num_classes"];
  return { tensors, metadata };
}

/** Validate and write a dataset atomically (mask stored as U8, labels as I32, num_classes in metadata). */
export async function saveDataset(path: string, ds: Dataset): Promise<void> {
  const { tensors, metadata } = datasetToTensors(ds);
  await writeSafetensors(path, tensors, metadata);
}

/** A new dataset holding copies of the given episodes, in the given order. */
export function selectEpisodes(ds: Dataset, episodes: readonly number[]): Dataset {
  const { E, T, dModel, dAction } = ds;
  for (const e of episodes) if (!Number.isInteger(e) || e < 0 || e >= E) throw new ConfigError(`episode index ${e} out of range [0, ${E})`);
  const m = episodes.length;
  const pick = <A extends Float32Array | Int32Array | Uint8Array>(src: A, per: number, make: (n: number) => A): A => {
    const out = make(m * per);
    episodes.forEach((e, j) => out.set(src.subarray(e * per, (e + 1) * per), j * per));
    return out;
  };
  const out: Dataset = {
    E: m,
    T,
    dModel,
    kind: ds.kind,
    dAction,
    z: pick(ds.z, T * dModel, (n) => new Float32Array(n)),
    action: ds.action ? pick(ds.action, T * dAction, (n) => new Float32Array(n)) : null,
    label: ds.label ? pick(ds.label, T, (n) => new Int32Array(n)) : null,
    mask: pick(ds.mask, T, (n) => new Float32Array(n)),
    stepType: ds.stepType ? pick(ds.stepType, T, (n) => new Uint8Array(n)) : null,
  };
  if (ds.metadata) out.metadata = { ...ds.metadata };
  return out;
}

/**
 * Split by episode into disjoint train / validation sets: a seeded shuffle picks
 * round(E * valFraction) validation episodes (at least 1, at most E - 1); both parts keep the
 * original episode order and the parent's dAction (class count). Needs E >= 2.
 */
export function splitDataset(
  ds: Dataset,
  opts: { valFraction: number; seed: number },
): { train: Dataset; val: Dataset; trainEpisodes: number[]; valEpisodes: number[] } {
  validateDataset(ds);
  const { valFraction, seed } = opts;
  if (typeof valFraction !== "number" || !(valFraction > 0 && valFraction < 1)) throw new ConfigError(`splitDataset: valFraction must be in (0, 1), got ${valFraction}`);
  if (!Number.isInteger(seed)) throw new ConfigError(`splitDataset: seed must be an integer, got ${seed}`);
  if (ds.E < 2) throw new ConfigError(`splitDataset: need at least 2 episodes, got ${ds.E}`);
  const nVal = Math.min(ds.E - 1, Math.max(1, Math.round(ds.E * valFraction)));
  const order = new Rng(seed).shuffle(Array.from({ length: ds.E }, (_, i) => i));
  const valEpisodes = order.slice(0, nVal).sort((a, b) => a - b);
  const trainEpisodes = order.slice(nVal).sort((a, b) => a - b);
  return { train: selectEpisodes(ds, trainEpisodes), val: selectEpisodes(ds, valEpisodes), trainEpisodes, valEpisodes };
}
