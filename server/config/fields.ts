// Field readers for the configuration validator: each checks one value at a named path and
// throws a ConfigError that says which field and what is wrong (never echoing secret values).
import { getAddress, isAddress } from "ethers";
import { ConfigError } from "./errors.ts";

export type Json = Record<string, unknown>;

const show = (v: unknown): string => {
  const s = typeof v === "string" ? JSON.stringify(v) : typeof v === "bigint" ? `${v}` : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function fail(path: string, problem: string): never {
  throw new ConfigError(path, problem);
}

/** An object whose keys are all in `allowed` (a typo is an error, not a silently ignored field). */
export function object(path: string, v: unknown, allowed: readonly string[], forbidden: Record<string, string> = {}): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail(path, `must be an object, got ${show(v)}`);
  for (const key of Object.keys(v as Json)) {
    if (key in forbidden) fail(join(path, key), forbidden[key]);
    if (!allowed.includes(key)) fail(join(path, key), `unknown field (allowed: ${allowed.join(", ")})`);
  }
  return v as Json;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function string(path: string, v: unknown, opts: { pattern?: RegExp; what?: string; max?: number } = {}): string {
  if (typeof v !== "string" || v.length === 0) fail(path, `must be a non-empty string, got ${show(v)}`);
  if (opts.max !== undefined && v.length > opts.max) fail(path, `must be at most ${opts.max} characters`);
  if (opts.pattern && !opts.pattern.test(v)) fail(path, `must be ${opts.what ?? `a string matching ${opts.pattern}`}, got ${show(v)}`);
  return v;
}

export function optionalString(path: string, v: unknown, fallback: string): string {
  return v === undefined ? fallback : typeof v === "string" ? v : fail(path, `must be a string, got ${show(v)}`);
}

export function boolean(path: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") fail(path, `must be true or false, got ${show(v)}`);
  return v;
}

export function integer(path: string, v: unknown, min: number, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  // Environment values arrive as strings.
  const n = typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) fail(path, `must be an integer, got ${show(v)}`);
  if (n < min || n > max) fail(path, `must be an integer in [${min}, ${max}], got ${n}`);
  return n;
}

/** Atomic token units: a decimal string (or a safe integer) with no sign, point or exponent. */
export function amount(path: string, v: unknown, opts: { positive?: boolean; fallback?: bigint } = {}): bigint {
  if (v === undefined && opts.fallback !== undefined) return opts.fallback;
  let a: bigint;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) a = BigInt(v);
  else if (typeof v === "string" && /^\d{1,78}$/.test(v)) a = BigInt(v);
  else return fail(path, `must be a whole number of atomic token units (a decimal string like "1000"), got ${show(v)}`);
  if (a >= 1n << 256n) fail(path, "must fit in uint256");
  if (opts.positive && a === 0n) fail(path, "must be greater than 0");
  return a;
}

export function address(path: string, v: unknown): string {
  // A mixed-case address whose checksum is wrong is most likely a typo: say so.
  if (typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v) && !isAddress(v))
    fail(path, `has an invalid EIP-55 checksum: ${show(v)} (use all lower case or the correct checksum)`);
  if (typeof v !== "string" || !isAddress(v)) fail(path, `must be a 0x-prefixed 20-byte address, got ${show(v)}`);
  return getAddress(v);
}

export function optionalAddress(path: string, v: unknown): string | null {
  return v === undefined || v === null ? null : address(path, v);
}

export function bytes32(path: string, v: unknown): string {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v)) fail(path, `must be a 0x-prefixed 32-byte hex string, got ${show(v)}`);
  return v.toLowerCase();
}

export function url(path: string, v: unknown, schemes: readonly string[]): string {
  const s = string(path, v);
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    return fail(path, `must be a URL (${schemes.join(", ")})`);
  }
  if (!schemes.includes(parsed.protocol.replace(/:$/, "")))
    fail(path, `must use ${schemes.join(" or ")}, got ${parsed.protocol.replace(/:$/, "")}`);
  return s.replace(/\/+$/, "");
}

export function array(path: string, v: unknown, fallback?: unknown[]): unknown[] {
  if (v === undefined && fallback !== undefined) return fallback;
  if (!Array.isArray(v)) fail(path, `must be an array, got ${show(v)}`);
  return v;
}

export function oneOf<T extends string>(path: string, v: unknown, options: readonly T[], fallback?: T): T {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "string" || !(options as readonly string[]).includes(v))
    fail(path, `must be one of ${options.map((o) => JSON.stringify(o)).join(", ")}, got ${show(v)}`);
  return v as T;
}

/** A 0x-prefixed 32-byte private key from the environment. The value itself never appears in errors. */
export function privateKey(name: string, v: string | undefined): string | null {
  if (v === undefined || v.trim() === "") return null;
  const k = v.trim();
  const hex = k.startsWith("0x") ? k : `0x${k}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex))
    fail(`env.${name}`, `must be a 32-byte hex private key (${k.length} characters given; value not shown)`);
  if (/^0x0{64}$/.test(hex)) fail(`env.${name}`, "must not be zero");
  return hex;
}

export const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._:-]{0,127}$/;
export const ID_WHAT = "an id of letters, digits and . _ : - (at most 128 characters, starting with a letter or digit)";
