/**
 * Edge runtime: crash-safe, flash-friendly persistence of the memory state, flash-wear accounting and
 * the crash harness (docs/edge.md).
 */
export { crc32, crc32Of } from "./crc32.js";
export {
  MemoryStore,
  slotPaths,
  recordBytes,
  encodeRecord,
  paramsFingerprint,
  checkStateFor,
  RECORD_MAGIC,
  RECORD_VERSION,
  RECORD_HEADER_BYTES,
  RECORD_TRAILER_BYTES,
  DEFAULT_MAX_RECORD_BYTES,
  KIND_CODES,
  type MemoryStoreOptions,
  type OpenReport,
  type SlotReport,
  type SlotStatus,
  type StoreStats,
  type StoreStepOutput,
  type RecordHeader,
} from "./store.js";
export {
  wearProjection,
  wearTable,
  flashBytesPerWrite,
  kvPagesWritten,
  floorSum,
  formatBytes,
  formatHours,
  DEFAULT_AURA_WRITE_RATE,
  type WearOptions,
  type WearRow,
  type WearProjection,
} from "./wear.js";
export { runCrashBench, crashReport, writeCrashReport, crashLayer, crashObservation, stateChecksum, CRASH_LAYER, type CrashBenchOptions, type CrashBenchResult } from "./crash.js";
