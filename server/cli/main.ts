// The royalty402 command line (bin/royalty402.js runs this). One binary:
//   demo · serve · chain · datanet add|build|inspect · epoch close|verify · earnings · claim · pay
// Every command has --help; every error is one sentence on stderr with a non-zero exit code
// (1; 2 for a configuration error).
import { CommanderError, type Command } from "commander";
import { isConfigError } from "../config/errors.ts";
import { CliError, sentence } from "./errors.ts";
import { buildProgram } from "./program.ts";

/** Only the SQLite ExperimentalWarning is hidden (node:sqlite is the ledger's embedded store). */
function quietExperimentalWarnings(): void {
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name === "ExperimentalWarning" && /SQLite/i.test(w.message)) return;
    process.stderr.write(`${w.name}: ${w.message}\n`);
  });
}

/** Usage errors (unknown option, missing argument…) become one sentence too, for every subcommand. */
function oneSentenceErrors(command: Command): void {
  command
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`royalty402: ${sentence(text.replace(/^error: /, ""))}\n`) });
  for (const sub of command.commands) oneSentenceErrors(sub);
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  quietExperimentalWarnings();
  const program = buildProgram();
  oneSentenceErrors(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    // Help and version end with code 0; usage errors were already printed by outputError.
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`royalty402: ${describe(error)}\n`);
    if (process.env.ROYALTY402_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
    return error instanceof CliError ? error.exitCode : isConfigError(error) ? 2 : 1;
  }
}

function describe(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  return sentence(message);
}
