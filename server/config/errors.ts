// A configuration problem names the field and what is wrong with it, on one line, so an
// operator can fix the file (or the environment variable) without reading code.

export class ConfigError extends Error {
  /** Dotted path of the offending field, e.g. "models[1].ownerBps" or "env.ROYALTY402_ORACLE_KEY". */
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`config: ${field}: ${problem}`);
    this.name = "ConfigError";
    this.field = field;
  }
}

export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError;
}
