/** GRU / LSTM dense recurrent baselines: interface, plain reference and WASM SIMD implementation. */
export type {
  RnnKind,
  RnnState,
  RnnInputs,
  RnnOutput,
  RnnGrads,
  RnnUpstream,
  RnnForwardOptions,
  RnnOp,
  RnnSaved,
} from "./types.js";
export { gateCount, savedStride } from "./types.js";
export { rnnNaive } from "./naive.js";
export { rnnWasm } from "./wasm.js";
