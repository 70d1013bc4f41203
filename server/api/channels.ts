// GET /channels/:payee/refund: the URL an agent gives the reference batch-settlement client's
// `refund(url)`. Without a payment it answers 402 with the payee's channel offer (the client's probe:
// payTo, receiver authorizer, withdrawal delay, from which it derives its channel); with the client's
// refund payload the x402 plugin has the facilitator claim what the channel owes and return the rest
// (PAYMENT-RESPONSE: the refund transaction, the amount returned, the channel's state). It sells nothing:
// a deposit or voucher sent here is refused, and the offer's amount (1) is nominal.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PaymentScheme } from "@royalty402/fastify-x402";
import type { AppContext } from "./context.ts";
import { ApiError } from "./errors.ts";
import { errorSchema, paymentRequiredSchema } from "./schemas.ts";

const CHANNELS = "batch-settlement";

export async function channelRoutes(app: FastifyInstance, opts: { ctx: AppContext; schemes?: readonly PaymentScheme[] }): Promise<void> {
  if (!opts.schemes?.some((s) => s.scheme === CHANNELS)) return;
  const x402 = {
    scheme: CHANNELS,
    resource: (request: FastifyRequest) => (request.params as { payee: string }).payee,
    price: 1n,
    operationsOnly: true,
    discovery: false as const,
    description: "cooperative refund of a batch-settlement channel",
  };
  app.get(
    "/channels/:payee/refund",
    {
      schema: {
        summary: "Cooperative refund of an x402 batch-settlement channel (the reference client's refund(url))",
        description:
          "`payee`: a model id, or `datanet:<id>` for a datanet's paid access. Without PAYMENT-SIGNATURE: 402 with the payee's " +
          "batch-settlement offer. With a refund payload (a zero-charge voucher at the channel's charged amount, optional " +
          "`amount`): the charged vouchers are claimed, the rest of the deposit (or `amount` of it) goes back to the payer; " +
          "PAYMENT-RESPONSE carries the transaction, the amount refunded and extra.channelState. A stale voucher gets the " +
          "corrective 402 (extra.channelState and voucherState) the client resyncs from.",
        tags: ["payments"],
        params: { type: "object", properties: { payee: { type: "string" } }, required: ["payee"] },
        response: {
          200: { description: "refunded; PAYMENT-RESPONSE header: the settlement", type: "object", additionalProperties: true },
          402: paymentRequiredSchema,
          "4xx": errorSchema,
        },
      },
      config: { x402 },
    },
    async () => {
      // The plugin answers every request of this route before its handler (challenge, refund or refusal).
      throw new ApiError(400, "invalid_payload", "this route takes a batch-settlement refund payload only");
    },
  );
}
