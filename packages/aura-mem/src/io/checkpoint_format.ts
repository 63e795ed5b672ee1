/**
 * The checkpoint format, without Node: its tag and version, the checks of the JSON and of the
 * tensors against it, and the model rebuilt from a checkpoint. Read from files by `loadCheckpoint`
 * (src/io/checkpoint.ts, used by `AuraMemLayer.load`) and from bytes by `checkpointFromBytes`
 * (src/web/checkpoint.ts, the browser demo); the file layout is documented in src/io/checkpoint.ts.
 */
import { MemoryConfig, type MemoryConfigInit } from "../config.js";
import { ConfigError, FormatError, NonFiniteError } from "../errors.js";
import { armSpec } from "../model/arms.js";
import { SequenceModel, isArm } from "../model/model.js";
import type { ArmOptions } from "../model/arms.js";
import type { Ops } from "../ops/index.js";
import { decodeSafetensors } from "./safetensors.js";

export const CHECKPOINT_FORMAT = "aura-mem-checkpoint";
export const CHECKPOINT_VERSION = 1;

export interface CheckpointParam {
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint {
  arm: string;
  config: Record<string, unknown>;
  params: Record<string, CheckpointParam>;
  extra?: Record<string, unknown>;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0);
}

export function checkFiniteParam(name: string, shape: readonly number[], data: Float32Array, Err: typeof NonFiniteError): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new Err(`checkpoint parameter "${name}"[${i}] is ${v} (shape [${shape.join(", ")}])`);
  }
}

/** The checked fields of a checkpoint JSON (`where` names it in errors). */
export interface CheckpointMeta {
  arm: string;
  config: Record<string, unknown>;
  extra: Record<string, unknown> | undefined;
  createdAt: string | null;
  /** Parameter name -> shape as the JSON lists them. */
  listed: Record<string, number[]>;
  /** Hex SHA-256 of the tensor file, if the JSON has one. */
  sha256: string | undefined;
}

/**
 * Check a parsed checkpoint JSON: format, version, arm, config, extra, createdAt, params, sha256.
 * @throws FormatError naming the first bad field.
 */
export function checkpointMeta(meta: unknown, where: string): CheckpointMeta {
  if (!isPlainObject(meta)) throw new FormatError(`${where}: must be a JSON object`);
  if (meta["format"] !== CHECKPOINT_FORMAT) throw new FormatError(`${where}: format must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(meta["format"])}`);
  if (meta["version"] !== CHECKPOINT_VERSION) {
    throw new FormatError(`${where}: unsupported version ${JSON.stringify(meta["version"])} (this build reads version ${CHECKPOINT_VERSION})`);
  }
  const arm = meta["arm"];
  if (typeof arm !== "string" || arm.length === 0) throw new FormatError(`${where}: arm must be a non-empty string`);
  const config = meta["config"];
  if (!isPlainObject(config)) throw new FormatError(`${where}: config must be an object`);
  const extra = meta["extra"];
  if (extra !== undefined && !isPlainObject(extra)) throw new FormatError(`${where}: extra must be an object`);
  const createdAt = meta["createdAt"];
  if (createdAt !== undefined && typeof createdAt !== "string") throw new FormatError(`${where}: createdAt must be a string`);
  const listed = meta["params"];
  if (!isPlainObject(listed)) throw new FormatError(`${where}: params must be an object of name -> shape`);
  for (const name of Object.keys(listed)) {
    if (!isShape(listed[name])) throw new FormatError(`${where}: params "${name}" must be a shape (array of non-negative integers)`);
  }
  const checksum = meta["sha256"];
  if (checksum !== undefined && typeof checksum !== "string") throw new FormatError(`${where}: sha256 must be a string`);
  return {
    arm,
    config,
    extra: extra as Record<string, unknown> | undefined,
    createdAt: typeof createdAt === "string" ? createdAt : null,
    listed: listed as Record<string, number[]>,
    sha256: checksum,
  };
}

/**
 * The parameters of a checkpoint's tensor bytes, checked against what its JSON lists (names both
 * ways, F32 dtype, shapes, finiteness). `jsonName` / `tensorsName` name the two files in errors.
 * @throws FormatError on a mismatch, NonFiniteError on NaN/Inf values.
 */
export function checkpointParams(listed: Record<string, number[]>, bytes: Uint8Array, jsonName: string, tensorsName: string): Record<string, CheckpointParam> {
  const { tensors } = decodeSafetensors(bytes);
  const listedNames = Object.keys(listed).sort();
  const fileNames = Object.keys(tensors).sort();
  for (const n of listedNames) {
    if (!Object.prototype.hasOwnProperty.call(tensors, n)) throw new FormatError(`checkpoint: parameter "${n}" is listed in ${jsonName} but missing from ${tensorsName}`);
  }
  for (const n of fileNames) {
    if (!Object.prototype.hasOwnProperty.call(listed, n)) throw new FormatError(`checkpoint: tensor "${n}" in ${tensorsName} is not listed in ${jsonName}`);
  }
  const params: Record<string, CheckpointParam> = {};
  for (const n of listedNames) {
    const t = tensors[n]!;
    const shape = listed[n]!;
    if (t.dtype !== "F32") throw new FormatError(`checkpoint: parameter "${n}" has dtype ${t.dtype}, expected F32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(`checkpoint: parameter "${n}" has shape [${t.shape.join(", ")}] in ${tensorsName} but [${shape.join(", ")}] in ${jsonName}`);
    }
    const data = t.data as Float32Array;
    checkFiniteParam(n, shape, data, NonFiniteError);
    Object.defineProperty(params, n, { value: { shape: t.shape, data }, enumerable: true, writable: true, configurable: true });
  }
  return params;
}

/** The arm options a checkpoint's `extra` records (rnnHidden, window, writeRate, tau). */
export function checkpointArmOptions(extra: Record<string, unknown> | undefined): ArmOptions {
  const x = extra ?? {};
  const num = (k: string): number | undefined => (typeof x[k] === "number" ? (x[k] as number) : undefined);
  return { matchParams: null, rnnHidden: num("rnnHidden"), window: num("window"), writeRate: num("writeRate"), tau: num("tau") };
}

/**
 * The layer configuration of a checkpoint. A checkpoint written before the write decay existed has no
 * `writeDecay`: it ran without one, so it loads with 1 (not the current default), keeping its maths.
 * @throws ConfigError on a bad config.
 */
export function checkpointConfig(config: Record<string, unknown>): MemoryConfig {
  return new MemoryConfig(("writeDecay" in config ? config : { ...config, writeDecay: 1 }) as unknown as MemoryConfigInit);
}

/**
 * Copy a checkpoint's parameters into a model built for its arm and config (and its recon-gate tau);
 * marks them written (`SequenceModel.paramsChanged`).
 * @throws FormatError when the checkpoint's parameter names or sizes differ from the model's.
 */
export function assignCheckpoint(model: SequenceModel, ck: Pick<Checkpoint, "arm" | "params" | "extra">): void {
  const want = Object.keys(model.params).sort();
  const have = Object.keys(ck.params).sort();
  if (want.join("\n") !== have.join("\n")) {
    throw new FormatError(`checkpoint parameters [${have.join(", ")}] do not match the ${ck.arm} arm's [${want.join(", ")}]`);
  }
  for (const [k, p] of Object.entries(model.params)) {
    const src = ck.params[k]!;
    if (src.data.length !== p.data.length) throw new FormatError(`checkpoint parameter ${k} has ${src.data.length} values, expected ${p.data.length}`);
    p.data.set(src.data);
  }
  model.paramsChanged();
  const tau = checkpointArmOptions(ck.extra).tau;
  if (tau !== undefined) model.setTau(tau);
}

/**
 * The model a checkpoint holds, on `ops`.
 * @throws ConfigError on an unknown arm or a bad config, FormatError on mismatching parameters.
 */
export function modelFromCheckpoint(ck: Checkpoint, ops: Ops): SequenceModel {
  if (!isArm(ck.arm)) throw new ConfigError(`checkpoint arm "${ck.arm}" is not known`);
  const config = checkpointConfig(ck.config);
  const model = new SequenceModel(armSpec(ck.arm, config, checkpointArmOptions(ck.extra)), ops);
  assignCheckpoint(model, ck);
  return model;
}
