// royalty402 demo: runs ../demo.ts, then (without --once) keeps the server up until Ctrl+C.
import { runDemo } from "../demo.ts";
import { CliError } from "../errors.ts";
import { untilSignal } from "../signals.ts";

export interface DemoCommandOptions {
  once?: boolean;
  inferences: number;
  documents: number;
  contributors: number;
  concurrency: number;
  epochEvery: number;
  host: string;
  port: number;
  dataDir?: string;
  progress: boolean;
  withholdClaim?: boolean;
}

export async function demo(opts: DemoCommandOptions): Promise<void> {
  if (opts.contributors > opts.documents)
    throw new CliError(
      `--contributors (${opts.contributors}) cannot exceed --documents (${opts.documents}): each contributor gives at least one document.`,
    );
  const result = await runDemo({
    once: opts.once === true,
    inferences: opts.inferences,
    documents: opts.documents,
    contributors: opts.contributors,
    concurrency: opts.concurrency,
    epochEvery: opts.epochEvery,
    host: opts.host,
    port: opts.port,
    dataDir: opts.dataDir ?? null,
    out: process.stdout,
    progress: opts.progress && process.stdout.isTTY === true,
    withholdClaim: opts.withholdClaim === true,
  });
  if (!result.ok) throw new CliError("the demo failed: see the lines marked ✗ above.");
  if (!opts.once) {
    await untilSignal();
    await result.close();
  }
}
