// The splitter's upto settlement (UptoSettlementReceiver) and the link event it emits, as viem ABIs.
import { parseAbi } from "viem";

const UPTO_SETTLEMENT_TUPLE =
  "(bytes32 outputId, bytes32 attributionRoot, address from, uint256 maxAmount, uint256 amount, " +
  "uint256 nonce, uint256 deadline, uint256 validAfter, bytes signature)";

export const uptoSplitterAbi = parseAbi([
  `function settleUpto(${UPTO_SETTLEMENT_TUPLE} s)`,
  `function settleUptoWithPermit(${UPTO_SETTLEMENT_TUPLE} s, (uint256 value, uint256 deadline, bytes32 r, bytes32 s, uint8 v) permit2612)`,
  `function settleUptoBatch(${UPTO_SETTLEMENT_TUPLE}[] items) returns (uint256 settled)`,
  "function isFacilitator(address account) view returns (bool)",
  "event PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot)",
]);

export const permit2NonceAbi = parseAbi(["function nonceBitmap(address owner, uint256 wordPosition) view returns (uint256)"]);
