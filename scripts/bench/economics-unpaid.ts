// The unpaid baseline of bench:economics: the model host's own completion route (server/api/openai.ts:
// prepare, generate, attribute, store the output and its record, answer) served from the same
// configuration by the same services, with no payment plugin in front of it. Each request gets a
// stand-in payment context (a fresh output id, no payment key), so nothing about payment runs.
//   node --import tsx scripts/bench/economics-unpaid.ts <config.json>   (env: ROYALTY402_* keys)
import { randomBytes } from "node:crypto";
import type { PaymentContext } from "@royalty402/fastify-x402";
import Fastify from "fastify";
import { installErrorHandling } from "../../server/api/errors.ts";
import { openAiRoutes } from "../../server/api/openai.ts";
import { securityHeaders } from "../../server/api/security-headers.ts";
import { loadConfig } from "../../server/config/index.ts";
import { buildServices } from "../../server/services.ts";

const { config, secrets } = loadConfig(process.argv[2]);
const services = await buildServices(config, secrets);
const app = Fastify({
  logger: false,
  bodyLimit: config.server.bodyLimitBytes,
  ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
});
securityHeaders(app);
installErrorHandling(app);
app.decorateRequest("x402", null);
app.addHook("preHandler", async (request) => {
  request.x402 = unpaid();
});
await app.register(openAiRoutes, { ctx: services.context, schemes: [] });
app.get("/healthz", async () => ({ status: "ok" }));
await app.listen({ host: config.server.host, port: config.server.port });

const stop = async () => {
  await app.close();
  await services.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());

/** What the route reads of a payment: an output id, no ledger key, and a sink for the output it reports. */
function unpaid(): PaymentContext {
  return {
    resource: "",
    payer: "",
    amount: 0n,
    requirements: { scheme: "none" } as PaymentContext["requirements"],
    payload: {} as PaymentContext["payload"],
    key: null as unknown as PaymentContext["key"],
    outputId: `0x${randomBytes(32).toString("hex")}`,
    output: {},
    setOutput: () => undefined,
  };
}
