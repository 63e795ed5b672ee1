/**
 * The one worker-thread pool of the project (benchmark jobs, sim jobs, data-parallel gradient shards).
 *
 * Main thread: `new WorkerPool(entry, size, hooks)` starts `size` workers of one entry module; `submit(job)`
 * queues a job FIFO for the next idle worker, `submitTo(i, job)` sends it to worker i (data-parallel:
 * each worker owns a shared gradient buffer); both return a promise of the result. `ready()` waits
 * until every worker has finished its start-up. With `size = 0` jobs run in this thread, one after
 * another, through `hooks.inProcess`.
 *
 * Worker thread: the entry module calls {@link serveJobs} with its handler; it answers each job with
 * a result or an error and may post progress and warnings in between.
 *
 * Entry resolution (one way for every pool): the compiled `<name>.js` next to the calling module
 * (dist/), or, when the module runs from TypeScript source under tsx (the tests), `<name>.ts` loaded
 * after registering tsx's loader in the worker, because a worker thread does not inherit
 * `--import tsx` in Node 20.
 */
import { Worker, parentPort, type TransferListItem } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";

/** Where a pool's worker script lives: the calling module's `import.meta.url` and the entry's base name. */
export interface WorkerEntry {
  /** `import.meta.url` of a module next to the entry. */
  near: string;
  /** Base name of the entry module (without .js / .ts). */
  name: string;
  /** Passed to the worker as `workerData`. */
  workerData?: unknown;
}

/** Start one worker of `entry`: compiled `.js` if present, else the `.ts` source through tsx. */
export function spawnWorker(entry: WorkerEntry): Worker {
  const js = new URL(`./${entry.name}.js`, entry.near);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData: entry.workerData });
  const ts = new URL(`./${entry.name}.ts`, entry.near);
  if (existsSync(fileURLToPath(ts))) {
    let api: string;
    try {
      api = import.meta.resolve("tsx/esm/api");
    } catch {
      throw new ConfigError(`worker ${entry.name} needs the compiled package (npm run build) or tsx to run from source`);
    }
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); })`;
    return new Worker(boot, { eval: true, workerData: entry.workerData });
  }
  throw new ConfigError(`worker entry ${entry.name}.js not found next to ${entry.near}: run \`npm run build\``);
}

/** main -> worker. */
export interface JobMessage<J> {
  id: number;
  job: J;
}

/** worker -> main. */
export type WorkerReply<R, P> =
  | { type: "ready" }
  | { type: "result"; id: number; result: R }
  | { type: "error"; id: number; message: string; stack?: string }
  | { type: "progress"; id: number; progress: P }
  | { type: "warn"; message: string };

/** Callbacks of a pool. */
export interface PoolHooks<J, R, P> {
  /** A job was handed to a worker (or started in this thread). */
  onStart?(job: J): void;
  onProgress?(job: J, progress: P): void;
  onWarn?(message: string): void;
  /** Error message of a failed job (default: the worker's message). */
  describeError?(job: J, message: string): string;
  /** Runner of `size = 0` pools: the job in this thread. */
  inProcess?(job: J, progress: (p: P) => void): Promise<R> | R;
  /** Called by close() after the workers stopped (e.g. to free the in-process context). */
  onClose?(): Promise<void> | void;
}

interface Pending<J, R> {
  id: number;
  job: J;
  transfer?: readonly TransferListItem[];
  resolve(r: R): void;
  reject(e: Error): void;
}

/** A pool of worker threads running jobs `J` to results `R`, with progress reports `P`. */
export class WorkerPool<J, R, P = unknown> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Pending<J, R>[] = [];
  private readonly running = new Map<Worker, Pending<J, R>>();
  private readonly directed = new Map<Worker, Pending<J, R>[]>();
  private readonly started: Promise<void>;
  private inProcessChain: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;
  private broken: Error | null = null;

  constructor(
    entry: WorkerEntry,
    readonly size: number,
    private readonly hooks: PoolHooks<J, R, P> = {},
  ) {
    if (!Number.isInteger(size) || size < 0) throw new ConfigError(`workers must be a non-negative integer, got ${size}`);
    if (size === 0 && !hooks.inProcess) throw new ConfigError("a pool with 0 workers needs an in-process runner");
    const ready: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      const w = spawnWorker(entry);
      this.workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: WorkerReply<R, P>): void => {
            if (m.type === "ready") {
              w.off("message", onMsg);
              w.off("error", reject);
              w.on("message", (r: WorkerReply<R, P>) => this.onMessage(w, r));
              w.on("error", (e) => this.failWorker(w, e));
              this.idle.push(w);
              this.pump();
              resolve();
            } else if (m.type === "error") reject(new Error(`${entry.name} worker failed to start: ${m.message}`));
          };
          w.on("message", onMsg);
          w.once("error", reject);
        }),
      );
      w.on("exit", (code) => {
        if (!this.closed) this.failWorker(w, new Error(`${entry.name} worker exited with code ${code}`));
      });
    }
    this.started = Promise.all(ready).then(() => undefined);
    // a start-up failure rejects ready() and every job; it must not go unhandled
    this.started.catch((e: Error) => {
      this.broken = e;
      for (const p of this.queue.splice(0)) p.reject(e);
    });
  }

  /** Resolves when every worker has started (rejects if one failed to). */
  ready(): Promise<void> {
    return this.started;
  }

  /** Queue a job for the next idle worker (FIFO). */
  submit(job: J): Promise<R> {
    if (this.closed) return Promise.reject(new Error("pool is closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<R>((resolve, reject) => {
      const p: Pending<J, R> = { id: this.nextId++, job, resolve, reject };
      if (this.size === 0) {
        this.inProcessChain = this.inProcessChain.then(async () => {
          this.hooks.onStart?.(job);
          try {
            p.resolve(await this.hooks.inProcess!(job, (pr) => this.hooks.onProgress?.(job, pr)));
          } catch (e) {
            p.reject(e as Error);
          }
        });
        return;
      }
      this.queue.push(p);
      this.pump();
    });
  }

  /** Send a job to worker `index` (queued behind that worker's current job); `transfer` is moved, not copied. */
  submitTo(index: number, job: J, transfer?: readonly TransferListItem[]): Promise<R> {
    const w = this.workers[index];
    if (!w) return Promise.reject(new ConfigError(`no worker ${index} in a pool of ${this.workers.length}`));
    if (this.closed) return Promise.reject(new Error("pool is closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<R>((resolve, reject) => {
      const list = this.directed.get(w) ?? [];
      list.push({ id: this.nextId++, job, transfer, resolve, reject });
      this.directed.set(w, list);
      this.pump();
    });
  }

  private dispatch(w: Worker, p: Pending<J, R>): void {
    this.running.set(w, p);
    this.hooks.onStart?.(p.job);
    const msg: JobMessage<J> = { id: p.id, job: p.job };
    w.postMessage(msg, p.transfer);
  }

  private pump(): void {
    for (let i = 0; i < this.idle.length; ) {
      const w = this.idle[i]!;
      const own = this.directed.get(w);
      const p = own?.length ? own.shift()! : this.queue.shift();
      if (!p) {
        i++;
        continue;
      }
      this.idle.splice(i, 1);
      this.dispatch(w, p);
    }
  }

  private onMessage(w: Worker, m: WorkerReply<R, P>): void {
    if (m.type === "warn") {
      this.hooks.onWarn?.(m.message);
      return;
    }
    if (m.type === "ready") return;
    const p = this.running.get(w);
    if (!p || p.id !== m.id) return;
    if (m.type === "progress") this.hooks.onProgress?.(p.job, m.progress);
    else {
      this.running.delete(w);
      this.idle.push(w);
      if (m.type === "result") p.resolve(m.result);
      else {
        const text = `${m.message}\n${m.stack ?? ""}`;
        p.reject(new Error(this.hooks.describeError ? this.hooks.describeError(p.job, text) : text));
      }
      this.pump();
    }
  }

  private failWorker(w: Worker, e: Error): void {
    const p = this.running.get(w);
    this.running.delete(w);
    p?.reject(e);
    for (const q of this.directed.get(w)?.splice(0) ?? []) q.reject(e);
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    const j = this.idle.indexOf(w);
    if (j >= 0) this.idle.splice(j, 1);
    if (this.workers.length === 0) {
      this.broken = e;
      for (const q of this.queue.splice(0)) q.reject(e);
    }
  }

  /** Stop the workers; queued and running jobs are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const e = new Error("pool closed");
    for (const q of this.queue.splice(0)) q.reject(e);
    for (const list of this.directed.values()) for (const q of list.splice(0)) q.reject(e);
    for (const p of this.running.values()) p.reject(e);
    this.running.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
    await this.inProcessChain.catch(() => undefined);
    await this.hooks.onClose?.();
  }
}

/** What a job handler may report while it runs. */
export interface JobContext<P> {
  progress(p: P): void;
  warn(message: string): void;
}

/**
 * Worker side: answer every job from the pool with `handler`'s result (or its error). Call once at
 * the top of a worker entry module, after any start-up work (a throw before it fails the pool's start).
 */
export function serveJobs<J, R, P = unknown>(handler: (job: J, ctx: JobContext<P>) => Promise<R> | R, transfer?: (r: R) => TransferListItem[]): void {
  const port = parentPort;
  if (!port) throw new Error("a pool worker must run in a worker thread");
  const post = (m: WorkerReply<R, P>, t?: TransferListItem[]): void => port.postMessage(m, t);
  port.on("message", (msg: JobMessage<J>) => {
    const ctx: JobContext<P> = {
      progress: (progress) => post({ type: "progress", id: msg.id, progress }),
      warn: (message) => post({ type: "warn", message }),
    };
    let out: Promise<R>;
    try {
      out = Promise.resolve(handler(msg.job, ctx));
    } catch (err) {
      out = Promise.reject(err as Error);
    }
    out.then(
      (result) => post({ type: "result", id: msg.id, result }, transfer?.(result)),
      (err: Error) => post({ type: "error", id: msg.id, message: `${err.name}: ${err.message}`, stack: err.stack }),
    );
  });
  post({ type: "ready" });
}
