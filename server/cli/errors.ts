// Errors the CLI reports as one sentence on stderr with a non-zero exit code (no stack trace).
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** One sentence: first line, ending with a full stop. */
export function sentence(message: string): string {
  const line = message.split("\n")[0].trim();
  return /[.!?]$/.test(line) ? line : `${line}.`;
}
