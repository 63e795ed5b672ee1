/** Causal softmax attention (kv-cache / kv-window baselines): interface, KV cache, TS reference, WASM SIMD kernels. */
export type {
  KvCache,
  AttentionInputs,
  AttentionForwardOptions,
  AttentionOutput,
  AttentionSaved,
  AttentionGrads,
  AttentionOp,
} from "./types.js";
export { emptyKvCache, kvCacheBytes, cloneKvCache, appendKvCache, checkAttentionInputs, checkKvCache } from "./types.js";
export { attentionNaive } from "./naive.js";
export { attentionWasm } from "./wasm.js";
