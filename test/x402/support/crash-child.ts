// A server process to kill -9 mid-settlement (test/x402-recovery.test.ts): the x402 plugin and
// the embedded facilitator on the parent's chain (over HTTP JSON-RPC) and on a SQLite ledger
// file. It serves one paid request, whose settlement never confirms here (the parent's chain
// does not mine), and prints "sent" once the request is in flight.
// Environment: RPC_URL, CHAIN_ID, RELAYER_KEY, LEDGER_PATH, ASSET, PAY_TO, PAYMENT (a PAYMENT-SIGNATURE value).
import Fastify from "fastify";
import { JsonRpcProvider, Wallet } from "ethers";
import { EmbeddedFacilitator } from "../../../server/facilitator/index.ts";
import { openLedger } from "../../../server/ledger/index.ts";
import { x402Payments } from "../../../server/x402/index.ts";

const env = process.env as Record<string, string>;
const provider = new JsonRpcProvider(env.RPC_URL, Number(env.CHAIN_ID), { staticNetwork: true, batchStallTime: 2 });
const facilitator = await EmbeddedFacilitator.create({
  provider,
  relayer: new Wallet(env.RELAYER_KEY, provider),
  batch: { maxWaitMs: 5, confirmTimeoutMs: 600_000 },
});
const ledger = await openLedger({ sqlitePath: env.LEDGER_PATH });
const app = Fastify({ logger: false });
await app.register(x402Payments, {
  ledger,
  facilitator,
  network: `eip155:${env.CHAIN_ID}`,
  asset: { address: env.ASSET, name: "USD Coin", version: "2" },
  payTo: () => env.PAY_TO,
  publicUrl: "http://models.test",
  reconcile: false,
});
app.post(
  "/v1/completions",
  { config: { x402: { resource: "tiny", price: (request) => BigInt((request.body as { max_tokens: number }).max_tokens) * 100n } } },
  async (request) => {
    request.x402!.setOutput({ attributionRoot: `0x${"ab".repeat(32)}` });
    return { text: "an output that is never delivered", outputId: request.x402!.outputId };
  },
);
await app.ready();
void app.inject({
  method: "POST",
  url: "/v1/completions",
  payload: { model: "tiny", max_tokens: 10 },
  headers: { "payment-signature": env.PAYMENT },
});
process.stdout.write("sent\n");
setInterval(() => undefined, 1000); // stay up until killed
