/** File I/O: safetensors, checkpoints and user datasets. */
export {
  encodeSafetensors,
  decodeSafetensors,
  readSafetensors,
  writeSafetensors,
  writeFileAtomic,
  int64ToInt32,
  int64ToFloat64,
  dtypeSize,
  MAX_HEADER_BYTES,
  type DType,
  type TensorData,
  type TensorEntry,
  type SafetensorsContents,
} from "./safetensors.js";
export {
  saveCheckpoint,
  loadCheckpoint,
  checkpointPaths,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type Checkpoint,
  type CheckpointParam,
  type LoadedCheckpoint,
} from "./checkpoint.js";
export {
  loadDataset,
  saveDataset,
  validateDataset,
  splitDataset,
  selectEpisodes,
  datasetFromTensors,
  datasetToTensors,
  DATASET_FORMAT,
  type Dataset,
} from "./dataset.js";
