/**
 * Child process of the crash harness ({@link ./crash.ts}): `node crash_child.js <storePath> <seed> <sectorBytes>`,
 * forked with an IPC channel. Opens the store, resumes from what it recovers, then steps the harness layer
 * on the deterministic stream forever, persisting through the store (a record when the gate writes).
 * Messages to the parent: `{ type: "ready", seq, t, fresh }` after open, `{ type: "durable", seq, t }`
 * after each record's sync has returned, `{ type: "error", message }` on failure. Exits when the parent
 * disconnects, after 1e7 steps, or after 10 minutes; normally it is killed with SIGKILL.
 */
import { crashLayer, crashObservation, CRASH_LAYER } from "./crash.js";
import { MemoryStore } from "aura-mem/persist/store";

async function main(): Promise<void> {
  const send = (m: unknown): void => {
    if (process.send) process.send(m);
  };
  const [storePath, seedArg, sectorArg] = process.argv.slice(2);
  if (!storePath || seedArg === undefined || sectorArg === undefined) throw new Error("usage: crash_child <storePath> <seed> <sectorBytes>");
  const seed = Number(seedArg);
  const sectorBytes = Number(sectorArg);
  process.on("disconnect", () => process.exit(0));
  const layer = crashLayer(seed);
  const { store, report } = MemoryStore.open(storePath, layer, {
    sectorBytes,
    onDurable: (d) => send({ type: "durable", seq: d.seq, t: d.t }),
  });
  send({ type: "ready", seq: report.seq, t: report.t, fresh: report.fresh });
  const deadline = Date.now() + 600_000;
  for (let i = 0; i < 1e7 && Date.now() < deadline; i++) {
    store.step(crashObservation(seed, store.state.t, CRASH_LAYER.dModel));
    // let the IPC channel flush the durable reports
    await new Promise((res) => setImmediate(res));
  }
  store.close();
  process.exit(0);
}

main().catch((e: unknown) => {
  if (process.send) process.send({ type: "error", message: (e as Error)?.stack ?? String(e) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100);
});
