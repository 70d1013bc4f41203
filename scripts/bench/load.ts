// Load generator for bench:server, run as its own process so the client never shares an
// event loop with the servers it measures. Reads one JSON job on stdin:
//   { url, connections, amount? | duration?, headersFile?, method?, body?, bodiesFile?, headers?, countBody? }
// headersFile holds one PAYMENT-SIGNATURE value per line (pre-signed: no signing in the
// measured window); each request takes the next one; bodiesFile likewise holds one body per line
// (e.g. MCP tool calls carrying their payment). countBody: how many 200 answers contain this text
// (an MCP tool error is a 200 too). Prints one JSON summary on stdout.
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
  body?: string;
  bodiesFile?: string;
  headers?: Record<string, string>;
  countBody?: string;
}

const job = JSON.parse(readFileSync(0, "utf8")) as Job;
const lines = (file: string | undefined) => (file ? readFileSync(file, "utf8").split("\n").filter(Boolean) : null);
const headers = lines(job.headersFile);
const bodies = lines(job.bodiesFile);
let next = 0;
let nextBody = 0;
let bodyMatches = 0;
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
        ...(job.body === undefined ? {} : { body: job.body }),
        ...(job.headers === undefined ? {} : { headers: job.headers }),
        setupRequest: (req: any) => {
          if (first === 0) first = performance.now();
          if (bodies) {
            const body = bodies[nextBody++];
            if (body === undefined) throw new Error("load: ran out of pre-signed bodies");
            req = { ...req, body };
          }
          if (!headers) return req;
          const value = headers[next++];
          if (value === undefined) throw new Error("load: ran out of pre-signed payments");
          return { ...req, headers: { ...req.headers, "payment-signature": value } };
        },
        onResponse: (status: number, body: string) => {
          if (job.countBody !== undefined && status === 200 && body.includes(job.countBody)) bodyMatches++;
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
        ...(job.countBody === undefined ? {} : { bodyMatches }),
      })}\n`,
    );
    process.exit(0);
  },
);
instance.on("response", () => {
  last = performance.now();
});
