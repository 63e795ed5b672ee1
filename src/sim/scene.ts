/**
 * The tabletop scene of the closed-loop experiment, written by the project around the MuJoCo
 * Menagerie Franka Panda (read in place from the robot directory, default `../shared/models/franka_emika_panda`,
 * else the copy `aura data fetch panda` made: src/data/paths.ts).
 *
 *   panda_sim.xml   = the Menagerie `panda.xml` with its visual geoms and visual meshes removed (the
 *                     collision geometry, inertias, joints, actuators and gripper tendon are untouched),
 *                     plus one site `tcp` between the fingertips (0.1034 m below the hand frame).
 *   aura_scene.xml  = panda_sim.xml + a table (top at z = 0), three free 4 cm cubes (red, green, blue)
 *                     and two flat target zones (sites, no collision).
 *
 * Only the collision meshes are written to the wasm file system, so the scene compiles in ~0.5 s.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "aura-mem/errors";

/** Cube names, in observation / trace order. */
export const CUBES = ["cube_red", "cube_green", "cube_blue"] as const;
/** Target zone names, in cue order. */
export const ZONES = ["zone_a", "zone_b"] as const;
/** Half edge of a cube (m). */
export const CUBE_HALF = 0.02;
/** Mass of a cube (kg). */
export const CUBE_MASS = 0.05;
/** Zone centres on the table (x, y) in metres (fixed). */
export const ZONE_XY: readonly (readonly [number, number])[] = [
  [0.42, 0.22],
  [0.6, 0.22],
];
/** Radius of a target zone (m): a cube whose centre is within it (in x, y) is "in" the zone. */
export const ZONE_RADIUS = 0.05;
/** Physics time step (s): 500 Hz. */
export const PHYSICS_DT = 0.002;

/** The files that make up the robot + scene, ready for the wasm file system. */
export interface SceneFiles {
  /** path (relative to the scene root) -> contents */
  files: Map<string, Uint8Array | string>;
  /** relative path of the scene XML to compile */
  entry: string;
}

const REQUIRED = ["panda.xml", "assets"];

/**
 * Check that `robotDir` looks like the Menagerie `franka_emika_panda` directory.
 * @throws ConfigError with a message that says where to get it.
 */
export function checkRobotDir(robotDir: string): void {
  const hint =
    `expected the MuJoCo Menagerie franka_emika_panda directory (panda.xml + assets/); get it from ` +
    `https://github.com/google-deepmind/mujoco_menagerie (folder franka_emika_panda) and pass --robot-dir, or run ` +
    "`aura data fetch panda`";
  if (!existsSync(robotDir) || !statSync(robotDir).isDirectory()) {
    throw new ConfigError(`robot directory not found: ${robotDir}; ${hint}`);
  }
  for (const f of REQUIRED) {
    if (!existsSync(join(robotDir, f))) throw new ConfigError(`robot directory ${robotDir} has no ${f}; ${hint}`);
  }
}

/**
 * Derive the collision-only Panda from the Menagerie `panda.xml` text: drop visual geoms and the
 * meshes only they use, add the `tcp` site in the hand. Throws if the file does not look like the
 * Menagerie Panda (the edits would silently miss).
 */
export function derivePanda(pandaXml: string): { xml: string; meshFiles: string[] } {
  const visualGeom = /^\s*<geom\b[^>]*class="visual"[^>]*\/>\s*$/gm;
  const nVisual = (pandaXml.match(visualGeom) ?? []).length;
  if (nVisual === 0 || !/<body name="hand"[^>]*>/.test(pandaXml) || !/name="actuator8"/.test(pandaXml)) {
    throw new ConfigError("panda.xml does not look like the MuJoCo Menagerie Franka Panda (no visual geoms / hand body / actuator8)");
  }
  let xml = pandaXml.replace(visualGeom, "");
  // meshes referenced by a remaining geom
  const used = new Set<string>();
  for (const m of xml.matchAll(/<geom\b[^>]*\bmesh="([^"]+)"/g)) used.add(m[1]!);
  const meshFiles: string[] = [];
  xml = xml.replace(/^\s*<mesh\b([^>]*)\/>\s*$/gm, (line, attrs: string) => {
    const file = /file="([^"]+)"/.exec(attrs)?.[1];
    if (!file) return line;
    const name = /name="([^"]+)"/.exec(attrs)?.[1] ?? file.replace(/\.[^.]+$/, "");
    if (!used.has(name)) return "";
    meshFiles.push(file);
    return line;
  });
  xml = xml.replace(/(<body name="hand"[^>]*>)/, `$1\n<site name="tcp" pos="0 0 0.1034" size="0.005"/>`);
  // the light is only for rendering
  xml = xml.replace(/^\s*<light\b[^>]*\/>\s*$/gm, "");
  return { xml: xml.replace(/\n\s*\n/g, "\n"), meshFiles };
}

/** The scene XML around `panda_sim.xml` (see the module comment). */
export function sceneXml(): string {
  const colours = ["0.85 0.15 0.15 1", "0.15 0.7 0.2 1", "0.15 0.3 0.85 1"];
  const cubes = CUBES.map(
    (name, i) => `
    <body name="${name}" pos="${0.4 + 0.1 * i} -0.1 ${CUBE_HALF}">
      <freejoint name="${name}_joint"/>
      <geom name="${name}_geom" type="box" size="${CUBE_HALF} ${CUBE_HALF} ${CUBE_HALF}" mass="${CUBE_MASS}"
        rgba="${colours[i]}" friction="1.5 0.01 0.0002" condim="4" solref="0.01 1"/>
    </body>`,
  ).join("");
  const zones = ZONES.map(
    (name, i) =>
      `\n    <site name="${name}" type="cylinder" pos="${ZONE_XY[i]![0]} ${ZONE_XY[i]![1]} 0.0005" size="${ZONE_RADIUS} 0.0005" rgba="${i === 0 ? "0.9 0.8 0.2 0.6" : "0.6 0.3 0.8 0.6"}"/>`,
  ).join("");
  return `<mujoco model="aura-sim tabletop">
  <include file="panda_sim.xml"/>
  <option timestep="${PHYSICS_DT}" integrator="implicitfast"/>
  <worldbody>
    <geom name="table" type="box" pos="0.45 0 -0.02" size="0.5 0.6 0.02" rgba="0.55 0.45 0.35 1" friction="1 0.005 0.0001"/>${zones}${cubes}
  </worldbody>
</mujoco>
`;
}

/**
 * Read the robot directory and assemble the scene files (collision meshes only).
 * @throws ConfigError if the directory or a mesh file is missing.
 */
export function sceneFiles(robotDir: string): SceneFiles {
  checkRobotDir(robotDir);
  const { xml, meshFiles } = derivePanda(readFileSync(join(robotDir, "panda.xml"), "utf8"));
  const files = new Map<string, Uint8Array | string>();
  files.set("panda_sim.xml", xml);
  files.set("aura_scene.xml", sceneXml());
  for (const f of meshFiles) {
    const p = join(robotDir, "assets", f);
    if (!existsSync(p)) throw new ConfigError(`robot directory ${robotDir} lacks the mesh assets/${f}`);
    files.set(join("assets", f), new Uint8Array(readFileSync(p)));
  }
  return { files, entry: "aura_scene.xml" };
}
