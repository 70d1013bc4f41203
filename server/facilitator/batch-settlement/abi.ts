// The parts of the x402 batch-settlement escrow (contracts/x402/X402BatchSettlement.sol, the reference
// deployment's ABI) and of the splitter that the channel facilitator calls.
import { parseAbi, toEventSelector } from "viem";

const CONFIG =
  "(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)";

export const escrowAbi = parseAbi([
  `function deposit(${CONFIG} config, uint128 amount, address collector, bytes collectorData)`,
  `function claim(((${CONFIG} channel, uint128 maxClaimableAmount) voucher, bytes signature, uint128 totalClaimed)[] voucherClaims)`,
  "function settle(address receiver, address token)",
  `function refund(${CONFIG} config, uint128 amount)`,
  "function multicall(bytes[] data) returns (bytes[] results)",
  "function channels(bytes32 channelId) view returns (uint128 balance, uint128 totalClaimed)",
  "function refundNonce(bytes32 channelId) view returns (uint256)",
  "function pendingWithdrawals(bytes32 channelId) view returns (uint128 amount, uint40 initiatedAt)",
]);

export const splitterLinkAbi = parseAbi([
  "function linkChannelOutputs(bytes32 previousHead, bytes32 outputsRoot, uint256 count, uint256 amount)",
  "function channelLinkHead() view returns (bytes32)",
]);

export const channelLinkEvent = parseAbi(["event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)"]);

export const CHANNEL_OUTPUTS_PAID_TOPIC = toEventSelector(channelLinkEvent[0]);
