/**
 * Power-loss testing of {@link MemoryStore} (`aura bench-crash --mode power`).
 *
 * A SIGKILL (src/bench/crash.ts) leaves the kernel's page cache intact: it tests an interrupted process.
 * A robot that loses power also loses every write that was not yet synced, and the writes that do
 * survive may be torn at sector boundaries or land out of order. {@link SimulatedDisk} models that, in the
 * manner of SQLite's crash-test VFS and Jepsen's LazyFS:
 *
 * - a write is visible to reads at once (the cache) but durable only after `fsync` / `fdatasync` of
 *   that file returns; a file created since the last `syncDir` of its directory is not durable at all;
 * - at {@link SimulatedDisk.powerCut} every unsynced write is split into the sectors it touches
 *   (`sectorBytes`, 512 by default), and each (write, sector) piece independently persists whole,
 *   is lost, or is torn (a prefix of the new bytes then the old, or garbage bytes), applied in a random
 *   order (so a later write may persist while an earlier one is lost); the file's size persists as
 *   synced or grown to cover persisted pieces; an unsynced new file vanishes or survives with the
 *   pieces that persisted;
 * - descriptors opened before the cut are dead afterwards.
 *
 * {@link runPowerBench} drives a store on such a disk and cuts the power at seeded random points of the
 * write protocol (before, during or after a write, an fsync, a directory sync), reopens the store after
 * each cut and checks the rule the store promises: the recovered record is the newest one whose sync had
 * returned, bit for bit, or the one that was being written if it happened to persist whole; never a torn
 * record, never an older one. As a check that the harness can catch a broken store, it can also run with
 * a disk whose syncs lie (return without making anything durable): that must produce losses.
 *
 * {@link FaultyFs} wraps any {@link StoreFs} and throws chosen system errors (ENOSPC, EIO, EROFS, ...)
 * at chosen calls, for the fault tests.
 */
import { AuraMemLayer } from "aura-mem/layer";
import { checkInt } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import { MemoryStore } from "aura-mem/persist/store";
import type { StoreFs, StoreLockOptions } from "aura-mem/persist/io";
import { CRASH_LAYER, crashObservation, stateChecksum } from "./crash.js";

/** Thrown by the simulated disk at the cut point; carries no `code`, so the store does not absorb it. */
export class PowerCut extends Error {
  override name = "PowerCut";
  /** A cut during a write call: half of that call's bytes reached the cache first. */
  constructor(message: string, readonly midWrite = false) {
    super(message);
  }
}

interface SimFile {
  /** What the process sees (the cache). */
  data: Uint8Array;
  size: number;
  /** What survives a power cut. */
  durable: Uint8Array;
  durableSize: number;
  /** Whether the directory entry survives a power cut (created before the last syncDir). */
  durableEntry: boolean;
  /** Writes since the last sync of this file, in order. */
  pending: { offset: number; bytes: Uint8Array }[];
}

/** Options of {@link SimulatedDisk}. */
export interface SimulatedDiskOptions {
  /** Sector size in bytes (default 512): the unit a cut keeps, loses or tears. */
  sectorBytes?: number;
  /** A disk whose fsync / fdatasync / syncDir return without making anything durable (the negative control). */
  lyingSync?: boolean;
}

/** What one power cut did to the unsynced data. */
export interface CutEffect {
  /** (write, sector) pieces that persisted whole / were lost / were torn. */
  kept: number;
  lost: number;
  torn: number;
  /** Unsynced new files that vanished. */
  filesLost: number;
}

/**
 * An in-memory disk with a volatile write cache, implementing the store's {@link StoreFs} (see the
 * module comment). Single process; the writer lock is an in-memory flag that a power cut clears.
 */
export class SimulatedDisk implements StoreFs {
  private readonly files = new Map<string, SimFile>();
  private readonly fds = new Map<number, { path: string; writable: boolean }>();
  private readonly locks = new Set<string>();
  private nextFd = 3;
  private readonly sector: number;
  private readonly lying: boolean;
  /** Called before every write, fsync, fdatasync and syncDir (the cut points); may throw {@link PowerCut}. */
  beforeOp: ((op: "write" | "fsync" | "fdatasync" | "syncDir", path: string) => void) | null = null;
  /** Write and sync calls made so far. */
  ops = 0;

  constructor(opts: SimulatedDiskOptions = {}) {
    this.sector = checkInt("sectorBytes", opts.sectorBytes ?? 512, 1);
    this.lying = opts.lyingSync ?? false;
  }

  open(path: string, mode: "r" | "rw"): number {
    let f = this.files.get(path);
    if (!f) {
      if (mode === "r") throw errno("ENOENT", `no such file ${path}`);
      f = { data: new Uint8Array(0), size: 0, durable: new Uint8Array(0), durableSize: 0, durableEntry: false, pending: [] };
      this.files.set(path, f);
    }
    const fd = this.nextFd++;
    this.fds.set(fd, { path, writable: mode === "rw" });
    return fd;
  }

  close(fd: number): void {
    if (!this.fds.delete(fd)) throw errno("EBADF", `bad descriptor ${fd}`);
  }

  stat(fd: number): { size: number; isFile: boolean } {
    return { size: this.file(fd).size, isFile: true };
  }

  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd);
    const n = Math.max(0, Math.min(length, f.size - position));
    buf.set(f.data.subarray(position, position + n), offset);
    return n;
  }

  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd);
    if (!this.fds.get(fd)!.writable) throw errno("EBADF", "descriptor not open for writing");
    this.cutPoint("write", fd, () => {
      // a cut in the middle of the call: a prefix of it reached the cache
      const part = Math.floor(length / 2);
      if (part > 0) this.applyWrite(f, buf.slice(offset, offset + part), position);
    });
    this.applyWrite(f, buf.slice(offset, offset + length), position);
    return length;
  }

  fsync(fd: number): void {
    this.cutPoint("fsync", fd);
    this.sync(this.file(fd));
  }

  fdatasync(fd: number): void {
    this.cutPoint("fdatasync", fd);
    this.sync(this.file(fd));
  }

  exists(path: string): boolean {
    return this.files.has(path);
  }

  syncDir(dir: string): boolean {
    this.ops++;
    this.beforeOp?.("syncDir", dir);
    if (this.lying) return true;
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    for (const [p, f] of this.files) if (p.startsWith(prefix) && !p.slice(prefix.length).includes("/")) f.durableEntry = true;
    return true;
  }

  lock(path: string, _opts: StoreLockOptions): () => void {
    if (this.locks.has(path)) throw Object.assign(new Error(`simulated lock ${path} is held`), { code: "ELOCKED" });
    this.locks.add(path);
    return () => void this.locks.delete(path);
  }

  /** The bytes a power cut would leave in `path` now (for tests), or null if the file would not survive. */
  durableBytes(path: string): Uint8Array | null {
    const f = this.files.get(path);
    return f && f.durableEntry ? f.durable.slice(0, f.durableSize) : null;
  }

  /**
   * Cut the power: each unsynced (write, sector) piece persists, is lost or is torn, in a random order;
   * the cache becomes what persisted; every descriptor and lock is gone.
   */
  powerCut(rng: Rng): CutEffect {
    const eff: CutEffect = { kept: 0, lost: 0, torn: 0, filesLost: 0 };
    for (const [path, f] of [...this.files]) {
      if (!f.durableEntry && rng.uniform() < 0.5) {
        this.files.delete(path);
        eff.filesLost++;
        continue;
      }
      const img = new Uint8Array(Math.max(f.durableSize, f.size));
      img.set(f.durable.subarray(0, f.durableSize));
      let size = f.durableSize;
      const pieces: { offset: number; bytes: Uint8Array }[] = [];
      for (const w of f.pending) {
        for (let s = Math.floor(w.offset / this.sector) * this.sector; s < w.offset + w.bytes.length; s += this.sector) {
          const a = Math.max(s, w.offset);
          const b = Math.min(s + this.sector, w.offset + w.bytes.length);
          pieces.push({ offset: a, bytes: w.bytes.subarray(a - w.offset, b - w.offset) });
        }
      }
      for (let i = pieces.length - 1; i > 0; i--) {
        const j = Math.floor(rng.uniform() * (i + 1));
        [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
      }
      const growSize = rng.uniform() < 0.5;
      for (const p of pieces) {
        const u = rng.uniform();
        if (u < 0.4) {
          img.set(p.bytes, p.offset);
          eff.kept++;
        } else if (u < 0.7) {
          eff.lost++;
          continue;
        } else {
          // torn: a prefix of the new bytes, or the whole piece garbage (a sector caught mid-program)
          if (rng.uniform() < 0.5) img.set(p.bytes.subarray(0, Math.floor(rng.uniform() * p.bytes.length)), p.offset);
          else for (let k = 0; k < p.bytes.length; k++) img[p.offset + k] = Math.floor(rng.uniform() * 256);
          eff.torn++;
        }
        if (growSize) size = Math.max(size, p.offset + p.bytes.length);
      }
      f.data = img;
      f.size = size;
      f.durable = img.slice();
      f.durableSize = size;
      f.durableEntry = true;
      f.pending = [];
    }
    this.fds.clear();
    this.locks.clear();
    return eff;
  }

  private file(fd: number): SimFile {
    const d = this.fds.get(fd);
    if (!d) throw errno("EBADF", `bad descriptor ${fd}`);
    return this.files.get(d.path)!;
  }

  private cutPoint(op: "write" | "fsync" | "fdatasync", fd: number, partial?: () => void): void {
    this.ops++;
    if (!this.beforeOp) return;
    try {
      this.beforeOp(op, this.fds.get(fd)!.path);
    } catch (e) {
      if (e instanceof PowerCut && e.midWrite && partial) partial();
      throw e;
    }
  }

  private applyWrite(f: SimFile, bytes: Uint8Array, position: number): void {
    const end = position + bytes.length;
    if (end > f.data.length) {
      const grown = new Uint8Array(Math.max(end, f.data.length * 2));
      grown.set(f.data.subarray(0, f.size));
      f.data = grown;
    }
    f.data.set(bytes, position);
    f.size = Math.max(f.size, end);
    f.pending.push({ offset: position, bytes });
  }

  private sync(f: SimFile): void {
    if (this.lying) return;
    f.durable = f.data.slice(0, f.size);
    f.durableSize = f.size;
    f.pending = [];
  }
}

function errno(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Which calls a {@link FaultyFs} fails, and with which error code. */
export interface FaultPlan {
  /** The call to fail: "write", "fsync", "fdatasync" (or "sync" for either of the two). */
  op: "write" | "fsync" | "fdatasync" | "sync";
  /** The system error code to throw, e.g. "ENOSPC", "EIO", "EROFS". */
  code: string;
}

/**
 * A {@link StoreFs} that forwards to `inner` and fails the calls of `plan` while `plan` is set (set it to
 * null to let the disk recover). A failed write writes nothing; a failed sync makes nothing durable.
 */
export class FaultyFs implements StoreFs {
  plan: FaultPlan | null = null;
  /** Calls failed so far. */
  injected = 0;
  constructor(private readonly inner: StoreFs) {}
  open(path: string, mode: "r" | "rw"): number {
    return this.inner.open(path, mode);
  }
  close(fd: number): void {
    this.inner.close(fd);
  }
  stat(fd: number): { size: number; isFile: boolean } {
    return this.inner.stat(fd);
  }
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.inner.read(fd, buf, offset, length, position);
  }
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    this.maybeFail("write");
    return this.inner.write(fd, buf, offset, length, position);
  }
  fsync(fd: number): void {
    this.maybeFail("fsync");
    this.inner.fsync(fd);
  }
  fdatasync(fd: number): void {
    this.maybeFail("fdatasync");
    this.inner.fdatasync(fd);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  syncDir(dir: string): boolean {
    return this.inner.syncDir(dir);
  }
  lock(path: string, opts: StoreLockOptions): () => void {
    return this.inner.lock(path, opts);
  }
  private maybeFail(op: "write" | "fsync" | "fdatasync"): void {
    const p = this.plan;
    if (!p || !(p.op === op || (p.op === "sync" && op !== "write"))) return;
    this.injected++;
    throw errno(p.code, `injected ${p.code} at ${op}`);
  }
}

/** Options of {@link runPowerBench}. */
export interface PowerBenchOptions {
  /** Power cuts (default 10,000). */
  cuts?: number;
  /** Seed of the cut points, the cut effects and the observation stream (default 0). */
  seed?: number;
  /** Sector size of the simulated disk in bytes (default 512). */
  sectorBytes?: number;
  /** Most write / sync calls between two cuts (default 40): the cut point is uniform in [1, this]. */
  maxOpsPerCut?: number;
  /** The negative control: syncs that return without making anything durable (must show losses). */
  lyingSync?: boolean;
  /** Progress after each cut. */
  onCut?: (i: number, s: PowerBenchResult) => void;
}

/** What {@link runPowerBench} measured (`aura bench-crash --mode power --json` prints it). */
export interface PowerBenchResult {
  cuts: number;
  /** Reopens that recovered a record (as opposed to starting fresh). */
  recovered: number;
  /** Recoveries older than the newest synced record, or not bit-identical to a record written: must be 0. */
  losses: number;
  /** Torn slots skipped by the reopens (CRC or length), summed over reopens: records the cuts tore. */
  tornSkipped: number;
  /** Recoveries of the record being written at the cut, which persisted whole although its sync had not returned. */
  newerThanSynced: number;
  /** Reopens that started fresh while no record had been synced yet (allowed). */
  freshBeforeFirstSync: number;
  /** Gate writes whose sync returned, over all cuts. */
  syncedWrites: number;
  /** (write, sector) pieces the cuts kept, lost and tore; unsynced new files lost. */
  piecesKept: number;
  piecesLost: number;
  piecesTorn: number;
  filesLost: number;
  /** Steps run, over all cuts. */
  steps: number;
  seed: number;
  sectorBytes: number;
  lyingSync: boolean;
  /** First few losses, described. */
  lossExamples: string[];
}

/**
 * Run the power-cut harness (see the module comment): one store on one {@link SimulatedDisk}, a small
 * AURA layer (the crash harness's: dKey = dVal = 32, the real 4,292-byte record) stepping a
 * deterministic stream, `cuts` power cuts at seeded random write / sync calls, a reopen and a check
 * after each. Deterministic for a seed.
 * @throws ConfigError on bad options.
 */
export function runPowerBench(opts: PowerBenchOptions = {}): PowerBenchResult {
  const cuts = checkInt("cuts", opts.cuts ?? 10_000, 1);
  const seed = checkInt("seed", opts.seed ?? 0, 0, 0xffffffff);
  const sectorBytes = checkInt("sectorBytes", opts.sectorBytes ?? 512, 1);
  const maxOps = checkInt("maxOpsPerCut", opts.maxOpsPerCut ?? 40, 1);
  const lyingSync = opts.lyingSync ?? false;
  const rng = new Rng(seed ^ 0x5eed);
  const disk = new SimulatedDisk({ sectorBytes, lyingSync });
  const layer = new AuraMemLayer({ ...CRASH_LAYER, seed }, { backend: "auto" });
  const path = "/robot/aura/memory";
  const r: PowerBenchResult = {
    cuts: 0, recovered: 0, losses: 0, tornSkipped: 0, newerThanSynced: 0, freshBeforeFirstSync: 0, syncedWrites: 0,
    piecesKept: 0, piecesLost: 0, piecesTorn: 0, filesLost: 0, steps: 0, seed, sectorBytes, lyingSync, lossExamples: [],
  };
  // the newest record whose sync returned (seq and state checksum), over the whole run
  let synced: { seq: number; t: number; sum: number } | null = null;
  for (let c = 0; c < cuts; c++) {
    // the record being written (its seq and state checksum), set just before persist() when the gate fired
    let attempted: { seq: number; sum: number } | null = null;
    const onDurable = (i: { seq: number; t: number }) => {
      synced = { seq: i.seq, t: i.t, sum: attempted!.sum };
      r.syncedWrites++;
    };
    const { store } = MemoryStore.open(path, layer, { fs: disk, onDurable });
    // arm the cut: at a uniform write / sync call of the next maxOps; a write is cut before it reaches
    // the cache or after half of it did
    const at = disk.ops + 1 + Math.floor(rng.uniform() * maxOps);
    const half = rng.uniform() < 0.5;
    disk.beforeOp = (op) => {
      if (disk.ops === at) throw new PowerCut(`cut at ${op}`, op === "write" && half);
    };
    try {
      for (;;) {
        const next = layer.step(crashObservation(seed, store.state.t), store.state);
        // a record is written iff the gate fired: only then is its checksum needed (a cut inside the write reads it)
        attempted = next.g.includes(1) ? { seq: store.stats.seq + 1, sum: stateChecksum(next.state) } : null;
        store.persist(next.state, next.g);
        attempted = null;
        r.steps++;
      }
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
    }
    disk.beforeOp = null;
    const eff = disk.powerCut(rng);
    r.piecesKept += eff.kept;
    r.piecesLost += eff.lost;
    r.piecesTorn += eff.torn;
    r.filesLost += eff.filesLost;
    r.cuts++;
    // check what a reboot recovers
    const got = MemoryStore.read(path, layer, { fs: disk });
    r.tornSkipped += got.report.tornSlots;
    const want = synced as { seq: number; t: number; sum: number } | null;
    const loss = (why: string) => {
      r.losses++;
      if (r.lossExamples.length < 5) r.lossExamples.push(`cut ${c}: ${why}`);
    };
    if (got.report.fresh) {
      if (want === null) r.freshBeforeFirstSync++;
      else loss(`started fresh, but seq ${want.seq} (t = ${want.t}) had been synced`);
    } else {
      r.recovered++;
      const sum = stateChecksum(got.state);
      if (want && got.report.seq === want.seq) {
        if (sum !== want.sum) loss(`seq ${want.seq} recovered with other bytes`);
      } else if (attempted && got.report.seq === attempted.seq && (want === null || attempted.seq === want.seq + 1)) {
        if (sum !== attempted.sum) loss(`seq ${attempted.seq} (being written) recovered with other bytes`);
        else r.newerThanSynced++;
      } else loss(`recovered seq ${got.report.seq}, newest synced ${want?.seq ?? "none"}`);
    }
    // what the reboot continues from is what persisted: the newest durable record from here on
    synced = got.report.fresh ? null : { seq: got.report.seq, t: got.report.t, sum: stateChecksum(got.state) };
    opts.onCut?.(c, r);
  }
  return r;
}

/** The power bench's report as Markdown lines. */
export function powerReport(r: PowerBenchResult): string {
  const lines = [
    `# MemoryStore power-loss harness`,
    ``,
    `Simulated disk with a volatile cache (${r.sectorBytes}-byte sectors${r.lyingSync ? ", syncs that lie: the negative control" : ""}), seed ${r.seed}.`,
    ``,
    `| cuts | recovered | losses | torn slots skipped | recovered the unsynced record | fresh before the first sync | steps | pieces kept / lost / torn | new files lost |`,
    `|---|---|---|---|---|---|---|---|---|`,
    `| ${r.cuts} | ${r.recovered} | **${r.losses}** | ${r.tornSkipped} | ${r.newerThanSynced} | ${r.freshBeforeFirstSync} | ${r.steps} | ${r.piecesKept} / ${r.piecesLost} / ${r.piecesTorn} | ${r.filesLost} |`,
  ];
  if (r.lossExamples.length) lines.push("", "Losses:", ...r.lossExamples.map((x) => `- ${x}`));
  return lines.join("\n");
}
