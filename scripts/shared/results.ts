// scripts/bench/results/reliability.json: each reliability run writes its own section (cases
// tried, kills survived, payments lost/doubled, requests/s, p99...). Several test files run in
// parallel (vitest forks), so a section is merged in under a lock directory, never written blind.
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

export const RESULTS_FILE = fileURLToPath(new URL("../bench/results/reliability.json", import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withLock<T>(run: () => T): Promise<T> {
  const lock = `${RESULTS_FILE}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // A run killed while holding the lock leaves it behind: stale after 30 s.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30_000) rmdirSync(lock);
      } catch {
        // gone meanwhile
      }
      if (attempt > 400) throw new Error(`could not lock ${RESULTS_FILE}`);
      await sleep(25);
    }
  }
  try {
    return run();
  } finally {
    rmdirSync(lock);
  }
}

/** Replaces one section of reliability.json (with the date and machine of this run). */
export async function recordResults(section: string, data: Record<string, unknown>): Promise<void> {
  await withLock(() => {
    let all: Record<string, unknown> = {};
    if (existsSync(RESULTS_FILE)) {
      try {
        all = JSON.parse(readFileSync(RESULTS_FILE, "utf8"));
      } catch {
        all = {}; // a damaged file is rewritten from this run on
      }
    }
    all[section] = { ...data, date: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model } };
    all.summary = summarize(all);
    const ordered = Object.fromEntries(
      Object.keys(all)
        .sort()
        .map((k) => [k, all[k]]),
    );
    const tmp = `${RESULTS_FILE}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(ordered, null, 2)}\n`);
    renameSync(tmp, RESULTS_FILE);
  });
}

type Section = Record<string, any> | undefined;

/** The headline counts across the sections present (each written by its own run). */
function summarize(all: Record<string, unknown>) {
  const [badInput, replay, crash, outage, load] = ["badInput", "replay", "crash", "chainOutage", "load"].map((k) => all[k] as Section);
  const sum = (values: unknown[]) => values.reduce<number>((acc, v) => acc + (typeof v === "number" ? v : 0), 0);
  return {
    badInputCasesTried: badInput?.casesTried ?? null,
    badInputNon4xx: badInput?.non4xx ?? null,
    replayCopiesSent: replay?.copiesSent ?? null,
    killsSurvived: crash?.killsSurvived ?? null,
    paymentsLost: sum([replay?.paymentsLost, crash?.paymentsLost, outage?.rpcDownMidLoad?.paymentsLost, load?.paymentsLost]),
    paymentsDoubled: sum([replay?.paymentsDoubled, crash?.paymentsDoubled, outage?.rpcDownMidLoad?.paymentsDoubled, load?.paymentsDoubled]),
    chargedFor503: outage?.rpcDownMidLoad?.chargedFor503 ?? null,
    loadRequestsPerSecond: load?.requestsPerSecond ?? null,
    loadP99Ms: load?.latencyMs?.p99 ?? null,
    loadErrors: load ? (load.errors ?? 0) + (load.timeouts ?? 0) + (load.non2xx ?? 0) : null,
    sections:
      "badInput (test/reliability-fuzz), replay (test/reliability-replay), " +
      "chainOutage (test/reliability-outage), crash " +
      "(test/reliability-crash), load (npm run bench:reliability)",
  };
}
