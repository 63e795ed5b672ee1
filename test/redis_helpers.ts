/**
 * Processes and Redis for the queue tests (test/queue.test.ts, test/sim_queue.test.ts): a redis-server set
 * up for a queue (AOF on, noeviction) on a free loopback port in its own temp folder, child processes with
 * their output collected, and a poll-until helper. `killAll()` (in after()) stops what is left.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { OptionalInput } from "./helpers.js";

export const REDIS: OptionalInput = {
  name: "redis-server",
  present: spawnSync("redis-server", ["--version"], { encoding: "utf8" }).status === 0,
  hint: "Debian's redis-server (apt-get install -y redis-server; .ci/run installs it when missing)",
};

/** The compiled CLI (npm run build): workers run their jobs from dist/. */
export const CLI = join(process.cwd(), "dist", "src", "cli", "main.js");

export const tmp = mkdtempSync(join(tmpdir(), "aura-queue-"));
const procs = new Set<ChildProcess>();

/** SIGKILL every process still running and remove the temp folder. */
export function killAll(): void {
  for (const p of procs) p.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A process of the test with its output collected. */
export interface Proc {
  p: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  procs.add(p);
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => {
    procs.delete(p);
    resolve(code);
  }));
  return { p, out: () => out, exited };
}

export const aura = (args: string[], env?: NodeJS.ProcessEnv): Proc => start(process.execPath, [CLI, ...args], env);

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 240_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A redis-server configured for a queue, in its own folder. */
export class RedisServer {
  proc: Proc | null = null;
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }
  async start(): Promise<void> {
    this.proc = start("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction", "--save", ""]);
    await waitFor("redis-server to accept connections", () => /Ready to accept connections/.test(this.proc!.out()), 30_000);
  }
  async stop(): Promise<void> {
    if (!this.proc) return;
    this.proc.p.kill("SIGTERM");
    await this.proc.exited;
    this.proc = null;
  }
}

export async function newRedis(name: string): Promise<RedisServer> {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = new RedisServer(dir, await freePort());
  await r.start();
  return r;
}

