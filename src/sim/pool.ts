/**
 * A small job pool for `aura sim`: `submit(job)` returns a promise of its result; jobs run FIFO on
 * `workers` worker threads (or in this thread when workers = 0). Progress and warnings go to hooks.
 */
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createOps } from "../ops/index.js";
import { runSimJob, SimContext, type SimJob, type SimJobResult } from "./jobs.js";

export interface PoolHooks {
  onProgress?(job: SimJob, done: number, total: number): void;
  onWarn?(message: string): void;
}

interface Pending {
  id: number;
  job: SimJob;
  resolve(r: SimJobResult): void;
  reject(e: Error): void;
}

export class SimPool {
  private readonly queue: Pending[] = [];
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private readonly running = new Map<Worker, Pending>();
  private ctx: SimContext | null = null;
  private inProcessChain: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number, private readonly hooks: PoolHooks = {}) {
    if (size > 0) {
      const { url, execArgv } = workerEntry();
      for (let i = 0; i < size; i++) {
        const w = new Worker(url, { execArgv });
        w.on("message", (m: { type: string; id: number; done?: number; total?: number; result?: SimJobResult; message?: string; stack?: string }) => this.onMessage(w, m));
        w.on("error", (e) => this.failWorker(w, e));
        w.on("exit", (code) => {
          if (!this.closed && code !== 0) this.failWorker(w, new Error(`sim worker exited with code ${code}`));
        });
        this.workers.push(w);
        this.idle.push(w);
      }
    }
  }

  /** Queue a job; resolves with its result. */
  submit<R extends SimJobResult>(job: SimJob): Promise<R> {
    if (this.closed) return Promise.reject(new Error("pool is closed"));
    return new Promise<R>((resolve, reject) => {
      const p: Pending = { id: this.nextId++, job, resolve: resolve as (r: SimJobResult) => void, reject };
      if (this.size === 0) {
        this.inProcessChain = this.inProcessChain.then(async () => {
          this.ctx ??= new SimContext(createOps("auto", (m) => this.hooks.onWarn?.(m)));
          try {
            p.resolve(await runSimJob(job, this.ctx, (d, t) => this.hooks.onProgress?.(job, d, t)));
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

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const p = this.queue.shift()!;
      this.running.set(w, p);
      w.postMessage({ id: p.id, job: p.job });
    }
  }

  private onMessage(w: Worker, m: { type: string; id: number; done?: number; total?: number; result?: SimJobResult; message?: string; stack?: string }): void {
    const p = this.running.get(w);
    if (m.type === "warn") this.hooks.onWarn?.(m.message!);
    else if (m.type === "progress" && p) this.hooks.onProgress?.(p.job, m.done!, m.total!);
    else if ((m.type === "result" || m.type === "error") && p) {
      this.running.delete(w);
      this.idle.push(w);
      if (m.type === "result") p.resolve(m.result!);
      else p.reject(new Error(`${p.job.kind} job (${p.job.task}${"arm" in p.job ? ", " + p.job.arm : ""}) failed: ${m.message}\n${m.stack ?? ""}`));
      this.pump();
    }
  }

  private failWorker(w: Worker, e: Error): void {
    const p = this.running.get(w);
    this.running.delete(w);
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    p?.reject(e);
    if (this.workers.length === 0) for (const q of this.queue.splice(0)) q.reject(e);
  }

  /** Stop the workers (pending jobs are rejected). */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new Error("pool closed"));
    await Promise.all(this.workers.map((w) => w.terminate()));
    await this.inProcessChain.catch(() => undefined);
    if (this.ctx) await this.ctx.dispose();
  }
}

/**
 * The worker script: the compiled `worker.js` next to this module (dist/), or, when this module runs
 * from TypeScript source (tests under tsx), `worker.ts` loaded through tsx.
 */
function workerEntry(): { url: URL; execArgv: string[] } {
  const js = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: [] };
  const ts = new URL("./worker.ts", import.meta.url);
  if (existsSync(fileURLToPath(ts))) {
    // a worker does not inherit the parent's tsx loader: register it, then load the TS entry
    const tsx = import.meta.resolve("tsx/esm/api");
    const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(ts.href)});`;
    return { url: new URL(`data:text/javascript,${encodeURIComponent(code)}`), execArgv: [] };
  }
  throw new Error("sim worker script not found: run `npm run build` (or use --workers 0)");
}
