/**
 * `aura export-onnx`: write the batch-1 step of a trained aura checkpoint as an ONNX graph
 * (docs/onnx.md). Registered by src/cli/main.ts through {@link registerOnnxCommands}.
 */
import { Command, InvalidArgumentError } from "commander";
import { resolve } from "node:path";
import { AuraMemLayer } from "aura-mem/layer";
import { ConfigError } from "aura-mem/errors";
import { ONNX_OPSET, writeOnnx, decodeOnnx } from "aura-mem/deploy/onnx_export";

function stepsArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("--verify must be a positive integer (steps)");
  return n;
}

/** Options of `aura export-onnx` after parsing. */
export interface ExportOnnxCli {
  checkpoint: string;
  out: string;
  verify?: number;
  log?: (s: string) => void;
}

/** The command's action, callable without commander (tests). */
export async function exportOnnxCommand(o: ExportOnnxCli): Promise<void> {
  const log = o.log ?? ((s: string) => console.log(s));
  const layer = await AuraMemLayer.load(resolve(o.checkpoint));
  if (layer.arm !== "aura") throw new ConfigError(`export-onnx supports aura checkpoints only; ${o.checkpoint} holds the "${layer.arm}" arm`);
  const out = resolve(o.out);
  const bytes = await writeOnnx(layer, out);
  const info = await decodeOnnx(bytes);
  const c = layer.config;
  log(`wrote ${out} (${bytes.length.toLocaleString("en-US")} bytes, opset ${ONNX_OPSET}, ${info.ops.length} op types: ${info.ops.join(", ")})`);
  log(`inputs  z [1,${c.dModel}], M [1,${c.dKey},${c.dVal}], m [1,${c.dVal}]`);
  log(`outputs action [1,${c.dAction}], g [1], p [1], surprise [1], M_next [1,${c.dKey},${c.dVal}], m_next [1,${c.dVal}]`);
  if (o.verify) {
    const { onnxParity } = await import("../bench/onnx_parity.js");
    const r = await onnxParity(layer, bytes, { steps: o.verify, seed: 1 });
    log(
      `verify: ${r.steps} random steps in onnxruntime-node vs aura-mem: max |diff| outputs ${r.maxAbsOutputs.toExponential(2)}, ` +
        `state ${r.maxAbsState.toExponential(2)}, g mismatches ${r.gMismatches} (${r.writes} writes)`,
    );
    if (r.gMismatches > 0 || r.maxRel > 1e-4) throw new ConfigError("the exported graph does not match the layer (see the numbers above)");
  }
}

/** Add `aura export-onnx` to the CLI. */
export function registerOnnxCommands(program: Command): void {
  program
    .command("export-onnx")
    .description(`export the batch-1 step of an aura checkpoint as an ONNX graph (opset ${ONNX_OPSET}): z, M, m -> action, g, p, surprise, M_next, m_next`)
    .requiredOption("--checkpoint <path>", "checkpoint written by `aura train` (an aura arm)")
    .option("--out <file>", "ONNX file to write", "model.onnx")
    .option("--verify <steps>", "also run this many random steps in onnxruntime-node (if installed) and compare with aura-mem", stepsArg)
    .action(async (o: { checkpoint: string; out: string; verify?: number }) => {
      await exportOnnxCommand(o);
    });
}
