/**
 * Crash harness for {@link MemoryStore} (`aura bench-crash`, `npm run bench:crash`).
 *
 * A child process ({@link ./crash_child.ts}) opens the store, resumes from whatever it recovers, and
 * steps a small AURA layer on a deterministic observation stream, persisting through the store (a
 * record each time the gate writes). After each write's sync returns it reports `{ seq, t }` to the
 * parent over IPC. The parent kills it with SIGKILL at a random (seeded) moment, then opens the store
 * read-only and checks:
 *
 *  1. a valid record is found whenever the child reported at least one completed write;
 *  2. it is no older than the last write the child reported as completed (`seq >= lastDurableSeq`);
 *  3. its state is bit-identical (CRC-32 of M and m, plus t) to the state an uninterrupted reference
 *     run has at the record's step t (recomputed by the parent with the same layer);
 *
 * and counts torn slots. The next child resumes from that record, so every kill also tests resume.
 * Kills alternate between whole-record writes (one `write` + one sync, the default store) and
 * sector-emulation mode (`sectorBytes` = 512: a write + sync per 512-byte sector), in which a kill can
 * land inside a record and leave it torn, as a power cut would.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuraMemLayer } from "aura-mem/layer";
import type { MemoryState } from "aura-mem/model/model";
import { ConfigError, checkInt, checkNum } from "aura-mem/errors";
import { Rng } from "aura-mem/util/rng";
import { crc32Of } from "aura-mem/persist/crc32";
import { MemoryStore } from "aura-mem/persist/store";

/** Layer of the crash harness: dKey = dVal = 32 (the real 4,224-byte state), small dModel, TS ops. */
export const CRASH_LAYER = { dModel: 32, dAction: 4, dKey: 32, dVal: 32, gateBiasInit: 0 } as const;

/**
 * The harness's layer. gateBiasInit 0 makes the untrained gate write on roughly half the steps, so
 * both paths (write / no write) are exercised. TS reference ops: bit-identical in parent and child.
 */
export function crashLayer(seed: number): AuraMemLayer {
  return new AuraMemLayer({ ...CRASH_LAYER, seed }, { backend: "ts" });
}

/**
 * Observation z_t of the deterministic stream `seed`: N(0, 1) features [dModel], a pure function of
 * (seed, t), so that a resumed child continues exactly where the reference is.
 */
export function crashObservation(seed: number, t: number, dModel: number = CRASH_LAYER.dModel): Float32Array {
  return new Rng((seed ^ Math.imul(t >>> 0, 0x9e3779b1) ^ Math.imul(Math.floor(t / 2 ** 32), 0x85ebca6b)) >>> 0).normals(dModel);
}

/** CRC-32 of a fast-weight state's M and m bytes. */
export function stateChecksum(s: MemoryState): number {
  if (s.kind !== "fast-weights") throw new ConfigError(`crash harness checks fast-weight states, got ${s.kind}`);
  return crc32Of(s.m, crc32Of(s.M));
}

/** Options of {@link runCrashBench}. */
export interface CrashBenchOptions {
  /** SIGKILLs to deliver (default 1000). */
  kills?: number;
  /** Seed of the kill times, the layer and the observation stream (default 0). */
  seed?: number;
  /** Kill delay after the child reports ready, uniform in [minDelayMs, maxDelayMs] (default 1-100 ms). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Directory for the stores, `<dir>/lane<k>/memory.{a,b}`, emptied first (default: a fresh temporary directory, removed afterwards). */
  dir?: string;
  /** Sector size of the sector-emulation kills (default 512; 0 = all kills use whole-record writes). */
  sectorBytes?: number;
  /** Independent lanes run concurrently, each with its own store and child (default 2). */
  jobs?: number;
  /** Path of the child script (default: crash_child.js beside this module, else crash_child.ts via tsx). */
  childPath?: string;
  /** Progress callback after each kill. */
  onKill?: (i: number, r: CrashBenchResult) => void;
}

/** Figures of a crash run. */
export interface CrashBenchResult {
  kills: number;
  /** Checks after which a valid, up-to-date, correct state was recovered. */
  recoveries: number;
  /** Checks where no write had completed yet and the store was (correctly) fresh. */
  freshStarts: number;
  /** Kills at which the recovered record was newer than the last reported write (killed after sync, before the report). */
  unreportedDurable: number;
  /** Torn slots seen on recovery (interrupted writes, detected and skipped). */
  tornSlots: number;
  /** Invalid (torn or corrupt) slots seen on recovery. */
  invalidSlots: number;
  /** Kills in sector-emulation mode. */
  sectorKills: number;
  /** Recoveries that lost data: no valid record, older than the last completed write, or a wrong state. Must be 0. */
  losses: number;
  /** First few loss descriptions. */
  lossDetails: string[];
  /** Records the children reported durable. */
  durableWrites: number;
  /** Highest step t recovered in any lane. */
  maxT: number;
  /** Steps covered: sum over lanes of the highest recovered t. */
  stepsCovered: number;
  /** Records per step over the covered steps (the gate's write rate, as persisted). */
  writeRate: number;
  /** Wall time in seconds. */
  wallSeconds: number;
}

type ChildMsg = { type: "ready"; seq: number; t: number; fresh: boolean } | { type: "durable"; seq: number; t: number } | { type: "error"; message: string };

/** Locate the child script: compiled JS beside this module, else the TS source run through tsx. */
function childScript(explicit?: string): { path: string; execArgv: string[] } {
  if (explicit) return { path: explicit, execArgv: explicit.endsWith(".ts") ? ["--import", "tsx"] : [] };
  const js = fileURLToPath(new URL("./crash_child.js", import.meta.url));
  if (existsSync(js)) return { path: js, execArgv: [] };
  const ts = fileURLToPath(new URL("./crash_child.ts", import.meta.url));
  return { path: ts, execArgv: ["--import", "tsx"] };
}

/**
 * Run the crash harness: `kills` SIGKILLs of a child persisting through a {@link MemoryStore}, with a
 * recovery check after each (module comment), spread over `jobs` independent lanes (one store and one
 * child at a time per lane). Resolves with the figures; `losses` must be 0.
 * @throws ConfigError on bad options; Error when a child fails to start or reports an error.
 */
export async function runCrashBench(opts: CrashBenchOptions = {}): Promise<CrashBenchResult> {
  const kills = checkInt("kills", opts.kills ?? 1000, 1, 1e7);
  const seed = checkInt("seed", opts.seed ?? 0, 0, 0xffffffff);
  const minDelay = checkNum("minDelayMs", opts.minDelayMs ?? 1, 0, 60_000);
  const maxDelay = checkNum("maxDelayMs", opts.maxDelayMs ?? 100, minDelay, 60_000);
  const sectorBytes = checkInt("sectorBytes", opts.sectorBytes ?? 512, 0, 1 << 20);
  const jobs = checkInt("jobs", opts.jobs ?? 2, 1, 64);
  const child = childScript(opts.childPath);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "aura-crash-"));
  const layer = crashLayer(seed);
  // reference run (shared by the lanes: same layer, same stream): checksum of the state at every t
  const ref: number[] = [];
  let refState = layer.initState(1);
  ref.push(stateChecksum(refState));
  const refAt = (t: number): number => {
    while (ref.length <= t) {
      refState = layer.step(crashObservation(seed, refState.t), refState).state;
      ref.push(stateChecksum(refState));
    }
    return ref[t]!;
  };

  const r: CrashBenchResult = {
    kills: 0,
    recoveries: 0,
    freshStarts: 0,
    unreportedDurable: 0,
    tornSlots: 0,
    invalidSlots: 0,
    sectorKills: 0,
    losses: 0,
    lossDetails: [],
    durableWrites: 0,
    maxT: 0,
    stepsCovered: 0,
    writeRate: 0,
    wallSeconds: 0,
  };
  const started = Date.now();
  const loss = (msg: string): void => {
    r.losses++;
    if (r.lossDetails.length < 10) r.lossDetails.push(msg);
  };
  let next = 0; // next kill index to hand out
  let failed = false; // a lane threw: the others stop at their next kill
  let stepsCovered = 0;
  let recordsCovered = 0;

  const lane = async (k: number): Promise<void> => {
    const laneDir = join(dir, `lane${k}`);
    rmSync(laneDir, { recursive: true, force: true }); // every lane starts from an empty store
    mkdirSync(laneDir, { recursive: true });
    const storePath = join(laneDir, "memory");
    const rng = new Rng((seed ^ 0x5eed) + k * 7919);
    let lastSeq = 0; // highest seq a child of this lane reported durable
    let lastT = 0;
    let verifiedSeq = 0; // seq of the record recovered at the lane's last check
    let laneT = 0;
    for (;;) {
      const i = next++;
      if (i >= kills || failed) break;
      const sector = sectorBytes > 0 && i % 2 === 1 ? sectorBytes : 0;
      if (sector > 0) r.sectorKills++;
      const delay = minDelay + rng.uniform() * (maxDelay - minDelay);
      const cp = fork(child.path, [storePath, String(seed), String(sector)], { execArgv: child.execArgv, stdio: ["ignore", "ignore", "pipe", "ipc"] });
      let stderr = "";
      cp.stderr?.on("data", (d: Buffer) => {
        if (stderr.length < 4000) stderr += d.toString();
      });
      const ended = childEnded(cp);
      let ready: ChildMsg & { type: "ready" };
      try {
        ready = await new Promise<ChildMsg & { type: "ready" }>((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`crash child did not start within 60 s: ${stderr}`)), 60_000);
          cp.on("message", (m: ChildMsg) => {
            if (m.type === "ready") {
              clearTimeout(timer);
              res(m);
            } else if (m.type === "durable") {
              r.durableWrites++;
              if (m.seq > lastSeq) {
                lastSeq = m.seq;
                lastT = m.t;
              }
            } else if (m.type === "error") {
              clearTimeout(timer);
              rej(new Error(`crash child error: ${m.message}`));
            }
          });
          cp.once("exit", (code, sig) => {
            clearTimeout(timer);
            rej(new Error(`crash child exited before ready (code ${code}, signal ${sig}): ${stderr}`));
          });
        });
      } catch (e) {
        cp.kill("SIGKILL");
        await ended;
        throw e;
      }
      if (ready.seq !== verifiedSeq) loss(`kill ${i}: child recovered seq ${ready.seq}, the parent verified seq ${verifiedSeq}`);
      await sleep(delay);
      cp.kill("SIGKILL");
      await ended;
      r.kills++;
      // check the store as a fresh boot would see it
      const { state, report } = MemoryStore.read(storePath, layer);
      r.tornSlots += report.tornSlots;
      r.invalidSlots += report.invalidSlots;
      if (report.fresh) {
        if (lastSeq > 0) loss(`kill ${i}: no valid record after ${lastSeq} completed writes (${report.message})`);
        else r.freshStarts++;
      } else if (report.seq < lastSeq || report.t < lastT) {
        loss(`kill ${i}: recovered seq ${report.seq} (t ${report.t}) is older than the last completed write seq ${lastSeq} (t ${lastT})`);
      } else if (stateChecksum(state) !== refAt(report.t)) {
        loss(`kill ${i}: recovered state at t ${report.t} (seq ${report.seq}) differs from the reference`);
      } else {
        r.recoveries++;
        if (report.seq > lastSeq) r.unreportedDurable++;
      }
      verifiedSeq = report.seq;
      // a durable but unreported write still counts as completed for the next check
      if (!report.fresh && report.seq > lastSeq) {
        lastSeq = report.seq;
        lastT = report.t;
      }
      laneT = Math.max(laneT, report.t);
      r.maxT = Math.max(r.maxT, report.t);
      opts.onKill?.(r.kills - 1, r);
    }
    stepsCovered += laneT;
    recordsCovered += lastSeq;
  };

  try {
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(jobs, kills) }, (_, k) =>
        lane(k).catch((e: unknown) => {
          failed = true;
          throw e;
        }),
      ),
    );
    for (const s of settled) if (s.status === "rejected") throw s.reason;
  } finally {
    r.wallSeconds = (Date.now() - started) / 1000;
    r.stepsCovered = stepsCovered;
    r.writeRate = stepsCovered > 0 ? recordsCovered / stepsCovered : 0;
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
  return r;
}

function childEnded(cp: ChildProcess): Promise<void> {
  // both the process exit and the IPC channel's end, so that every message sent before the kill is read
  const exit = new Promise<void>((res) => cp.once("exit", () => res()));
  const disc = new Promise<void>((res) => (cp.connected ? cp.once("disconnect", () => res()) : res()));
  return Promise.all([exit, disc]).then(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** The figures as markdown lines. */
export function crashReport(r: CrashBenchResult, opts: { seed: number; sectorBytes: number; jobs: number }): string {
  const rows: [string, string][] = [
    ["SIGKILLs", r.kills.toLocaleString("en-US")],
    ["recoveries (valid, up to date, bit-exact vs reference)", r.recoveries.toLocaleString("en-US")],
    ["fresh starts before the first completed write (correct)", r.freshStarts.toLocaleString("en-US")],
    ["losses (no record / older than last completed write / wrong state)", String(r.losses)],
    ["kills in sector-emulation mode (write + fsync per " + opts.sectorBytes + " B)", r.sectorKills.toLocaleString("en-US")],
    ["torn slots seen and skipped (per check)", r.tornSlots.toLocaleString("en-US")],
    ["invalid slots seen (torn + corrupt, per check)", r.invalidSlots.toLocaleString("en-US")],
    ["kills after a durable but not yet reported write", r.unreportedDurable.toLocaleString("en-US")],
    ["records written (reported durable)", r.durableWrites.toLocaleString("en-US")],
    ["steps covered (sum over lanes of the highest recovered t)", r.stepsCovered.toLocaleString("en-US")],
    ["records per step", r.writeRate.toFixed(3)],
    ["wall time", `${r.wallSeconds.toFixed(1)} s`],
  ];
  const lines = ["| figure | value |", "|---|---|", ...rows.map(([a, b]) => `| ${a} | ${b} |`)];
  if (r.lossDetails.length) lines.push("", "Losses:", ...r.lossDetails.map((d) => `- ${d}`));
  lines.push("", `seed ${opts.seed}, ${opts.jobs} lane(s), node ${process.version}, ${process.platform}`);
  return lines.join("\n");
}

/** Write the result as JSON (`.json`) or markdown (anything else). */
export function writeCrashReport(path: string, r: CrashBenchResult, opts: { seed: number; sectorBytes: number; jobs: number }): void {
  writeFileSync(path, path.endsWith(".json") ? JSON.stringify({ ...opts, ...r }, null, 2) + "\n" : crashReport(r, opts) + "\n");
}
