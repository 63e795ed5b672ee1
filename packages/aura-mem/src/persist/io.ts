/**
 * The one I/O interface of {@link MemoryStore}: every file operation the store makes goes through a
 * {@link StoreFs}. The real one ({@link nodeStoreFs}) is node:fs plus an exclusive writer lock from
 * proper-lockfile; tests and `aura bench-crash --mode power` pass a simulated disk instead (a volatile
 * cache that a power cut drops or tears: src/bench/power.ts), or a wrapper that injects ENOSPC / EIO /
 * EROFS at chosen calls.
 *
 * Contract (what the store relies on, and what a simulated disk must model):
 * - `write` may return after fewer bytes than asked (the store loops); data written is visible to
 *   `read` at once but durable only after `fsync` / `fdatasync` of the same file returns;
 * - a file created by `open(path, "rw")` is durable (survives a power cut) only after `syncDir` of its
 *   directory returns;
 * - errors are thrown as Node system errors (an `Error` with a string `code` such as "ENOSPC", "EIO",
 *   "EROFS", "ENOENT"); the store turns those from writes and syncs into a {@link PersistenceError}.
 *   Anything thrown without a `code` propagates unchanged (the power-cut simulator's cut is one).
 */
import { closeSync, constants, fdatasyncSync, fstatSync, fsyncSync, openSync, readSync, writeSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import lockfile from "proper-lockfile";
import { PersistenceError } from "../errors.js";

/** File operations of the store (synchronous, like the store). */
export interface StoreFs {
  /**
   * Open a file: "r" read-only (never creates), "rw" read-write, created (mode 0644) when missing.
   * Must not block on special files (the node implementation passes O_NONBLOCK).
   * @returns a file descriptor.
   */
  open(path: string, mode: "r" | "rw"): number;
  close(fd: number): void;
  /** Size in bytes and whether the descriptor is a regular file. */
  stat(fd: number): { size: number; isFile: boolean };
  /** Read up to `length` bytes at `position` into `buf[offset..]`; returns the bytes read (0 at end of file). */
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Write up to `length` bytes of `buf[offset..]` at `position`; returns the bytes written. */
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Make the file's data and metadata durable. */
  fsync(fd: number): void;
  /** Make the file's data (and the size, when it changed) durable, skipping mtime-only metadata. */
  fdatasync(fd: number): void;
  exists(path: string): boolean;
  /**
   * Make the directory's entries durable (new files in it survive a power cut).
   * @returns false where the platform cannot sync a directory (e.g. Windows).
   */
  syncDir(dir: string): boolean;
  /**
   * Take the exclusive writer lock of the store at `path`; returns its release function.
   * @throws PersistenceError with code "ELOCKED" when another writer holds it.
   */
  lock(path: string, opts: StoreLockOptions): () => void;
}

/** Options of the writer lock. */
export interface StoreLockOptions {
  /**
   * A lock whose holder stopped refreshing it this long ago (ms) counts as abandoned and is taken over:
   * what frees the lock of a writer that died without releasing it (SIGKILL, power cut). >= 2000.
   */
  staleMs: number;
  /** Called (instead of throwing) if the lock is found compromised later (e.g. the event loop was blocked past staleMs). */
  onCompromised: (err: Error) => void;
}

/** O_NONBLOCK where the platform has it (no effect on regular files; a FIFO in a slot's place must not hang). */
const NONBLOCK = (constants as { O_NONBLOCK?: number }).O_NONBLOCK ?? 0;

/**
 * node:fs, and an exclusive writer lock (see {@link lockWriter}).
 */
export const nodeStoreFs: StoreFs = {
  open: (path, mode) => openSync(path, (mode === "r" ? constants.O_RDONLY : constants.O_RDWR | constants.O_CREAT) | NONBLOCK, 0o644),
  close: (fd) => closeSync(fd),
  stat: (fd) => {
    const st = fstatSync(fd);
    return { size: st.size, isFile: st.isFile() };
  },
  read: (fd, buf, offset, length, position) => readSync(fd, buf, offset, length, position),
  write: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  fsync: (fd) => fsyncSync(fd),
  fdatasync: (fd) => fdatasyncSync(fd),
  exists: (path) => existsSync(path),
  syncDir: (dir) => {
    let fd: number | null = null;
    try {
      fd = openSync(dir, constants.O_RDONLY);
      fsyncSync(fd);
      return true;
    } catch {
      return false; // platforms that cannot open / sync a directory: nothing more we can do
    } finally {
      if (fd !== null) closeSync(fd);
    }
  },
  lock: (path, opts) => lockWriter(path, opts),
};

/** This boot's id (Linux), so that a pid recorded before a reboot is never taken for a live process. */
function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

interface LockOwner {
  pid: number;
  host: string;
  boot: string;
  /** Inode of the lock directory this record belongs to (a new lock is a new directory). */
  ino: number;
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(file, "utf8")) as LockOwner;
    return typeof o.pid === "number" && typeof o.ino === "number" ? o : null;
  } catch {
    return null;
  }
}

/**
 * The store's exclusive writer lock: proper-lockfile's atomic `mkdir` of `<path>.lock`, whose mtime the
 * holder refreshes every staleMs / 2 (a timer that does not keep the process alive), removed on close and
 * on a normal exit or signal. Beside it `<path>.lock.owner` records the holder (pid, host, boot id, the lock
 * directory's inode), so that a lock left by a holder that died without releasing it (SIGKILL, crash) is
 * taken over at once when the holder is known dead (same host and boot, pid gone, same lock directory);
 * otherwise (another host, a reboot without a boot id) it is taken over once it is `staleMs` old.
 * A takeover renames the dead lock away before re-locking, so that two processes taking over at once
 * cannot both succeed.
 * @throws PersistenceError (code "ELOCKED") when a live writer holds the store.
 */
export function lockWriter(path: string, opts: StoreLockOptions): () => void {
  const dir = `${path}.lock`;
  const ownerFile = `${path}.lock.owner`;
  const lockOpts = { realpath: false, stale: opts.staleMs, onCompromised: opts.onCompromised };
  const locked = () =>
    new PersistenceError(
      `memory store ${path} is open for writing by another live process or store (lock ${dir}); one writer at a time ` +
        `(MemoryStore.read works alongside)`,
      { code: "ELOCKED", op: "lock", path },
    );
  const acquire = (): (() => void) => {
    const release = lockfile.lockSync(path, lockOpts);
    try {
      const me: LockOwner = { pid: process.pid, host: hostname(), boot: bootId(), ino: statSync(dir).ino };
      writeFileSync(ownerFile, JSON.stringify(me));
    } catch {
      // the owner record only speeds up a later takeover; the lock itself is held
    }
    return () => {
      const o = readOwner(ownerFile);
      if (o && o.pid === process.pid) rmSync(ownerFile, { force: true });
      release();
    };
  };
  try {
    return acquire();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ELOCKED") throw e;
  }
  // held: take it over only from a holder known to be dead
  const o = readOwner(ownerFile);
  let ino = -1;
  try {
    ino = statSync(dir).ino;
  } catch {
    // released meanwhile: try once more below
  }
  const dead = o !== null && o.host === hostname() && o.boot !== "" && o.boot === bootId() && o.ino === ino && !processAlive(o.pid);
  if (ino !== -1 && !dead) throw locked();
  if (dead) {
    const grave = `${dir}.dead-${process.pid}-${Date.now()}`;
    try {
      renameSync(dir, grave); // atomic: of two processes taking over, one renames, the other finds nothing
    } catch {
      throw locked();
    }
    if (statSync(grave).ino !== o!.ino) {
      // someone else re-locked between our checks: put their lock back
      try {
        renameSync(grave, dir);
      } catch {
        // they will find their lock compromised
      }
      throw locked();
    }
    rmSync(grave, { recursive: true, force: true });
  }
  try {
    return acquire();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOCKED") throw locked();
    throw e;
  }
}
