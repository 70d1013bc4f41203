// A fastify app with one paid model route, as the model host will wire it: price from
// max_tokens, model from the body, the splitter as payTo, the ledger in a real SQLite file.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import { openLedger } from "../../../server/ledger/index.ts";
import { x402Payments, type PaymentsOptions } from "../../../server/x402/index.ts";
import type { X402Stack } from "./stack.ts";

export const PRICE_PER_TOKEN = 100n;

export async function paidApp(
  s: X402Stack,
  options: {
    facilitator?: FacilitatorClient;
    handler?: (body: any) => Promise<unknown> | unknown;
    plugin?: Partial<PaymentsOptions>;
    sqlitePath?: string;
  } = {},
) {
  const ledger = await openLedger({ sqlitePath: options.sqlitePath ?? join(mkdtempSync(join(tmpdir(), "x402-")), "ledger.sqlite") });
  const app = Fastify({ logger: false });
  const calls: string[] = [];
  await app.register(x402Payments, {
    ledger,
    facilitator: options.facilitator ?? s.facilitator,
    network: s.network,
    asset: { address: s.asset, name: "USD Coin", version: "2" },
    payTo: (model) => (model === "tiny" ? s.payTo : undefined),
    provider: s.ethers.provider,
    publicUrl: "http://models.test",
    ...options.plugin,
  });
  app.post(
    "/v1/completions",
    {
      config: {
        x402: {
          resource: (request) => (request.body as { model?: string })?.model ?? "",
          price: (request) => BigInt((request.body as { max_tokens?: number })?.max_tokens ?? 100) * PRICE_PER_TOKEN,
          description: "completion",
        },
      },
    },
    async (request) => {
      const body = request.body as any;
      calls.push(request.x402!.payer);
      const replaced = await options.handler?.(body);
      if (body.fail) throw new Error("model backend crashed");
      request.x402!.setOutput({ attributionRoot: `0x${"ab".repeat(32)}` });
      // A handler may answer with its own body (e.g. a stream); otherwise a JSON completion.
      return replaced ?? { text: `completion for ${body.prompt}`, outputId: request.x402!.outputId };
    },
  );
  app.get("/free", async () => ({ ok: true }));
  await app.ready();
  return { app, ledger, calls };
}
