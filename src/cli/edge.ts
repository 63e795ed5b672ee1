/** `aura` subcommands for the edge module (registered by src/cli/main.ts). */
import type { Command } from "commander";

/** Add this module's commands to the CLI. */
export function registerEdgeCommands(_program: Command): void {
  // filled in by the edge work
}
