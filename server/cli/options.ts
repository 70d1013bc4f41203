// Option parsers that turn bad values into one-sentence errors.
import { CliError } from "./errors.ts";

export function intOption(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}.`);
    return n;
  };
}

export const portOption = intOption("--port", 0, 65_535);

export function positiveInt(flag: string) {
  return intOption(flag, 1, Number.MAX_SAFE_INTEGER);
}
