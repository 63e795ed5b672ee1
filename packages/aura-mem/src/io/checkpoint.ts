/**
 * Checkpoints: a pair of files sharing a base path,
 *
 *   <base>.safetensors  every parameter as an F32 tensor (names such as "encoder.W"), metadata
 *                       { format: "aura-mem-checkpoint", arm }
 *   <base>.json         { format: "aura-mem-checkpoint", version: 1, arm, config, params: { name: shape },
 *                         createdAt, safetensors: "<file name>", sha256: "<hex of the safetensors file>",
 *                         extra? }
 *
 * Both files are written atomically (temporary file + rename), the tensors first, so a crash never
 * leaves a JSON pointing at a half-written tensor file. Loading cross-checks the two files (names,
 * shapes, dtype, checksum) and rejects non-finite parameters. The round trip is bit-exact.
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { ConfigError, FormatError, NonFiniteError, ShapeError } from "../errors.js";
import { checkpointMeta, checkpointParams, checkFiniteParam, isPlainObject, isShape, shapeSize, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type Checkpoint, type CheckpointParam } from "./checkpoint_format.js";
import { encodeSafetensors, readFileChecked, writeFileAtomic, type TensorEntry } from "./safetensors.js";

export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, modelFromCheckpoint, type Checkpoint, type CheckpointParam } from "./checkpoint_format.js";

export interface LoadedCheckpoint extends Checkpoint {
  createdAt: string;
  safetensorsPath: string;
  jsonPath: string;
}

/** `<base>.safetensors` and `<base>.json` for a path given with or without either extension. */
export function checkpointPaths(path: string): { base: string; safetensorsPath: string; jsonPath: string } {
  if (typeof path !== "string" || path.length === 0) throw new ConfigError("checkpoint path must be a non-empty string");
  const base = path.replace(/\.(safetensors|json)$/, "");
  if (base.length === 0 || base.endsWith("/")) throw new ConfigError(`checkpoint path ${JSON.stringify(path)} has no file name`);
  return { base, safetensorsPath: `${base}.safetensors`, jsonPath: `${base}.json` };
}

/** Throw ConfigError if `v` holds something JSON cannot represent faithfully (NaN, Inf, functions...). */
function checkJsonValue(where: string, v: unknown, depth = 0): void {
  if (depth > 64) throw new ConfigError(`${where}: nested too deeply`);
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ConfigError(`${where} is ${v}, which JSON cannot represent`);
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkJsonValue(`${where}[${i}]`, x, depth + 1));
    return;
  }
  if (isPlainObject(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    for (const k of Object.keys(v)) {
      if (v[k] !== undefined) checkJsonValue(`${where}.${k}`, v[k], depth + 1); // undefined members are dropped
    }
    return;
  }
  throw new ConfigError(`${where} is a ${v === undefined ? "undefined" : (v as object).constructor?.name ?? typeof v}, which is not JSON data`);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Save a checkpoint. Validates everything first (ConfigError for arm/config/extra, ShapeError for a
 * parameter whose data length disagrees with its shape, NonFiniteError for NaN/Inf parameters), so
 * invalid input never touches the file system.
 */
export async function saveCheckpoint(path: string, ck: Checkpoint): Promise<{ safetensorsPath: string; jsonPath: string }> {
  const { safetensorsPath, jsonPath } = checkpointPaths(path);
  if (!isPlainObject(ck)) throw new ConfigError("saveCheckpoint: checkpoint must be an object");
  if (typeof ck.arm !== "string" || ck.arm.length === 0) throw new ConfigError("saveCheckpoint: arm must be a non-empty string");
  if (!isPlainObject(ck.config)) throw new ConfigError("saveCheckpoint: config must be an object");
  checkJsonValue("config", ck.config);
  if (ck.extra !== undefined) {
    if (!isPlainObject(ck.extra)) throw new ConfigError("saveCheckpoint: extra must be an object");
    checkJsonValue("extra", ck.extra);
  }
  if (!isPlainObject(ck.params)) throw new ConfigError("saveCheckpoint: params must be an object of name -> { shape, data }");
  const tensors: Record<string, TensorEntry> = {};
  const shapes: Record<string, number[]> = {};
  for (const name of Object.keys(ck.params).sort()) {
    const p = ck.params[name];
    if (!isPlainObject(p)) throw new ConfigError(`saveCheckpoint: parameter "${name}" must be { shape, data }`);
    const { shape, data } = p as unknown as CheckpointParam;
    if (!isShape(shape)) throw new ShapeError(`saveCheckpoint: parameter "${name}" shape must be non-negative integers, got ${JSON.stringify(shape)}`);
    if (!(data instanceof Float32Array)) throw new ShapeError(`saveCheckpoint: parameter "${name}" data must be a Float32Array`);
    if (data.length !== shapeSize(shape)) {
      throw new ShapeError(`saveCheckpoint: parameter "${name}" shape [${shape.join(", ")}] needs ${shapeSize(shape)} values, data has ${data.length}`);
    }
    checkFiniteParam(name, shape, data, NonFiniteError);
    Object.defineProperty(tensors, name, { value: { dtype: "F32", shape: [...shape], data }, enumerable: true, writable: true, configurable: true });
    Object.defineProperty(shapes, name, { value: [...shape], enumerable: true, writable: true, configurable: true });
  }
  const bytes = encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT, arm: ck.arm });
  const json: Record<string, unknown> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    arm: ck.arm,
    config: ck.config,
    params: shapes,
    createdAt: new Date().toISOString(),
    safetensors: basename(safetensorsPath),
    sha256: sha256(bytes),
  };
  if (ck.extra !== undefined) json["extra"] = ck.extra;
  await writeFileAtomic(safetensorsPath, bytes);
  await writeFileAtomic(jsonPath, JSON.stringify(json, null, 2) + "\n");
  return { safetensorsPath, jsonPath };
}

/**
 * Load a checkpoint saved by `saveCheckpoint` (path with or without `.json` / `.safetensors`).
 * FormatError on a malformed / inconsistent pair (bad JSON, wrong format or version, parameter
 * names, shapes or dtypes that disagree, checksum mismatch), NonFiniteError on NaN/Inf parameters.
 */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const { safetensorsPath, jsonPath } = checkpointPaths(path);
  const jsonBytes = await readFileChecked(jsonPath, "checkpoint JSON");
  let meta: unknown;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(jsonBytes));
  } catch (e) {
    throw new FormatError(`checkpoint ${jsonPath}: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const { arm, config, extra, createdAt, listed, sha256: checksum } = checkpointMeta(meta, `checkpoint ${jsonPath}`);
  if (createdAt === null) throw new FormatError(`checkpoint ${jsonPath}: createdAt must be a string`);

  const stBytes = await readFileChecked(safetensorsPath, "checkpoint tensors");
  if (checksum !== undefined && checksum !== sha256(stBytes)) {
    throw new FormatError(`checkpoint ${safetensorsPath}: sha256 does not match ${jsonPath} (files from different saves, or corrupted)`);
  }
  const params = checkpointParams(listed, stBytes, jsonPath, safetensorsPath);
  const out: LoadedCheckpoint = { arm, config, params, createdAt, safetensorsPath, jsonPath };
  if (extra !== undefined) out.extra = extra;
  return out;
}
