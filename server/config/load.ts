// Reads the JSON configuration file and validates it with the environment.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ConfigError } from "./errors.ts";
import type { Secrets, ServerConfig } from "./types.ts";
import { validateConfig } from "./validate.ts";

export interface LoadedConfig {
  config: ServerConfig;
  secrets: Secrets;
  /** Absolute path of the file read (null when configured from the environment alone). */
  file: string | null;
}

/** Loads `file` (JSON; relative paths inside it resolve against its folder) and validates it. */
export function loadConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (file === null) return { ...validateConfig({}, { env }), file: null };
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError("file", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError("file", `${path} is not valid JSON: ${(e as Error).message}`);
  }
  return { ...validateConfig(raw, { env, baseDir: dirname(path) }), file: path };
}
