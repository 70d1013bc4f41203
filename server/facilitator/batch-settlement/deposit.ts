// How a deposit payload reaches the escrow: deposit(config, amount, collector, collectorData) through the
// canonical collector of the payload's method. EIP-3009: the payer's receiveWithAuthorization, its nonce bound
// to the channel. Permit2: the payer's PermitWitnessTransferFrom (spender the collector, witness the channel),
// with the payer's EIP-2612 approval of Permit2 from the eip2612GasSponsoring extension when it has none yet.
import { BatchSettlementReason as R, type ChannelPayload, type Permit2Deposit } from "@royalty402/fastify-x402";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { encodeAbiParameters, encodeFunctionData, getAddress, parseErc6492Signature, type Hex } from "viem";
import { ERC3009_DEPOSIT_COLLECTOR_ADDRESS, PERMIT2_DEPOSIT_COLLECTOR_ADDRESS } from "../../chain/x402/addresses.ts";
import { eip2612PermitOf } from "../upto/facilitator.ts";
import { escrowAbi } from "./abi.ts";
import type { Refused } from "./verify.ts";

/** Seconds a Permit2 authorization must still be valid for (the deposit is mined within them). */
const DEADLINE_MARGIN = 6;

export function depositData(payment: PaymentPayload, p: ChannelPayload): Hex {
  const d = p.deposit!;
  const [collector, collectorData]: [Hex, Hex] =
    d.method === "eip3009"
      ? [
          ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
          encodeAbiParameters(
            [{ type: "uint256" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes" }],
            [d.validAfter, d.validBefore, BigInt(d.salt), d.signature],
          ),
        ]
      : [PERMIT2_DEPOSIT_COLLECTOR_ADDRESS, permit2CollectorData(payment, d)];
  return encodeFunctionData({ abi: escrowAbi, functionName: "deposit", args: [p.config, d.amount, collector, collectorData] });
}

function permit2CollectorData(payment: PaymentPayload, d: Permit2Deposit): Hex {
  const permit = eip2612PermitOf(payment);
  const eip2612 = permit
    ? encodeAbiParameters(
        [{ type: "uint256" }, { type: "uint256" }, { type: "uint8" }, { type: "bytes32" }, { type: "bytes32" }],
        [permit.value, permit.deadline, permit.v, permit.r, permit.s],
      )
    : "0x";
  const { signature } = parseErc6492Signature(d.signature);
  return encodeAbiParameters(
    [{ type: "uint256" }, { type: "uint256" }, { type: "bytes" }, { type: "bytes" }],
    [d.nonce, d.deadline, signature, eip2612],
  );
}

/** A Permit2 deposit's fields against the channel and the offer (its signature is checked by simulating the deposit). */
export function checkPermit2Deposit(p: ChannelPayload, requirements: PaymentRequirements, now = Date.now() / 1000): Refused | null {
  const d = p.deposit;
  if (d?.method !== "permit2") return null;
  if (getAddress(d.from) !== getAddress(p.config.payer))
    return { reason: R.permit2InvalidSignature, message: "permit2Authorization.from must be channelConfig.payer" };
  if (getAddress(d.spender) !== getAddress(PERMIT2_DEPOSIT_COLLECTOR_ADDRESS))
    return { reason: R.permit2InvalidSpender, message: `permit2Authorization.spender must be ${PERMIT2_DEPOSIT_COLLECTOR_ADDRESS}` };
  if (getAddress(d.token) !== getAddress(requirements.asset))
    return { reason: R.tokenMismatch, message: `permit2Authorization.permitted.token must be ${requirements.asset}` };
  if (d.channelId !== p.voucher.channelId)
    return { reason: R.channelIdMismatch, message: "permit2Authorization.witness.channelId must be the voucher's channel" };
  if (d.deadline < BigInt(Math.floor(now) + DEADLINE_MARGIN))
    return { reason: R.permit2DeadlineExpired, message: "permit2Authorization.deadline has passed" };
  return null;
}
