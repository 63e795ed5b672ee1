/**
 * Train on your own backbone features: a {@link Dataset} (docs/data-format.md) seen as a
 * {@link TrainSource}. Batches are random episodes of the training split; evaluation uses every
 * valid step of the held-out episodes (mask = 1). Padding steps (mask = 0) are typed `pad`, so they
 * carry no loss, no metric and no write count.
 */
import { splitDataset, type Dataset } from "../io/dataset.js";
import { StepType, type EpisodeBatch, type TrainSource } from "./batch.js";
import type { Rng } from "../util/rng.js";


function toBatch(ds: Dataset, episodes: readonly number[]): EpisodeBatch {
  const { T, dModel, dAction } = ds;
  const B = episodes.length;
  const z = new Float32Array(B * T * dModel);
  const label = ds.label ? new Int32Array(B * T) : null;
  const target = ds.action ? new Float32Array(B * T * dAction) : null;
  const lossMask = new Float32Array(B * T);
  const stepType = new Uint8Array(B * T);
  episodes.forEach((e, b) => {
    z.set(ds.z.subarray(e * T * dModel, (e + 1) * T * dModel), b * T * dModel);
    if (label) label.set(ds.label!.subarray(e * T, (e + 1) * T), b * T);
    if (target) target.set(ds.action!.subarray(e * T * dAction, (e + 1) * T * dAction), b * T * dAction);
    for (let t = 0; t < T; t++) {
      const valid = ds.mask[e * T + t]! > 0;
      const hasTarget = !label || label[b * T + t]! >= 0;
      lossMask[b * T + t] = valid && hasTarget ? 1 : 0;
      stepType[b * T + t] = !valid ? StepType.pad : ds.stepType ? ds.stepType[e * T + t]! : StepType.background;
    }
  });
  return { B, T, dModel, z, label, target, lossMask, evalMask: lossMask.slice(), stepType };
}

/** A training source over a dataset split by episode (seeded). */
export function datasetSource(ds: Dataset, opts: { valFraction: number; seed: number }): TrainSource & { trainEpisodes: number[]; valEpisodes: number[] } {
  const split = splitDataset(ds, opts);
  const { train, val } = split;
  return {
    kind: ds.kind,
    metric: ds.kind === "discrete" ? "accuracy" : "mse",
    dAction: ds.dAction,
    metricScale: 1,
    trainEpisodes: split.trainEpisodes,
    valEpisodes: split.valEpisodes,
    sample(rng: Rng, B: number): EpisodeBatch {
      const eps = Array.from({ length: B }, () => rng.int(train.E));
      return toBatch(train, eps);
    },
    evalSet(_split: "val" | "test", batchSize: number): EpisodeBatch[] {
      const out: EpisodeBatch[] = [];
      for (let s = 0; s < val.E; s += batchSize) {
        out.push(toBatch(val, Array.from({ length: Math.min(batchSize, val.E - s) }, (_, i) => s + i)));
      }
      return out;
    },
  };
}

/** Every episode of a dataset as evaluation batches (for `aura eval --data`). */
export function datasetBatches(ds: Dataset, batchSize = 64): EpisodeBatch[] {
  const out: EpisodeBatch[] = [];
  for (let s = 0; s < ds.E; s += batchSize) out.push(toBatch(ds, Array.from({ length: Math.min(batchSize, ds.E - s) }, (_, i) => s + i)));
  return out;
}
