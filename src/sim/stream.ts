/**
 * cue-stream: one continual episode (default 12,000 control steps = 10 min at 20 Hz, no reset) with a
 * new cue every 20-40 s, scored per cue (env.ts, STREAM; docs/sim.md, "cue-stream").
 *
 * The scripted reference policies bound what a learned policy can reach and show that the task needs
 * memory. All three run the scripted expert's controller (expert.ts); they differ only in where its
 * goal comes from:
 *  - `expert`: the environment's current goal (privileged): the motor skill's ceiling.
 *  - `cue-memory`: the goal read from the observation's cue channel when a cue comes on (the cube whose
 *    position is nearest the first spotlight, the zone nearest the second) and kept until the next cue:
 *    a policy that sees what the cue says and remembers it perfectly.
 *  - `guess`: at each cue onset a goal drawn uniformly from the 6 (the cue's content is not read): a
 *    policy that cannot recall what the cue said is at best at this chance level, 1/6 of the skill,
 *    unless it carries the goal in some other state.
 * The learned arms (a frozen base policy plus a memory) are evaluated on the same seeds and scored the
 * same way (per cue, Wilson intervals clustered by episode: stats.ts clusteredWilson95).
 */
import { ConfigError } from "aura-mem/errors";
import { StepType } from "../tasks/types.js";
import type { BasePolicy } from "./policy.js";
import { stepArm, type ArmPolicy } from "./rollout.js";
import { actOnGoal, stepGoalArm } from "./goal.js";
import { currentGoal } from "./demos.js";
import { Rng } from "aura-mem/util/rng";
import { clusteredWilson95, type ClusteredProportionCi } from "../bench/stats.js";
import { CUBES, ZONE_XY } from "./scene.js";
import { Expert, type GoalSource } from "./expert.js";
import { ACTION_DIM, CONTROL_HZ, OBS_LAYOUT, STREAM_TASK, TASK_INFO, goalOf, spot, type CueOutcome, type Goal, type ResetOptions, type TabletopEnv } from "./env.js";
import { TraceDownsampler, type StreamTrace, type StreamTraceOptions } from "./stream_trace.js";

/** The scripted reference policies of cue-stream. */
export const STREAM_POLICIES = ["expert", "cue-memory", "guess"] as const;
export type StreamPolicy = (typeof STREAM_POLICIES)[number];
export function isStreamPolicy(s: string): s is StreamPolicy {
  return (STREAM_POLICIES as readonly string[]).includes(s);
}

/**
 * The goal a cue channel names, read from one observation: the cube nearest the first spotlight and the
 * zone nearest the second (cue-stream / cue-place layout). Returns the goal index (cube * 2 + zone) or
 * -1 when the cue is off (`on` = 0, which flickers also have).
 */
export function readCue(obs: Float32Array): number {
  const o = OBS_LAYOUT.cue;
  if (obs[o] !== 1) return -1;
  const s1x = obs[o + 1]!;
  const s1y = obs[o + 2]!;
  const s2x = obs[o + 3]!;
  const s2y = obs[o + 4]!;
  let cube = 0;
  let best = Infinity;
  for (let c = 0; c < CUBES.length; c++) {
    const [x, y] = spot(obs[OBS_LAYOUT.cubes + 7 * c]!, obs[OBS_LAYOUT.cubes + 7 * c + 1]!);
    const d = Math.hypot(x - s1x, y - s1y);
    if (d < best) (best = d), (cube = c);
  }
  let zone = 0;
  best = Infinity;
  for (let z = 0; z < ZONE_XY.length; z++) {
    const [x, y] = spot(ZONE_XY[z]![0], ZONE_XY[z]![1]);
    const d = Math.hypot(x - s2x, y - s2y);
    if (d < best) (best = d), (zone = z);
  }
  return cube * 2 + zone;
}

/** A goal source fed one observation per step: a new goal at each cue onset (`on` rising 0 -> 1). */
class CueGoals implements GoalSource {
  goal: Goal = { cubes: [], zones: [] };
  cueIndex = -1;
  private wasOn = false;
  constructor(private readonly pick: (read: number) => number) {}
  observe(obs: Float32Array): void {
    const read = readCue(obs);
    const on = read >= 0;
    if (on && !this.wasOn) {
      this.cueIndex++;
      this.goal = goalOf(STREAM_TASK, this.pick(read));
    }
    this.wasOn = on;
  }
}

/** One cue-stream episode of a scripted policy. */
export interface StreamEpisode {
  seed: number;
  policy: StreamPolicy;
  /** Control steps. */
  horizon: number;
  /** Every cue, scored just before the next one (the last at the end). */
  cues: CueOutcome[];
  /** Nudges that happened / were planned; flickers. */
  nudges: number;
  plannedNudges: number;
  flickers: number;
  wallMs: number;
}

/**
 * Run one cue-stream episode (seed `seed`, `horizon` control steps) with a scripted policy.
 * @throws ConfigError on an unknown policy or a bad horizon.
 */
export function runStreamEpisode(env: TabletopEnv, seed: number, horizon: number, policy: StreamPolicy): StreamEpisode {
  if (!isStreamPolicy(policy)) throw new ConfigError(`unknown stream policy "${String(policy)}" (valid: ${STREAM_POLICIES.join(", ")})`);
  const t0 = performance.now();
  let obs = env.reset(STREAM_TASK, seed, horizon);
  const rng = new Rng((seed ^ 0x6a7e55) >>> 0);
  const goals = policy === "expert" ? null : new CueGoals(policy === "guess" ? () => rng.int(TASK_INFO[STREAM_TASK].nGoals) : (read) => read);
  const expert = new Expert(env, goals ?? undefined);
  goals?.observe(obs);
  expert.reset();
  while (!env.done) {
    obs = env.step(expert.act());
    goals?.observe(obs);
  }
  const plan = env.plan;
  return {
    seed,
    policy,
    horizon: plan.horizon,
    cues: env.cueOutcomes(),
    nudges: env.nudgeCount,
    plannedNudges: plan.nudges.length,
    flickers: plan.flickers.length,
    wallMs: performance.now() - t0,
  };
}

/** Per-cue success of a set of episodes, clustered by episode. */
export interface StreamSummary {
  episodes: number;
  cues: number;
  /** Cues per episode (mean). */
  cuesPerEpisode: number;
  /** Success per cue (the cued cube in the cued zone, nothing else in a zone) [Wilson 95%, clustered by episode]. */
  success: ClusteredProportionCi;
  /** The cued cube in the cued zone, whatever else lies in the zones [clustered Wilson 95%]. */
  placed: ClusteredProportionCi;
  /** Per episode: successes / cues. */
  perEpisode: number[];
  /** Episode length (min) and wall time per episode (s, mean). */
  minutes: number;
  secondsPerEpisode: number;
}

/** Summarise episodes (at least one, each with at least one cue). @throws ConfigError otherwise. */
export function summariseStream(eps: readonly Pick<StreamEpisode, "cues" | "horizon" | "wallMs">[]): StreamSummary {
  if (!eps.length) throw new ConfigError("no episodes to summarise");
  const n = eps.map((e) => e.cues.length);
  if (n.some((k) => k < 1)) throw new ConfigError("an episode without a scored cue: is the horizon too short?");
  const s = eps.map((e) => e.cues.filter((c) => c.success).length);
  const pl = eps.map((e) => e.cues.filter((c) => c.placed).length);
  const cues = n.reduce((a, b) => a + b, 0);
  return {
    episodes: eps.length,
    cues,
    cuesPerEpisode: cues / eps.length,
    success: clusteredWilson95(s, n),
    placed: clusteredWilson95(pl, n),
    perEpisode: s.map((k, i) => k / n[i]!),
    minutes: eps[0]!.horizon / 20 / 60,
    secondsPerEpisode: eps.reduce((a, e) => a + e.wallMs, 0) / eps.length / 1000,
  };
}

/** One cue-stream episode of a learned arm (frozen base + memory residual). */
export interface StreamArmEpisode {
  seed: number;
  arm: string;
  horizon: number;
  cues: CueOutcome[];
  /** Writes over the episode (dense arms: one per step; no-memory: 0). */
  writes: number;
  /** [writes, steps] at cue steps and at distractor steps. */
  cueWrites: [number, number];
  distractorWrites: [number, number];
  /** Memory state bytes after the first step and at the end. */
  stateBytesStart: number;
  stateBytesEnd: number;
  /** Mean wall time of the arm's step (ms) over the first and the last 200 control steps. */
  armMsStart: number;
  armMsEnd: number;
  wallMs: number;
  /** The downsampled trace (stream_trace.ts, format version 2), when asked for. */
  trace?: StreamTrace;
}

/**
 * Run one cue-stream episode with the frozen base policy plus an arm's residual (rollout.ts's loop,
 * one `model.forward(z_t, 1, 1, { initialState })` per control step), scored per cue. With `trace`,
 * also a downsampled trace of the episode (stream_trace.ts: every `trace.every`-th step, every cue
 * step and the terminal state; no write lost); the episode itself is the same with or without it.
 * @throws ConfigError on a bad horizon or bad trace options.
 */
export function runStreamArmEpisode(env: TabletopEnv, seed: number, horizon: number, base: BasePolicy, arm: ArmPolicy, opts: ResetOptions = {}, trace?: StreamTraceOptions): StreamArmEpisode {
  const rec = trace ? new TraceDownsampler(trace) : null;
  const t0 = performance.now();
  let obs = env.reset(STREAM_TASK, seed, horizon, opts);
  const T = env.horizon;
  const model = arm.model;
  let state = model ? model.initState(1) : null;
  let writes = 0;
  const ev: [number, number] = [0, 0];
  const di: [number, number] = [0, 0];
  let bytes = 0;
  let bytesStart = 0;
  const W = Math.min(200, T);
  let msStart = 0;
  let msEnd = 0;
  for (let t = 0; t < T; t++) {
    let a: number[];
    let g = 0;
    let p = 0;
    if (arm.role === "goal" && arm.oracleGoal) {
      // the goal oracle: the same base on the true current goal (the ceiling of every goal arm; no memory, no writes)
      a = Array.from(actOnGoal(STREAM_TASK, base, obs, currentGoal(env)));
    } else if (model && state && arm.role === "goal") {
      // the goal role (goal.ts): the arm's goal in the observation's empty cue channel, the base acts on it
      const s0 = performance.now();
      const r = stepGoalArm(STREAM_TASK, base, model, obs, state);
      const dt = performance.now() - s0;
      if (t < W) msStart += dt;
      if (t >= T - W) msEnd += dt;
      a = Array.from(r.action);
      g = r.g;
      p = r.p;
      state = r.state;
      bytes = model.stateBytes(state);
      if (t === 0) bytesStart = bytes;
    } else if (model && state) {
      const { z, action } = base.forward(obs, 1);
      a = Array.from(action);
      const s0 = performance.now();
      const r = stepArm(model, z, state);
      const dt = performance.now() - s0;
      if (t < W) msStart += dt;
      if (t >= T - W) msEnd += dt;
      for (let i = 0; i < ACTION_DIM; i++) a[i] = a[i]! + r.out[i]!;
      g = r.g;
      p = r.p;
      state = r.state;
      bytes = model.stateBytes(state);
      if (t === 0) bytesStart = bytes;
    } else a = Array.from(base.forward(obs, 1).action);
    writes += g;
    if (env.stepType === StepType.event) (ev[0] += g), ev[1]++;
    else if (env.stepType === StepType.distractor) (di[0] += g), di[1]++;
    rec?.offer(env, t, env.cueCode, p, g, writes, bytes);
    obs = env.step(a);
  }
  const out: StreamArmEpisode = {
    seed,
    arm: arm.name,
    horizon: T,
    cues: env.cueOutcomes(),
    writes,
    cueWrites: ev,
    distractorWrites: di,
    stateBytesStart: bytesStart,
    stateBytesEnd: bytes,
    armMsStart: msStart / W,
    armMsEnd: msEnd / W,
    wallMs: performance.now() - t0,
  };
  if (rec) {
    rec.offer(env, T, env.cueCode, 0, 0, writes, bytes, true);
    out.trace = rec.build({ task: STREAM_TASK, arm: arm.name, seed, controlHz: CONTROL_HZ, horizon: T, gate: { writes, cueWrites: ev, distractorWrites: di } }, env.plan, out.cues);
  }
  return out;
}
