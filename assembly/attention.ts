// Kernels for src/ops/attention (work in progress).
import { hdrU32 } from "./common";
export function attention_version(): u32 { return hdrU32(0, 0) * 0 + 1; }
