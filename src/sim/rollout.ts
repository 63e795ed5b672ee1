/**
 * Closed-loop rollouts: the frozen base policy plus one memory arm's residual, stepped once per
 * control tick (`model.forward(z_t, 1, 1, { initialState })`, the same maths as the batch forward),
 * with a shadow expert labelling every visited state (action error vs the expert), write and
 * state-byte counting, optional per-step traces, and the AIS probe (a second arm run on the same
 * histories plus one-step "what if" simulations of both actions from the same state).
 */
import type { SequenceModel, MemoryState } from "aura-mem/model/model";
import { StepType } from "../tasks/types.js";
import { ACTION_DIM, CONTROL_HZ, TASK_INFO, type SimTaskName, type TabletopEnv } from "./env.js";
import { Expert } from "./expert.js";
import type { BasePolicy } from "./policy.js";
import { actOnGoal, stepGoalArm, type ArmRole } from "./goal.js";
import { currentGoal } from "./demos.js";
import { CUBES, ZONES, ZONE_RADIUS, ZONE_XY } from "./scene.js";

/** One step of a trace (docs/sim.md). */
export interface TraceStep {
  t: number;
  /** 7 arm joints + 2 finger slides. */
  q: number[];
  /** TCP position. */
  ee: [number, number, number];
  /** Per cube [x, y, z, qw, qx, qy, qz]. */
  cubes: number[][];
  /** 1 + goal index while the cue is shown, -1 during a flicker, else 0. */
  cue: number;
  /** Write probability of the memory at this step (1 for dense arms, 0 for no-memory). */
  p: number;
  /** Write decision (0/1). */
  g: 0 | 1;
  /** Writes so far, this step included. */
  writes: number;
  /** Bytes of memory state after this step. */
  stateBytes: number;
}

/** The trace file the web demo replays (`format: "aura-sim-trace"`, docs/sim.md). */
export interface SimTrace {
  format: "aura-sim-trace";
  version: 1;
  task: SimTaskName;
  arm: string;
  seed: number;
  controlHz: number;
  bodies: { cubes: string[]; zones: string[] };
  goal: { cubes: number[]; zones: number[] };
  steps: TraceStep[];
  success: boolean;
}

/** Outcome of one closed-loop episode. */
export interface EpisodeOutcome {
  seed: number;
  success: boolean;
  steps: number;
  writes: number;
  /** Memory state bytes at the end of the episode. */
  stateBytes: number;
  /** Mean squared error per action dimension between the executed action and the shadow expert's. */
  actionMse: number;
  /** Write decisions at cue (event) steps and at distractor steps: [writes, steps]. */
  eventWrites: [number, number];
  distractorWrites: [number, number];
  /** Write probabilities at event / distractor steps (histogram). */
  pEvent: number[];
  pDistractor: number[];
  wallMs: number;
  /**
   * Placement margin at the end (m): min over the goal cubes of ZONE_RADIUS - distance of the cube
   * centre from its zone centre (negative when a goal cube is outside its zone).
   */
  margin: number;
  /** Goal cubes resting in their zones at the end (0 .. number of goal cubes): partial progress. */
  placed: number;
  /** AIS probe: per-step action gap to the companion arm, and sampled next-state gaps (m). */
  ais?: { eps: number[]; delta: number[]; epsAtDelta: number[] };
  trace?: SimTrace;
}

/** What runs the episode: the base, and optionally a memory arm producing a residual or supplying the goal (`role`, default residual; src/sim/goal.ts). */
export interface ArmPolicy {
  name: string;
  model: SequenceModel | null;
  role?: ArmRole;
  /**
   * Goal role without a model: the base acts on the **true** current goal filled into the empty cue channel
   * (the ceiling of any goal arm: a perfect recall), not on an arm's.
   */
  oracleGoal?: boolean;
}

export interface RolloutOptions {
  trace?: boolean;
  /** Full-history arm run on the same histories (AIS epsilon). */
  companion?: SequenceModel;
  /** Environment used for the one-step probes (AIS delta); needs `companion`. */
  probeEnv?: TabletopEnv;
  /** Probe every this many steps (default 8). */
  probeEvery?: number;
}

/** One control tick of a memory arm at batch 1: its residual action, write decision and probability, next state. */
export function stepArm(model: SequenceModel, z: Float32Array, state: MemoryState): { out: Float32Array; g: number; p: number; state: MemoryState } {
  const fr = model.forward(z, 1, 1, { initialState: state, validate: false });
  return { out: fr.out, g: fr.g[0]!, p: fr.p[0]!, state: fr.finalState };
}

/** Run one closed-loop episode of `task` with seed `seed`. */
export function runEpisode(env: TabletopEnv, task: SimTaskName, seed: number, base: BasePolicy, arm: ArmPolicy, o: RolloutOptions = {}): EpisodeOutcome {
  const t0 = performance.now();
  const T = TASK_INFO[task].horizon;
  const shadow = new Expert(env);
  let obs = env.reset(task, seed);
  shadow.reset();
  const model = arm.model;
  let state = model ? model.initState(1) : null;
  const comp = o.companion ?? null;
  let compState = comp ? comp.initState(1) : null;
  const probeEvery = o.probeEvery ?? 8;
  const plan = env.plan;
  const unsafe = new Set([plan.nudgeStep, plan.flickerStep, plan.flickerStep + 1]);
  let writes = 0;
  let se = 0;
  const ev: [number, number] = [0, 0];
  const di: [number, number] = [0, 0];
  const pEvent: number[] = [];
  const pDistractor: number[] = [];
  const ais = comp ? { eps: [] as number[], delta: [] as number[], epsAtDelta: [] as number[] } : undefined;
  const steps: TraceStep[] = [];
  let bytes = 0;
  const goalRole = arm.role === "goal";
  for (let t = 0; t < T; t++) {
    const { z, action: baseAct } = base.forward(obs, 1);
    const expertAct = shadow.act();
    let a = Array.from(baseAct);
    let g = 0;
    let p = 0;
    if (goalRole && arm.oracleGoal) {
      a = Array.from(actOnGoal(task, base, obs, currentGoal(env)));
    } else if (model && state && goalRole) {
      const r = stepGoalArm(task, base, model, obs, state);
      a = Array.from(r.action);
      g = r.g;
      p = r.p;
      state = r.state;
      bytes = model.stateBytes(state);
    } else if (model && state) {
      const r = stepArm(model, z, state);
      for (let i = 0; i < ACTION_DIM; i++) a[i] = a[i]! + r.out[i]!;
      g = r.g;
      p = r.p;
      state = r.state;
      bytes = model.stateBytes(state);
    }
    if (comp && compState && ais) {
      let a2: number[];
      if (goalRole) {
        const r2 = stepGoalArm(task, base, comp, obs, compState);
        compState = r2.state;
        a2 = Array.from(r2.action);
      } else {
        const r2 = stepArm(comp, z, compState);
        compState = r2.state;
        a2 = Array.from(baseAct, (v, i) => v + r2.out[i]!);
      }
      let d2 = 0;
      for (let i = 0; i < ACTION_DIM; i++) d2 += (a[i]! - a2[i]!) ** 2;
      const eps = Math.sqrt(d2);
      ais.eps.push(eps);
      if (o.probeEnv && t % probeEvery === 0 && !unsafe.has(t + 1)) {
        o.probeEnv.copyFrom(env);
        o.probeEnv.step(a);
        const s1 = o.probeEnv.positions();
        o.probeEnv.copyFrom(env);
        o.probeEnv.step(a2);
        const s2 = o.probeEnv.positions();
        let dd = 0;
        for (let i = 0; i < s1.length; i++) dd += (s1[i]! - s2[i]!) ** 2;
        ais.delta.push(Math.sqrt(dd));
        ais.epsAtDelta.push(eps);
      }
    }
    writes += g;
    const st = env.stepType;
    if (st === StepType.event) {
      ev[0] += g;
      ev[1]++;
      pEvent.push(p);
    } else if (st === StepType.distractor) {
      di[0] += g;
      di[1]++;
      pDistractor.push(p);
    }
    for (let i = 0; i < ACTION_DIM; i++) se += (Math.max(-1, Math.min(1, a[i]!)) - expertAct[i]!) ** 2;
    if (o.trace) steps.push(traceStep(env, t, p, g, writes, bytes));
    obs = env.step(a);
  }
  const success = env.success();
  let margin = Infinity;
  let placed = 0;
  plan.goal.cubes.forEach((c, k) => {
    if (env.cubeInZone(c, plan.goal.zones[k]!)) placed++;
    const p = env.cubePose(c);
    const [zx, zy] = ZONE_XY[plan.goal.zones[k]!]!;
    margin = Math.min(margin, ZONE_RADIUS - Math.hypot(p[0] - zx, p[1] - zy));
  });
  if (o.trace) steps.push(traceStep(env, T, 0, 0, writes, bytes));
  const out: EpisodeOutcome = {
    seed,
    success,
    steps: T,
    writes,
    stateBytes: bytes,
    actionMse: se / (T * ACTION_DIM),
    eventWrites: ev,
    distractorWrites: di,
    pEvent,
    pDistractor,
    wallMs: performance.now() - t0,
    margin,
    placed,
  };
  if (ais) out.ais = ais;
  if (o.trace) {
    out.trace = {
      format: "aura-sim-trace",
      version: 1,
      task,
      arm: arm.name,
      seed,
      controlHz: CONTROL_HZ,
      bodies: { cubes: [...CUBES], zones: [...ZONES] },
      goal: { cubes: [...plan.goal.cubes], zones: [...plan.goal.zones] },
      steps,
      success,
    };
  }
  return out;
}

function traceStep(env: TabletopEnv, t: number, p: number, g: number, writes: number, stateBytes: number): TraceStep {
  const r = (x: number): number => Math.round(x * 1e5) / 1e5;
  const ee = env.tcpPos();
  return {
    t,
    q: env.jointPositions().map(r),
    ee: [r(ee[0]), r(ee[1]), r(ee[2])],
    cubes: CUBES.map((_, i) => env.cubePose(i).map(r)),
    cue: env.cueCode,
    p: r(p),
    g: g > 0.5 ? 1 : 0,
    writes,
    stateBytes,
  };
}
