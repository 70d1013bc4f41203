// Which x402 schemes the paid routes offer. `exact` always; `upto` (pay for the tokens generated)
// when the facilitator can settle it: the embedded one always (the payer names the model's splitter
// as the witness's facilitator, since the splitter settles through the upto proxy and emits the
// PaymentSettled link), a remote one when its /supported lists upto on our network. `batch-settlement`
// (channels) when the embedded facilitator runs them, its relayer being the receiver authorizer.
import type { FastifyBaseLogger } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import { declareEip2612GasSponsoringExtension } from "@x402/extensions";
import { batchSettlementEvmScheme, exactEvmScheme, uptoEvmScheme, type PaymentScheme } from "@royalty402/fastify-x402";
import { uptoOfferExtra } from "../facilitator/upto/facilitator.ts";

export async function offeredSchemes(
  facilitator: FacilitatorClient,
  embedded: boolean,
  network: string,
  log: FastifyBaseLogger,
  channelAuthorizer?: string,
): Promise<PaymentScheme[]> {
  const exact = exactEvmScheme();
  if (embedded) {
    const facilitatorAddress = (payTo: string) => uptoOfferExtra(payTo).facilitatorAddress;
    const upto = uptoEvmScheme({ facilitatorAddress, extensions: declareEip2612GasSponsoringExtension() });
    // The embedded facilitator records a voucher's payment with the voucher, in the ledger (services.ts).
    const channel = { receiverAuthorizer: () => channelAuthorizer!, facilitatorRecordsVouchers: true };
    const channels = channelAuthorizer ? [batchSettlementEvmScheme(channel)] : [];
    return [exact, upto, ...channels];
  }
  const address = await remoteUptoFacilitator(facilitator, network).catch((error) => {
    log.warn({ err: error }, "x402: the facilitator's /supported could not be read; offering exact only");
    return null;
  });
  return address ? [exact, uptoEvmScheme({ facilitatorAddress: () => address })] : [exact];
}

/** The address a remote facilitator settles upto payments from on `network` (its extra or its signer), if it supports upto. */
async function remoteUptoFacilitator(facilitator: FacilitatorClient, network: string): Promise<string | null> {
  const supported = await facilitator.getSupported();
  const kind = supported.kinds.find((k) => k.scheme === "upto" && k.network === network);
  if (!kind) return null;
  const fromExtra = kind.extra?.facilitatorAddress;
  if (typeof fromExtra === "string") return fromExtra;
  const signers = supported.signers?.[network] ?? supported.signers?.[`${network.split(":")[0]}:*`] ?? [];
  return signers[0] ?? null;
}
