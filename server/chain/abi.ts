// The one place the server's TypeScript describes the contracts, as ethers human-readable ABI
// (mirroring contracts/interfaces/IRoyaltySplitter.sol and EIP-3009), so every module works
// against any deployment without the typechain bindings. test/chain-abi.test.ts checks every
// fragment against the compiled artifacts.

/** IRoyaltySplitter.Config, in declaration order (it is also the clone's immutable arguments). */
const CONFIG_TUPLE =
  "tuple(address token, address owner, address facilitator, address " +
  "oracle, address guardian, address protocolRecipient, uint16 " +
  "ownerBps, uint16 protocolBps, uint32 challengePeriod)";

/** IRoyaltySplitter.Settlement: one EIP-3009 authorization plus the output it bought. */
export const SETTLEMENT_TUPLE =
  "tuple(bytes32 outputId, bytes32 attributionRoot, address " +
  "from, uint256 value, uint256 validAfter, uint256 validBefore, " +
  "bytes32 nonce, bytes signature)";

export const SPLITTER_ABI = [
  `function config() view returns (${CONFIG_TUPLE})`,
  `function settleBatch(${SETTLEMENT_TUPLE}[] items) returns (uint256 settled)`,
  `function settleBatchWithGas(${SETTLEMENT_TUPLE}[] items, uint256 itemGas) returns (uint256 settled)`,
  "function linkPayment(bytes32 outputId, bytes32 attributionRoot, address payer, uint256 amount, bytes32 nonce)",
  "function isFacilitator(address account) view returns (bool)",
  "function owner() view returns (address)",
  "function oracle() view returns (address)",
  "function guardian() view returns (address)",
  "function protocolRecipient() view returns (address)",
  "function totalReceived() view returns (uint256)",
  "function contributorPool() view returns (uint256)",
  "function ownerAccrued() view returns (uint256)",
  "function protocolAccrued() view returns (uint256)",
  "function withdrawOwnerFees() returns (uint256)",
  "function withdrawProtocolFees() returns (uint256)",
  "function postEpoch(uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated, bytes32 recordsRoot, string uri)",
  "function activeEpoch() view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated)",
  "function pendingEpoch() view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated, uint64 activeAt)",
  "function claimed(address account) view returns (uint256)",
  "function claim(address account, uint256 cumulativeAmount, bytes32[] proof) returns (uint256 paid)",
  "function claimMany(address[] accounts, uint256[] cumulativeAmounts, bytes32[][] proofs) returns (uint256 paid)",
  "event PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot)",
  "event PaymentSkipped(bytes32 indexed outputId, address indexed payer, bytes32 nonce, bytes reason)",
  "event PaymentsDeferred(uint256 firstIndex, uint256 count)",
  "event EpochPosted(uint256 indexed epoch, bytes32 claimsRoot, " +
    "uint256 cumulativeAllocated, bytes32 recordsRoot, string uri, " +
    "uint64 activeAt)",
  "event EpochVetoed(uint256 indexed epoch, uint64 repostAfter)",
  "error NotFacilitator()",
  "error SettlementIsPaused()",
  "error EmptyBatch()",
  "error AuthorizationNotUsed(address payer, bytes32 nonce)",
  "error AlreadyLinked(address payer, bytes32 nonce)",
] as const;

export const FACTORY_ABI = [
  `function createSplitter(${CONFIG_TUPLE} config, bytes32 salt) returns (address splitter)`,
  `function predictSplitter(${CONFIG_TUPLE} config, bytes32 salt) view returns (address)`,
] as const;

/** ERC-20 metadata plus the EIP-3009 part of USDC that x402 uses. */
export const TOKEN_ABI = [
  "function name() view returns (string)",
  "function version() view returns (string)",
  "function symbol() view returns (string)",
  "function decimals() view returns (uint8)",
  "function balanceOf(address account) view returns (uint256)",
  "function authorizationState(address authorizer, bytes32 nonce) view returns (bool)",
  "function transferWithAuthorization(address from, address to, " +
    "uint256 value, uint256 validAfter, uint256 validBefore, bytes32 " +
    "nonce, uint8 v, bytes32 r, bytes32 s)",
  "function transferWithAuthorization(address from, address to, " +
    "uint256 value, uint256 validAfter, uint256 validBefore, bytes32 " +
    "nonce, bytes signature)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
] as const;
