/**
 * Browser-safe checkpoint loading: the same checks as `loadCheckpoint` (src/io/checkpoint.ts) but on
 * bytes the caller already has (fetched, dropped in, read from disk), with no Node modules. The
 * SHA-256 cross-check of the two files uses Web Crypto when the runtime offers it
 * (`globalThis.crypto.subtle`: browsers in a secure context, Node >= 19) and is skipped (and says so)
 * otherwise.
 */
import { MemoryConfig, type MemoryConfigInit } from "../config.js";
import { ConfigError, FormatError, NonFiniteError } from "../errors.js";
import { decodeSafetensors } from "../io/safetensors.js";
import { armSpec } from "../model/arms.js";
import { SequenceModel, isArm } from "../model/model.js";
import type { Ops } from "../ops/index.js";

/** Format tag and version written by `saveCheckpoint` (kept equal to src/io/checkpoint.ts). */
export const CHECKPOINT_FORMAT = "aura-mem-checkpoint";
export const CHECKPOINT_VERSION = 1;

/** A model rebuilt from checkpoint bytes, with what the JSON said about it. */
export interface BytesCheckpoint {
  model: SequenceModel;
  arm: string;
  config: MemoryConfig;
  extra: Record<string, unknown>;
  createdAt: string | null;
  /** "verified" when the SHA-256 in the JSON matched the tensor bytes, "absent" when the JSON has none, "unavailable" without Web Crypto. */
  checksum: "verified" | "absent" | "unavailable";
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (!subtle) return null;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const digest = new Uint8Array(await subtle.digest("SHA-256", copy.buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Rebuild the arm of a checkpoint from its two files' contents.
 * @param json the `<base>.json` text (or its parsed object)
 * @param tensors the `<base>.safetensors` bytes
 * @param ops the op backend to run on (e.g. `wasmOps(instantiateKernels(bytes))`)
 * @throws FormatError on a malformed or inconsistent pair (format, version, names, shapes, dtypes,
 *         checksum), NonFiniteError on NaN/Inf parameters, ConfigError on an unknown arm or bad config.
 */
export async function checkpointFromBytes(json: string | Record<string, unknown>, tensors: Uint8Array, ops: Ops): Promise<BytesCheckpoint> {
  let meta: unknown = json;
  if (typeof json === "string") {
    try {
      meta = JSON.parse(json);
    } catch (e) {
      throw new FormatError(`checkpoint JSON is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObj(meta)) throw new FormatError("checkpoint JSON must be an object");
  if (meta["format"] !== CHECKPOINT_FORMAT) throw new FormatError(`checkpoint JSON: format must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(meta["format"])}`);
  if (meta["version"] !== CHECKPOINT_VERSION) throw new FormatError(`checkpoint JSON: unsupported version ${JSON.stringify(meta["version"])}`);
  const arm = meta["arm"];
  if (typeof arm !== "string" || !isArm(arm)) throw new ConfigError(`checkpoint arm ${JSON.stringify(arm)} is not known`);
  const cfgIn = meta["config"];
  if (!isObj(cfgIn)) throw new FormatError("checkpoint JSON: config must be an object");
  const listed = meta["params"];
  if (!isObj(listed)) throw new FormatError("checkpoint JSON: params must be an object of name -> shape");
  const extra = isObj(meta["extra"]) ? meta["extra"] : {};
  if (!(tensors instanceof Uint8Array)) throw new FormatError("checkpoint tensors must be a Uint8Array");

  let checksum: BytesCheckpoint["checksum"] = "absent";
  if (typeof meta["sha256"] === "string") {
    const got = await sha256Hex(tensors);
    if (got === null) checksum = "unavailable";
    else if (got !== meta["sha256"]) throw new FormatError("checkpoint: the tensors' SHA-256 does not match the JSON (files from different saves, or corrupted)");
    else checksum = "verified";
  }

  const config = new MemoryConfig(cfgIn as unknown as MemoryConfigInit);
  const num = (k: string): number | undefined => (typeof extra[k] === "number" ? (extra[k] as number) : undefined);
  const spec = armSpec(arm, config, { matchParams: null, rnnHidden: num("rnnHidden"), window: num("window"), writeRate: num("writeRate"), tau: num("tau") });
  const model = new SequenceModel(spec, ops);
  const { tensors: file } = decodeSafetensors(tensors);
  const want = Object.keys(model.params).sort();
  const have = Object.keys(file).sort();
  const listedNames = Object.keys(listed).sort();
  if (want.join("\n") !== have.join("\n") || want.join("\n") !== listedNames.join("\n")) {
    throw new FormatError(`checkpoint parameters [${have.join(", ")}] do not match the ${arm} arm's [${want.join(", ")}]`);
  }
  for (const name of want) {
    const t = file[name]!;
    const p = model.params[name]!;
    const shape = listed[name];
    if (t.dtype !== "F32") throw new FormatError(`checkpoint parameter "${name}" has dtype ${t.dtype}, expected F32`);
    if (!Array.isArray(shape) || shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      throw new FormatError(`checkpoint parameter "${name}" has shape [${t.shape.join(", ")}] in the tensors but ${JSON.stringify(shape)} in the JSON`);
    }
    const data = t.data as Float32Array;
    if (data.length !== p.data.length) throw new FormatError(`checkpoint parameter "${name}" has ${data.length} values, expected ${p.data.length}`);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new NonFiniteError(`checkpoint parameter "${name}"[${i}] is ${data[i]}`);
    }
    p.data.set(data);
  }
  const tau = num("tau");
  if (tau !== undefined) model.setTau(tau);
  return { model, arm, config, extra, createdAt: typeof meta["createdAt"] === "string" ? meta["createdAt"] : null, checksum };
}
