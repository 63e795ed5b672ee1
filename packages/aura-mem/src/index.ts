/**
 * aura-mem: action-gated, constant-size fast-weight memory for robot policies.
 * AURA (Action-Utility Recurrent Adaptive Memory), arXiv 2606.02775 — our reconstruction, see docs/method.md.
 */
export { MemoryConfig, type MemoryConfigInit, type ActionKind } from "./config.js";
export { AuraMemLayer, STATE_LIMIT, type LayerForwardOutput, type LayerStepOutput, type LayerOptions } from "./layer.js";
export { AuraError, ShapeError, NonFiniteError, ConfigError, FormatError, PersistenceError, type PersistenceFault } from "./errors.js";
export { SequenceModel, ARMS, isArm, coreOf, type ArmName, type ArmSpec, type MemoryState, type ForwardResult, type ForwardOptions } from "./model/model.js";
export { armSpec, createArm, paramCountOf, type ArmOptions } from "./model/arms.js";
export { scheduleGate, scheduleBatch } from "./model/schedule.js";
export { createOps, naiveOps, wasmOps, type Ops, type Backend } from "./ops/index.js";
export { train, trainOptions, DEFAULT_TRAIN, TrainingDivergedError, type TrainOptions, type TrainResult, type TrainSource } from "./train/train.js";
export { StepType, allocBatch, type EpisodeBatch, type StepTypeCode } from "./train/batch.js";
export { evaluate, type EvalResult } from "./train/evaluate.js";
export { datasetSource, datasetBatches } from "./train/dataset_source.js";
export * from "./io/index.js";
export { Rng } from "./util/rng.js";
export { loadKernels, instantiateKernels, simdSupported, type WasmKernels } from "./wasm/runtime.js";
export { createStepEngine, type StepEngine, type StepEngineOptions } from "./deploy/step_engine.js";
export { exportOnnx, writeOnnx, decodeOnnx, ONNX_OPSET, ONNX_OPS_USED } from "./deploy/onnx_export.js";
export { auraWeights, type AuraWeights, type AuraDims } from "./deploy/weights.js";
export * from "./persist/index.js";
