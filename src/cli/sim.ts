/** `aura` subcommands for the sim module (registered by src/cli/main.ts). */
import type { Command } from "commander";

/** Add this module's commands to the CLI. */
export function registerSimCommands(_program: Command): void {
  // filled in by the sim work
}
