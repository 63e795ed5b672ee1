/**
 * Loading `@mujoco/mujoco` (the official WebAssembly build) headless in Node and compiling the
 * tabletop scene into it. One module instance per thread (each worker has its own).
 */
import loadMujoco, { type MainModule, type MjModel } from "@mujoco/mujoco";
import { dirname } from "node:path";
import { ConfigError } from "aura-mem/errors";
import { sceneFiles } from "./scene.js";

let modulePromise: Promise<MainModule> | null = null;

/** The MuJoCo wasm module of this thread (loaded on first use). */
export function mujoco(): Promise<MainModule> {
  modulePromise ??= loadMujoco() as Promise<MainModule>;
  return modulePromise;
}

let counter = 0;

/**
 * Compile the tabletop scene around the Panda found in `robotDir`.
 * @throws ConfigError if the robot directory is unusable or MuJoCo rejects the model.
 */
export async function loadScene(robotDir: string): Promise<{ mj: MainModule; model: MjModel }> {
  const { files, entry } = sceneFiles(robotDir);
  const mj = await mujoco();
  const root = `/aura_sim_${counter++}`;
  const fs = (mj as unknown as { FS: { mkdirTree(p: string): void; writeFile(p: string, d: Uint8Array | string): void } }).FS;
  for (const [rel, data] of files) {
    const p = `${root}/${rel}`;
    fs.mkdirTree(dirname(p));
    fs.writeFile(p, data);
  }
  try {
    const model = mj.MjModel.from_xml_path(`${root}/${entry}`);
    if (!model) throw new Error("MjModel.from_xml_path returned nothing");
    return { mj, model };
  } catch (err) {
    throw new ConfigError(`MuJoCo could not compile the scene from ${robotDir}: ${describe(mj, err)}`);
  }
}

function describe(mj: MainModule, err: unknown): string {
  if (err instanceof Error) return err.message;
  // emscripten exceptions arrive as pointers; getExceptionMessage exists on some builds
  const g = (mj as unknown as { getExceptionMessage?: (e: unknown) => [string, string] }).getExceptionMessage;
  if (typeof g === "function") {
    try {
      return g(err).join(": ");
    } catch {
      /* fall through */
    }
  }
  return String(err);
}
