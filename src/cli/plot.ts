/** `aura` subcommands for the plot module (registered by src/cli/main.ts). */
import type { Command } from "commander";

/** Add this module's commands to the CLI. */
export function registerPlotCommands(_program: Command): void {
  // filled in by the plot work
}
