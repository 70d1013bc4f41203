// Talking to a royalty402 server from the command line: one-sentence errors for an unreachable
// server and for refusals (the API's own message).
import { CliError } from "./errors.ts";

export const DEFAULT_SERVER = "http://127.0.0.1:8402";

export function serverUrl(option: string | undefined): string {
  const raw = option ?? process.env.ROYALTY402_URL ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`${JSON.stringify(raw)} is not a server URL (for example ${DEFAULT_SERVER}).`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${raw} is not an http(s) URL.`);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new CliError(
      `cannot reach the royalty402 server at ` +
        `${base}${cause ? ` (${cause})` : ""}: start one with \`royalty402 serve\` or ` +
        `\`royalty402 demo\`, or pass --server.`,
    );
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const b = body as { message?: string; error?: string | { message?: string; code?: string } } | null;
    const message = typeof b?.error === "object" ? b.error.message : b?.message;
    const code = typeof b?.error === "object" ? b.error.code : b?.error;
    throw new CliError(
      `the server refused ${init.method ?? "GET"} ${path} (HTTP ` +
        `${res.status}${code ? `, ${code}` : ""})${message ? `: ${message.replace(/\.$/, "")}` : ""}.`,
    );
  }
  return body;
}

export function getJson<T>(base: string, path: string): Promise<T> {
  return call(base, path) as Promise<T>;
}

export function postJson<T>(base: string, path: string, body: unknown, adminToken?: string): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (adminToken) headers.authorization = `Bearer ${adminToken}`;
  return call(base, path, { method: "POST", headers, body: JSON.stringify(body) }) as Promise<T>;
}

export function adminToken(): string {
  const token = process.env.ROYALTY402_ADMIN_TOKEN;
  if (!token) throw new CliError("set ROYALTY402_ADMIN_TOKEN to the server's admin token (the demo prints one).");
  return token;
}
