/**
 * Browser-safe checkpoint loading: the checks of `loadCheckpoint` (the shared format module,
 * src/io/checkpoint_format.ts) on bytes the caller already has (fetched, dropped in, read from disk),
 * with no Node modules. The SHA-256 cross-check of the two files uses Web Crypto when the runtime
 * offers it (`globalThis.crypto.subtle`: browsers in a secure context, Node >= 19) and is skipped (and
 * says so) otherwise.
 */
import type { MemoryConfig } from "aura-mem/config";
import { ConfigError, FormatError } from "aura-mem/errors";
import { checkpointMeta, checkpointParams, modelFromCheckpoint } from "aura-mem/io/checkpoint_format";
import { isArm, type SequenceModel } from "aura-mem/model/model";
import type { Ops } from "aura-mem/ops/index";

export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from "aura-mem/io/checkpoint_format";

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
  const m = checkpointMeta(meta, "checkpoint JSON");
  if (!isArm(m.arm)) throw new ConfigError(`checkpoint arm ${JSON.stringify(m.arm)} is not known`);
  if (!(tensors instanceof Uint8Array)) throw new FormatError("checkpoint tensors must be a Uint8Array");

  let checksum: BytesCheckpoint["checksum"] = "absent";
  if (m.sha256 !== undefined) {
    const got = await sha256Hex(tensors);
    if (got === null) checksum = "unavailable";
    else if (got !== m.sha256) throw new FormatError("checkpoint: the tensors' SHA-256 does not match the JSON (files from different saves, or corrupted)");
    else checksum = "verified";
  }
  const params = checkpointParams(m.listed, tensors, "the checkpoint JSON", "the tensors");
  const model = modelFromCheckpoint({ arm: m.arm, config: m.config, params, extra: m.extra }, ops);
  return { model, arm: m.arm, config: model.spec.config, extra: m.extra ?? {}, createdAt: m.createdAt, checksum };
}
