// The single WebAssembly module of aura-mem: every kernel is exported from here.
// Each op lives in its own file beside a plain TypeScript reference under src/ops/<op>/.
export { heapBase } from "./common";
export * from "./dense";
export * from "./delta_rule";
export * from "./rnn";
export * from "./attention";
export * from "./activation";
export * from "./step";
export * from "./roofline";
