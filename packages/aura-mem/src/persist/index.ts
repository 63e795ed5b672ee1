/**
 * Persistence of the memory state on a device: the crash-safe, flash-friendly `MemoryStore`, its
 * CRC-32 and the flash-wear model (docs/edge.md). The crash harness that tests the store is
 * src/bench/crash.ts (`aura bench-crash`).
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
  RECORD_MIN_VERSION,
  RECORD_HEADER_BYTES,
  RECORD_TRAILER_BYTES,
  DEFAULT_MAX_RECORD_BYTES,
  KIND_CODES,
  type MemoryStoreOptions,
  type OpenReport,
  type SlotReport,
  type SlotStatus,
  type StoreStats,
  type StoreHealth,
  type StoreStepOutput,
  type RecordHeader,
} from "./store.js";
export { nodeStoreFs, type StoreFs, type StoreLockOptions } from "./io.js";
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
