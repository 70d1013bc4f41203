// What this server adds to each payment: the royalty402 extension in the settlement payload
// (the output id and attribution root the splitter emits in PaymentSettled) and the attribution
// record's URL in PAYMENT-RESPONSE.
import type { FastifyRequest } from "fastify";
import type { X402Hooks } from "@royalty402/fastify-x402";
import { ZeroHash, keccak256 } from "ethers";
import { ROYALTY_EXTENSION, type RoyaltyExtension } from "../facilitator/index.ts";

declare module "@royalty402/fastify-x402" {
  interface PaymentOutput {
    /** keccak256 of the output's attribution record (bytes32): committed on-chain with the settlement. */
    attributionRoot?: string;
    /** Where the attribution record is served (default: {publicUrl}/attributions/{outputId}). */
    attributionUrl?: string;
  }
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** A bytes32 output id goes on-chain as is; any other id is hashed into one. */
export function onChainOutputId(outputId: string): string {
  return BYTES32.test(outputId) ? outputId : keccak256(Buffer.from(outputId, "utf8"));
}

export function royaltyHooks(
  attributionUrl: (request: FastifyRequest, outputId: string) => string,
): Pick<X402Hooks, "checkOutput" | "enrichSettlementPayload" | "enrichSettlementResponse"> {
  return {
    checkOutput(output) {
      if (output.attributionRoot !== undefined && !BYTES32.test(output.attributionRoot))
        throw new Error("attributionRoot must be bytes32 hex");
    },
    enrichSettlementPayload({ payment }) {
      const royalty: RoyaltyExtension = {
        outputId: onChainOutputId(payment.outputId),
        attributionRoot: payment.output.attributionRoot ?? ZeroHash,
      };
      return { [ROYALTY_EXTENSION]: royalty };
    },
    enrichSettlementResponse: ({ request, outputId }) => ({ attributionUrl: attributionUrl(request, outputId) }),
  };
}
