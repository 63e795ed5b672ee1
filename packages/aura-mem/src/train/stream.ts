/**
 * Carried-state training data: long non-resetting streams cut into windows for truncated BPTT.
 *
 * A robot runs one long episode; a memory trained only on short episodes that start from a zero state
 * never sees an aged state (docs/method.md, "Horizon"). The standard recipe for stateful recurrent
 * training (pytorch/examples word_language_model `repackage_hidden`; titans-pytorch `mem_state_detach`)
 * is to split a long stream into windows of T steps, run each window from the final state of the
 * previous one and cut the gradient at the boundary. {@link StreamWindows} does the data side for a
 * batch of B independent streams: every row has its own stream of `windows * T` steps and moves one
 * window per training step; when a row's stream ends it starts a new one and its state is reset. The
 * first streams have a random number of windows in [1, windows] so the rows' ages are spread over
 * [0, windows * T) from the first step on (a curriculum of ages in every batch).
 */
import { ConfigError, checkInt } from "../errors.js";
import type { Rng } from "../util/rng.js";
import { allocBatch, type EpisodeBatch } from "./batch.js";
import type { MemoryState } from "../model/model.js";

/** What a stream source provides: one stream of `length` steps (B = 1) per call. */
export interface StreamSource {
  readonly kind: "discrete" | "continuous";
  readonly dAction: number;
  sampleStream(rng: Rng, length: number): EpisodeBatch;
}

/** Copy steps [t0, t0 + T) of row 0 of `src` into row `row` of `dst` (same dModel / kind / dAction). */
export function copyWindow(src: EpisodeBatch, t0: number, dst: EpisodeBatch, row: number, dAction: number): void {
  const T = dst.T;
  const d = dst.dModel;
  if (src.dModel !== d) throw new ConfigError(`stream dModel ${src.dModel} != batch dModel ${d}`);
  if (t0 < 0 || t0 + T > src.T) throw new ConfigError(`window [${t0}, ${t0 + T}) outside a stream of ${src.T} steps`);
  const o = row * T;
  dst.z.set(src.z.subarray(t0 * d, (t0 + T) * d), o * d);
  dst.lossMask.set(src.lossMask.subarray(t0, t0 + T), o);
  dst.evalMask.set(src.evalMask.subarray(t0, t0 + T), o);
  dst.stepType.set(src.stepType.subarray(t0, t0 + T), o);
  if (dst.label && src.label) dst.label.set(src.label.subarray(t0, t0 + T), o);
  if (dst.target && src.target) dst.target.set(src.target.subarray(t0 * dAction, (t0 + T) * dAction), o * dAction);
}

/**
 * B streams read window by window. `next(rng)` returns the next window of every row and which rows
 * started a new stream at this window (their carried state must be reset before the forward).
 */
export class StreamWindows {
  private readonly streams: EpisodeBatch[] = [];
  private readonly pos: number[] = [];

  /**
   * @param source where streams come from (a task with `sampleStream`).
   * @param B rows (independent streams). @param T window length (steps). @param windows windows per stream (>= 1).
   * @throws ConfigError on non-positive sizes.
   */
  constructor(
    private readonly source: StreamSource,
    readonly B: number,
    readonly T: number,
    readonly windows: number,
  ) {
    checkInt("B", B, 1);
    checkInt("T", T, 1);
    checkInt("streamWindows", windows, 1);
  }

  /**
   * The next window of every row: `batch` [B, T] and `reset[b]` = 1 where row b starts a new stream.
   * `maxWindows` (default `windows`) caps the length of streams started now (a curriculum of ages).
   */
  next(rng: Rng, maxWindows = this.windows): { batch: EpisodeBatch; reset: Uint8Array } {
    const cap = Math.max(1, Math.min(this.windows, Math.floor(maxWindows)));
    const { B, T } = this;
    const kind = this.source.kind;
    const reset = new Uint8Array(B);
    let out: EpisodeBatch | null = null;
    for (let b = 0; b < B; b++) {
      const first = this.streams[b] === undefined;
      if (first || this.pos[b]! + T > this.streams[b]!.T) {
        // the first stream of each row has a random length so the rows' ages are spread out
        const w = first ? 1 + rng.int(cap) : cap;
        this.streams[b] = this.source.sampleStream(rng, w * T);
        this.pos[b] = 0;
        reset[b] = 1;
      }
      const s = this.streams[b]!;
      out ??= allocBatch(B, T, s.dModel, kind, this.source.dAction);
      copyWindow(s, this.pos[b]!, out, b, this.source.dAction);
      this.pos[b] = this.pos[b]! + T;
    }
    return { batch: out!, reset };
  }
}

/**
 * A copy of a fast-weight / RNN state with the rows where `reset[b] = 1` set to zero (a new stream
 * starts there). Other state kinds are returned as they are (the caller does not carry them).
 */
export function resetRows(state: MemoryState, reset: Uint8Array): MemoryState {
  const zeroRows = (a: Float32Array): Float32Array => {
    const out = a.slice();
    const w = a.length / state.B;
    for (let b = 0; b < state.B; b++) if (reset[b]) out.fill(0, b * w, (b + 1) * w);
    return out;
  };
  switch (state.kind) {
    case "fast-weights":
      return { ...state, M: zeroRows(state.M), m: zeroRows(state.m) };
    case "rnn":
      return state.c ? { ...state, h: zeroRows(state.h), c: zeroRows(state.c) } : { ...state, h: zeroRows(state.h) };
    default:
      return state;
  }
}
