// A batch-settlement payment payload of the right shape (signatures are placeholders: the scheme module
// checks shapes only, the facilitator signatures), for the scheme's and the plugin's tests.
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";

export const AUTHORIZER = "0x1111111111111111111111111111111111111111";
export const PAY_TO = "0x2222222222222222222222222222222222222222";
export const ASSET = "0x3333333333333333333333333333333333333333";
export const PAYER = "0xAbCdEf0000000000000000000000000000000001";
const CHANNEL_ID = `0x${"ab".repeat(32)}`;
export const WITHDRAW_DELAY = 3600;

export function channelPayload(
  offer: PaymentRequirements,
  voucher: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
  type = "voucher",
): PaymentPayload {
  return {
    x402Version: 2,
    accepted: offer,
    payload: {
      type,
      channelConfig: {
        payer: PAYER,
        payerAuthorizer: PAYER,
        receiver: PAY_TO,
        receiverAuthorizer: AUTHORIZER,
        token: ASSET,
        withdrawDelay: WITHDRAW_DELAY,
        salt: `0x${"00".repeat(32)}`,
        ...config,
      },
      voucher: { channelId: CHANNEL_ID, maxClaimableAmount: "5000", signature: `0x${"cd".repeat(65)}`, ...voucher },
    },
  } as unknown as PaymentPayload;
}
