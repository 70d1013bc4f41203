// A light, paced paid load for benchmarks: `connections` loops, each posting its next pre-signed
// payment at most `perSecond / connections` times a second (sooner never), until stopped or out
// of payments. Each answer is kept with when its request was sent, so a benchmark can split the
// answers by what the server was doing meanwhile (e.g. before and during an epoch close).
import { performance } from "node:perf_hooks";
import type { Signed } from "./paid-load.ts";

export interface LightAnswer {
  /** Index into the payments given. */
  payment: number;
  /** performance.now() when the request was sent. */
  sentAt: number;
  ms: number;
  status: number;
}

export interface LightLoad {
  readonly answers: LightAnswer[];
  /** Waits for the requests in flight, then resolves with every answer. */
  stop(): Promise<LightAnswer[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function lightLoad(url: string, body: string, payments: Signed[], options: { connections: number; perSecond: number }): LightLoad {
  const answers: LightAnswer[] = [];
  const interval = (1000 * options.connections) / options.perSecond;
  let next = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped && next < payments.length) {
      const payment = next++;
      const sentAt = performance.now();
      let status = 0;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "payment-signature": payments[payment].header },
          body,
        });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0; // no answer (connection refused or reset)
      }
      const ms = performance.now() - sentAt;
      answers.push({ payment, sentAt, ms, status });
      if (ms < interval) await sleep(interval - ms);
    }
  };
  const loops = Array.from({ length: options.connections }, loop);
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return answers;
    },
  };
}
