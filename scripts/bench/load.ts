// Load generator for bench:server, run as its own process so the client never shares an
// event loop with the servers it measures. Reads one JSON job on stdin:
//   { url, connections, amount? | duration?, headersFile?, method? }
// headersFile holds one PAYMENT-SIGNATURE value per line (pre-signed: no signing in the
// measured window); each request takes the next one. Prints one JSON summary on stdout.
// Throughput is counted from the first request sent to the last response received, measured
// here: autocannon's own `duration` is only checked once per sample interval (1 s by default),
// which overstates short runs by up to a second.
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

interface Job {
  url: string;
  connections: number;
  amount?: number;
  duration?: number;
  headersFile?: string;
  method?: string;
}

const job = JSON.parse(readFileSync(0, "utf8")) as Job;
const headers = job.headersFile ? readFileSync(job.headersFile, "utf8").split("\n").filter(Boolean) : null;
let next = 0;
let first = 0;
let last = 0;

const instance = autocannon(
  {
    url: job.url,
    connections: job.amount ? Math.min(job.connections, job.amount) : job.connections,
    ...(job.amount ? { amount: job.amount } : { duration: job.duration }),
    timeout: 60,
    sampleInt: 50,
    requests: [
      {
        method: (job.method ?? "GET") as "GET",
        setupRequest: (req: any) => {
          if (first === 0) first = performance.now();
          if (!headers) return req;
          const value = headers[next++];
          if (value === undefined) throw new Error("load: ran out of pre-signed payments");
          return { ...req, headers: { ...req.headers, "payment-signature": value } };
        },
      },
    ],
  },
  (err, r) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    const seconds = (last - first) / 1000;
    const codes = Object.fromEntries(
      Object.entries((r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).map(([code, v]) => [
        code,
        v.count,
      ]),
    );
    process.stdout.write(
      `${JSON.stringify({
        requests: r.requests.total,
        statusCodes: codes,
        errors: r.errors,
        timeouts: r.timeouts,
        seconds,
        latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: Math.round(r.latency.average * 10) / 10 },
        cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      })}\n`,
    );
    process.exit(0);
  },
);
instance.on("response", () => {
  last = performance.now();
});
