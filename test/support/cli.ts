// The royalty402 CLI as a long-running child process (chain, serve): started and awaited until its
// output shows it is ready, then stopped with SIGINT as a user's Ctrl+C would.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export const BIN = resolve(import.meta.dirname, "../../bin/royalty402.js");

/** Starts `royalty402 <args>` in `cwd` (`env` over the process's) and waits until its output matches `ready`.
 * The child is pushed onto `children` at once, so a test's afterAll stops it even if it never got ready. */
export function startCli(
  args: string[],
  ready: RegExp,
  options: { cwd: string; children: ChildProcess[]; env?: NodeJS.ProcessEnv },
): Promise<{ child: ChildProcess; output: () => string; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  options.children.push(child);
  let text = "";
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${text.slice(-2000)}`)), 90_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = ready.exec(text);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, output: () => text, match });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}: ${text.slice(-2000)}`)));
  });
}

/** SIGINT, then the exit code (at once if the child has already exited). */
export function stopCli(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => {
    child.removeAllListeners("exit");
    child.once("exit", (code) => r(code));
    child.kill("SIGINT");
  });
}
