/** Implementations of `aura train`, `aura eval` and `aura info` (thin wrappers over the library). */
import { resolve } from "node:path";
import { MemoryConfig } from "aura-mem/config";
import { ConfigError } from "aura-mem/errors";
import { createOps, type Backend } from "aura-mem/ops/index";
import { armSpec } from "aura-mem/model/arms";
import { SequenceModel, type ArmName } from "aura-mem/model/model";
import { createTask } from "../tasks/index.js";
import { locateData } from "../data/paths.js";
import { loadDataset } from "aura-mem/io/dataset";
import { train } from "aura-mem/train/train";
import { evaluate } from "aura-mem/train/evaluate";
import { datasetBatches, datasetSource } from "aura-mem/train/dataset_source";
import { AuraMemLayer } from "aura-mem/layer";
import { RECIPE_WRITE_DECAY, taskRecipe } from "../bench/run.js";

interface TrainCli {
  task?: string;
  data?: string;
  arm: ArmName;
  out: string;
  steps: number;
  batch: number;
  /** undefined = the task's stream recipe (taskRecipe(task).lr). */
  lr?: number;
  lambdaIb: number;
  lambdaW: number;
  lambdaU: number;
  targetRate: number;
  streamWindows: number;
  stochasticGate: boolean;
  gateSurprise: boolean;
  /** undefined = the task's stream recipe (ess tasks: on), else off. */
  gateNorm?: boolean;
  /** undefined = the task's stream recipe (ess tasks: 0.8), else 1. */
  writeDecay?: number;
  /** undefined = the task's stream recipe (ess-easy: 0.5), else the decay the model runs with (train()'s default). */
  trainWriteDecay?: number;
  /** undefined = the task's stream recipe (ess tasks: [0.3, 0.9]), else none; null = none. */
  trainGateBand?: [number, number] | null;
  /** undefined = the task's stream recipe (ess-hard 0.7, ess-easy 0.8), else 0.5. */
  gateThreshold?: number;
  writeRate: number;
  valFraction: number;
  patience: number;
  evalEvery: number;
  seed: number;
  dmodel: number;
  /** Push-T store; undefined = the default location (src/data/paths.ts). */
  pushtPath?: string;
  backend: Backend | "auto";
}

function fmtEval(r: ReturnType<typeof evaluate>): string {
  const sel = r.pWriteEvent !== null ? `, P(write|event) ${r.pWriteEvent.toFixed(3)}` : "";
  const dis = r.pWriteDistractor !== null ? `, P(write|distractor) ${r.pWriteDistractor.toFixed(3)}` : "";
  return `${r.metricName} ${r.metric.toFixed(4)} over ${r.episodes} episodes, ${r.writesPerEpisode.toFixed(2)} writes/episode (rate ${r.writeRate.toFixed(3)})${sel}${dis}`;
}

export async function trainCommand(o: TrainCli): Promise<void> {
  if (!o.task === !o.data) throw new ConfigError("give exactly one of --task <name> or --data <file>");
  const ops = createOps(o.backend);
  let source;
  let dModel: number;
  if (o.data) {
    const ds = await loadDataset(resolve(o.data));
    source = datasetSource(ds, { valFraction: o.valFraction, seed: o.seed });
    dModel = ds.dModel;
    console.log(`dataset ${o.data}: ${ds.E} episodes x ${ds.T} steps, dModel ${ds.dModel}, ${ds.kind} actions (${ds.dAction}); ${source.trainEpisodes.length} train / ${source.valEpisodes.length} val episodes`);
  } else {
    source = await createTask(o.task!, { seed: o.seed, dModel: o.dmodel, pushtPath: locateData("pusht", o.pushtPath).path });
    dModel = source.dModel;
  }
  // the memory settings the bench uses for the task (the stream recipe on ess), unless given
  const task = o.task ?? "";
  const recipe = taskRecipe(task);
  const writeDecay = o.writeDecay ?? recipe.writeDecay;
  const gateThreshold = o.gateThreshold ?? recipe.gateThreshold;
  const gateNorm = o.gateNorm ?? recipe.gateNorm;
  const trainDecay = o.trainWriteDecay ?? recipe.trainWriteDecay;
  const band = o.trainGateBand !== undefined ? o.trainGateBand : recipe.trainGateBand;
  if (task in RECIPE_WRITE_DECAY) {
    const trainedAt = band ? `trained at thresholds drawn from [${band[0]}, ${band[1]}]` : "trained at 0.5";
    const inTraining = trainDecay === null || trainDecay === writeDecay ? "in training too" : `${trainDecay} in training`;
    console.log(`${task}: write decay ${writeDecay} (${inTraining}), gate threshold ${gateThreshold} (${trainedAt}), gate reads ||z||: ${gateNorm ? "yes" : "no"}, learning rate ${o.lr ?? recipe.lr} (the stream recipe, docs/method.md, unless set by flags)`);
  }
  const config = new MemoryConfig({ dModel, dAction: source.dAction, actionKind: source.kind, seed: o.seed, gateSurprise: o.gateSurprise, gateNorm, writeDecay, gateThreshold });
  const model = new SequenceModel(armSpec(o.arm, config, { writeRate: o.writeRate, matchParams: null }), ops);
  console.log(`training ${o.arm} (${model.paramCount().toLocaleString("en-US")} parameters, ${model.memoryBytes(1)} state bytes at batch 1)`);
  const r = train(model, source, {
    steps: o.steps,
    batchSize: o.batch,
    lr: o.lr ?? recipe.lr,
    lambdaIB: o.lambdaIb,
    lambdaW: o.lambdaW,
    lambdaU: o.lambdaU,
    targetWriteRate: o.targetRate,
    streamWindows: o.streamWindows,
    stochasticGate: o.stochasticGate,
    seed: o.seed,
    patience: o.patience,
    evalEvery: o.evalEvery,
    reconWriteRate: o.arm === "recon-gate" ? o.writeRate : null,
    trainGateThreshold: 0.5,
    trainGateThresholdRange: band,
    trainWriteDecay: trainDecay,
    onStep: (s) => {
      if (s.val !== undefined) console.log(`step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)} val ${s.val.toFixed(4)} mean p ${s.meanP.toFixed(3)}`);
    },
  });
  console.log(`best validation at step ${r.bestStep}: ${fmtEval(r.val)}${r.stoppedEarly ? " (stopped early)" : ""}; ${(r.timeMs / 1000).toFixed(1)} s`);
  const files = await AuraMemLayer.fromModel(model).save(resolve(o.out), {
    trainedOn: o.data ? { data: o.data } : { task: o.task, seed: o.seed },
    val: r.val.metric,
  });
  console.log(`wrote ${files.safetensorsPath} and ${files.jsonPath}`);
}

export interface EvalCli {
  checkpoint: string;
  task?: string;
  data?: string;
  seed: number;
  /** Push-T store; undefined = the default location (src/data/paths.ts). */
  pushtPath?: string;
  horizon?: number;
  stream: "fixed" | "density";
  episodes?: number;
  json: boolean;
  backend: Backend | "auto";
}

/** Metrics of `aura eval --json`. */
function evalJson(r: ReturnType<typeof evaluate>, horizon: number): Record<string, unknown> {
  return {
    metric: r.metric,
    metricName: r.metricName,
    writesPerEpisode: r.writesPerEpisode,
    writeRate: r.writeRate,
    pWriteEvent: r.pWriteEvent,
    pWriteDistractor: r.pWriteDistractor,
    episodes: r.episodes,
    horizon,
  };
}

export async function evalCommand(o: EvalCli): Promise<void> {
  if (!o.task === !o.data) throw new ConfigError("give exactly one of --task <name> or --data <file>");
  if ((o.horizon !== undefined || o.episodes !== undefined) && o.data) throw new ConfigError("--horizon and --episodes apply to --task only");
  const layer = await AuraMemLayer.load(resolve(o.checkpoint), { backend: o.backend });
  const cfg = layer.config;
  if (o.data) {
    const ds = await loadDataset(resolve(o.data));
    if (ds.dModel !== cfg.dModel) throw new ConfigError(`dataset dModel ${ds.dModel} does not match the checkpoint's ${cfg.dModel}`);
    const r = evaluate(layer.model, datasetBatches(ds), { metric: ds.kind === "discrete" ? "accuracy" : "mse", dAction: ds.dAction, metricScale: 1 });
    console.log(o.json ? JSON.stringify(evalJson(r, ds.T)) : `${layer.arm} on ${o.data}: ${fmtEval(r)}`);
  } else {
    const task = await createTask(o.task!, {
      seed: o.seed,
      dModel: cfg.dModel,
      pushtPath: locateData("pusht", o.pushtPath).path,
      ...(o.horizon !== undefined ? { horizon: o.horizon, stream: o.stream } : {}),
      ...(o.episodes !== undefined ? { testEpisodes: o.episodes } : {}),
    });
    if (task.dAction !== cfg.dAction) throw new ConfigError(`task ${task.name} has dAction ${task.dAction}, checkpoint ${cfg.dAction}`);
    // lazily, one batch at a time: about 2^18 steps per batch whatever the horizon
    const batchSize = Math.max(1, Math.min(64, Math.floor(262144 / task.horizon)));
    const r = evaluate(layer.model, task.evalBatches("test", batchSize), { metric: task.metric, dAction: task.dAction, metricScale: task.metricScale });
    const where = o.horizon !== undefined ? ` at N = ${task.horizon} (${o.stream})` : "";
    console.log(o.json ? JSON.stringify(evalJson(r, task.horizon)) : `${layer.arm} on ${task.name} (test)${where}: ${fmtEval(r)}`);
  }
}

export function infoCommand(o: { dmodel: number; dkey: number; dval: number; daction: number; horizon: number }): void {
  const config = new MemoryConfig({ dModel: o.dmodel, dKey: o.dkey, dVal: o.dval, dAction: o.daction });
  const ops = createOps("ts");
  const aura = new SequenceModel(armSpec("aura", config, { matchParams: null }), ops);
  const kv = new SequenceModel(armSpec("kv-cache", config, { matchParams: null }), ops);
  const a = aura.memoryBytes(1, o.horizon);
  const k = kv.memoryBytes(1, o.horizon);
  console.log(`AURA layer: dModel ${o.dmodel}, d_k ${o.dkey}, d_v ${o.dval}, dAction ${o.daction}`);
  console.log(`  parameters: ${aura.paramCount().toLocaleString("en-US")}`);
  console.log(`  memory state (batch 1, fp32): ${a.toLocaleString("en-US")} bytes at any horizon`);
  console.log(`  KV-cache of the same dims after ${o.horizon.toLocaleString("en-US")} steps: ${k.toLocaleString("en-US")} bytes = ${(k / a).toFixed(1)}x`);
}
