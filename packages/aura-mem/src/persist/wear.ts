/**
 * Flash-wear accounting for persisting the memory state (docs/edge.md, "Wear model").
 *
 * A record of `r` bytes costs whole flash pages: `ceil(r / page) * page` bytes programmed, times the
 * write amplification WA of the file system + FTL. The flash can absorb `capacity * peCycles` bytes of
 * programming before its rated endurance is used up (ideal wear levelling over the whole capacity), so
 *
 *   flash bytes per write   f(r)  = WA * ceil(r / page) * page
 *   flash bytes per hour    F     = writes_per_step * rate_hz * 3600 * f(r)      (constant-size records)
 *   projected lifetime      L_h   = capacity * peCycles / F                      (hours)
 *
 * For a KV-cache persisted after every step the record grows: after step n it holds n entries,
 * r_n = 68 + n * (dKey + dVal) * 4 * B, so the flash written after N steps is WA * page * sum_{n=1..N}
 * ceil(r_n / page) — computed exactly (integer floor-sum, BigInt) — and the lifetime is the N at which
 * that sum reaches capacity * peCycles, converted to hours.
 *
 * Assumptions: ideal static + dynamic wear levelling (every block ages equally; a real FTL does worse),
 * no other writers on the device, WA = 1 by default (`fdatasync` on an in-place overwrite of a
 * preallocated file adds no file-system metadata; an FTL's garbage collection typically adds 1.1-4x
 * for small random writes — pass `writeAmplification`), one record per write (no batching), and a
 * record never spans fewer pages than its size needs (aligned at offset 0 of its slot file).
 */
import { ConfigError, checkInt, checkNum } from "../errors.js";
import { RECORD_HEADER_BYTES, RECORD_TRAILER_BYTES } from "./store.js";

/**
 * Default AURA write rate in writes per step: the trained gate on `ess-hard` in the quick bench
 * (15.3 writes per 128-step episode = 0.12, seeds 0-2). Measure yours: `aura wear --checkpoint`.
 */
export const DEFAULT_AURA_WRITE_RATE = 0.12;

/** Inputs of {@link wearProjection}. */
export interface WearOptions {
  /** Control rate in steps per second (Hz). */
  rateHz: number;
  /** Horizon of the projection in hours (for the "written over the horizon" columns). */
  hours: number;
  /** Flash capacity in bytes (default 8e9 = 8 GB). */
  capacityBytes?: number;
  /** Rated program/erase cycles per block (default 3000: MLC eMMC; TLC ~1000, SLC ~50,000-100,000). */
  peCycles?: number;
  /** Program granularity (flash page) in bytes (default 4096). */
  pageBytes?: number;
  /** Write amplification of file system + FTL, >= 1 (default 1). */
  writeAmplification?: number;
  /** AURA writes per step, in [0, 1] (default {@link DEFAULT_AURA_WRITE_RATE}). */
  writeRate?: number;
  /** State dims (default 32, 32, batch 1). */
  dKey?: number;
  dVal?: number;
  batch?: number;
}

/** One policy's projection. Bytes are flash bytes (page-rounded, times WA) unless named "record". */
export interface WearRow {
  policy: "aura" | "always-write" | "kv-cache";
  /** Records written per control step. */
  writesPerStep: number;
  /** Record bytes per write (kv-cache: at the end of the horizon). */
  recordBytes: number;
  /** Flash bytes per write, WA * ceil(record / page) * page (kv-cache: at the end of the horizon). */
  flashBytesPerWrite: number;
  /** Records per hour. */
  writesPerHour: number;
  /** Flash bytes per hour, averaged over the horizon. */
  flashBytesPerHour: number;
  /** Flash bytes written over the horizon. */
  flashBytesTotal: number;
  /** flashBytesTotal / capacity: full-device writes over the horizon. */
  deviceWrites: number;
  /** Projected hours until capacity * peCycles flash bytes have been programmed (Infinity: never). */
  lifetimeHours: number;
  /** kv-cache: hours after which one record no longer fits in the capacity (Infinity otherwise). */
  recordFitsHours: number;
}

/** The full projection: the resolved inputs and one row per policy. */
export interface WearProjection {
  inputs: Required<WearOptions>;
  /** capacity * peCycles: flash bytes the device is rated to absorb. */
  enduranceBytes: number;
  /** State bytes (fp32) and record bytes (state + 68 B framing) of the constant-size memory. */
  stateBytes: number;
  recordBytes: number;
  rows: WearRow[];
}

/** Flash bytes one write of `record` bytes programs: WA * ceil(record / page) * page. */
export function flashBytesPerWrite(record: number, pageBytes: number, writeAmplification = 1): number {
  return writeAmplification * Math.ceil(record / pageBytes) * pageBytes;
}

/**
 * sum_{i=0}^{n-1} floor((a*i + b) / m) for non-negative integers (m > 0), exact, O(log) steps
 * (the classic Euclid-like reduction).
 */
export function floorSum(n: bigint, m: bigint, a: bigint, b: bigint): bigint {
  let ans = 0n;
  for (;;) {
    if (a >= m) {
      ans += ((n * (n - 1n)) / 2n) * (a / m);
      a %= m;
    }
    if (b >= m) {
      ans += n * (b / m);
      b %= m;
    }
    const yMax = a * n + b;
    if (yMax < m) return ans;
    n = yMax / m;
    b = yMax % m;
    const t = m;
    m = a;
    a = t;
  }
}

/**
 * Pages programmed by persisting a growing KV cache after each of steps 1..N:
 * sum_{n=1..N} ceil((framing + n * entryBytes) / page).
 */
export function kvPagesWritten(N: number, entryBytes: number, pageBytes: number, framing = RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES): bigint {
  if (N <= 0) return 0n;
  const P = BigInt(pageBytes);
  // ceil((h + n e)/P) = floor((e*(n-1) + h + e + P - 1)/P), i = n - 1 in [0, N)
  return floorSum(BigInt(N), P, BigInt(entryBytes), BigInt(framing + entryBytes + pageBytes - 1));
}

function resolveOptions(o: WearOptions): Required<WearOptions> {
  if (o === null || typeof o !== "object") throw new ConfigError("wear options must be an object");
  const r: Required<WearOptions> = {
    rateHz: checkNum("rateHz", o.rateHz, 0, 1e6),
    hours: checkNum("hours", o.hours, 0, 1e9),
    capacityBytes: checkNum("capacityBytes", o.capacityBytes ?? 8e9, 1, 1e18),
    peCycles: checkNum("peCycles", o.peCycles ?? 3000, 1, 1e9),
    pageBytes: checkInt("pageBytes", o.pageBytes ?? 4096, 1, 2 ** 24),
    writeAmplification: checkNum("writeAmplification", o.writeAmplification ?? 1, 1, 1000),
    writeRate: checkNum("writeRate", o.writeRate ?? DEFAULT_AURA_WRITE_RATE, 0, 1),
    dKey: checkInt("dKey", o.dKey ?? 32, 1, 1 << 20),
    dVal: checkInt("dVal", o.dVal ?? 32, 1, 1 << 20),
    batch: checkInt("batch", o.batch ?? 1, 1, 1 << 20),
  };
  if (r.rateHz === 0) throw new ConfigError("rateHz must be > 0");
  return r;
}

/**
 * Project flash wear of persisting the memory for `aura` (a record each time the gate writes, at
 * `writeRate` writes per step), `always-write` (a record every step) and `kv-cache` (the whole cache
 * every step, growing by (dKey + dVal) * 4 * B bytes per step). Formula in the module comment.
 * @throws ConfigError on out-of-range inputs (rateHz > 0, writeRate in [0, 1], WA >= 1, ...).
 */
export function wearProjection(opts: WearOptions): WearProjection {
  const o = resolveOptions(opts);
  const E = o.capacityBytes * o.peCycles;
  const stepsPerHour = o.rateHz * 3600;
  const stateBytes = (o.dKey * o.dVal + o.dVal) * 4 * o.batch;
  const record = RECORD_HEADER_BYTES + stateBytes + RECORD_TRAILER_BYTES;
  const perWrite = flashBytesPerWrite(record, o.pageBytes, o.writeAmplification);
  const constRow = (policy: "aura" | "always-write", w: number): WearRow => {
    const writesPerHour = w * stepsPerHour;
    const perHour = writesPerHour * perWrite;
    return {
      policy,
      writesPerStep: w,
      recordBytes: record,
      flashBytesPerWrite: perWrite,
      writesPerHour,
      flashBytesPerHour: perHour,
      flashBytesTotal: perHour * o.hours,
      deviceWrites: (perHour * o.hours) / o.capacityBytes,
      lifetimeHours: perHour > 0 ? E / perHour : Infinity,
      recordFitsHours: record <= o.capacityBytes ? Infinity : 0,
    };
  };
  // kv-cache: integrate the growing record
  const entry = (o.dKey + o.dVal) * 4 * o.batch;
  const N = Math.floor(stepsPerHour * o.hours);
  const flashAfter = (n: number): number => Number(kvPagesWritten(n, entry, o.pageBytes)) * o.pageBytes * o.writeAmplification;
  const kvTotal = flashAfter(N);
  const kvRecordEnd = RECORD_HEADER_BYTES + N * entry + RECORD_TRAILER_BYTES;
  // lifetime: the smallest n with flashAfter(n) >= E (doubling, then bisection)
  let hi = 1;
  while (flashAfter(hi) < E && hi < 2 ** 52) hi *= 2;
  let lo = Math.floor(hi / 2);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (flashAfter(mid) >= E) hi = mid;
    else lo = mid;
  }
  const fitSteps = Math.floor((o.capacityBytes - RECORD_HEADER_BYTES - RECORD_TRAILER_BYTES) / entry);
  const kv: WearRow = {
    policy: "kv-cache",
    writesPerStep: 1,
    recordBytes: kvRecordEnd,
    flashBytesPerWrite: flashBytesPerWrite(kvRecordEnd, o.pageBytes, o.writeAmplification),
    writesPerHour: stepsPerHour,
    flashBytesPerHour: o.hours > 0 ? kvTotal / o.hours : 0,
    flashBytesTotal: kvTotal,
    deviceWrites: kvTotal / o.capacityBytes,
    lifetimeHours: hi / stepsPerHour,
    recordFitsHours: fitSteps / stepsPerHour,
  };
  return {
    inputs: o,
    enduranceBytes: E,
    stateBytes,
    recordBytes: record,
    rows: [constRow("aura", o.writeRate), constRow("always-write", 1), kv],
  };
}

/** Decimal bytes with a unit (B, kB, MB, GB, TB, PB, EB). */
export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return String(b);
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"];
  let i = 0;
  let v = b;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v).toLocaleString("en-US")} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** Hours as "h" with years in parentheses when long. */
export function formatHours(h: number): string {
  if (h === Infinity) return "never";
  if (h < 1) return `${(h * 60).toFixed(1)} min`;
  if (h < 10) return `${h.toFixed(1)} h`;
  const years = h / (24 * 365);
  const hs = h >= 1e6 ? h.toExponential(2) : Math.round(h).toLocaleString("en-US");
  return years >= 0.1 ? `${hs} h (${years.toFixed(1)} y)` : `${hs} h`;
}

/** The projection as a markdown table plus the assumption lines (what `aura wear` prints). */
export function wearTable(p: WearProjection): string {
  const o = p.inputs;
  const always = p.rows.find((r) => r.policy === "always-write")!;
  const head = [
    "policy",
    "writes/step",
    "record bytes",
    "flash bytes/write",
    "writes/h",
    "flash bytes/h",
    `written in ${o.hours.toLocaleString("en-US")} h`,
    "device writes",
    "projected lifetime",
    "vs always-write",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of p.rows) {
    const kv = r.policy === "kv-cache";
    const cells = [
      r.policy,
      r.writesPerStep.toFixed(3),
      kv ? `68 + ${(o.dKey + o.dVal) * 4 * o.batch} B/step, ${formatBytes(r.recordBytes)} at the end` : r.recordBytes.toLocaleString("en-US"),
      kv ? `up to ${formatBytes(r.flashBytesPerWrite)}` : r.flashBytesPerWrite.toLocaleString("en-US"),
      Math.round(r.writesPerHour).toLocaleString("en-US"),
      formatBytes(r.flashBytesPerHour) + (kv ? " (avg)" : ""),
      formatBytes(r.flashBytesTotal),
      r.deviceWrites >= 1e6 ? r.deviceWrites.toExponential(2) : r.deviceWrites.toLocaleString("en-US", { maximumFractionDigits: 2 }),
      formatHours(r.lifetimeHours),
      r.lifetimeHours === Infinity ? "-" : `${(r.lifetimeHours / always.lifetimeHours).toPrecision(3)}x`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const kv = p.rows.find((r) => r.policy === "kv-cache")!;
  const notes = [
    `control rate ${o.rateHz} Hz, horizon ${o.hours.toLocaleString("en-US")} h; memory dKey=${o.dKey} dVal=${o.dVal} B=${o.batch}: ` +
      `${p.stateBytes.toLocaleString("en-US")} B of state, ${p.recordBytes.toLocaleString("en-US")} B per record (64 B header + 4 B CRC)`,
    `flash ${formatBytes(o.capacityBytes)} x ${o.peCycles.toLocaleString("en-US")} P/E cycles = ${formatBytes(p.enduranceBytes)} endurance; ` +
      `page ${o.pageBytes} B; write amplification ${o.writeAmplification}; ideal wear levelling`,
    `lifetime_h = capacity * pe_cycles / (WA * ceil(record / page) * page * writes_per_step * rate * 3600); ` +
      `kv-cache: integrated over its growing record`,
    `aura write rate ${o.writeRate} writes/step` + (o.writeRate === DEFAULT_AURA_WRITE_RATE ? " (default: trained gate on ess-hard, quick bench)" : ""),
  ];
  if (kv.recordFitsHours < o.hours) notes.push(`kv-cache: one record outgrows the ${formatBytes(o.capacityBytes)} device after ${formatHours(kv.recordFitsHours)}`);
  return lines.join("\n") + "\n\n" + notes.map((n) => `- ${n}`).join("\n");
}
