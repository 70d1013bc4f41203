// Human-readable ABI fragments the CLI and the demo call (matching contracts/interfaces), so
// they work against any deployment without the typechain bindings.
export const SPLITTER_ABI = [
  "function totalReceived() view returns (uint256)",
  "function contributorPool() view returns (uint256)",
  "function ownerAccrued() view returns (uint256)",
  "function protocolAccrued() view returns (uint256)",
  "function claimed(address account) view returns (uint256)",
  "function claim(address account, uint256 cumulativeAmount, bytes32[] proof) returns (uint256 paid)",
  "function claimMany(address[] accounts, uint256[] cumulativeAmounts, bytes32[][] proofs) returns (uint256 paid)",
  "function withdrawOwnerFees() returns (uint256)",
  "function withdrawProtocolFees() returns (uint256)",
  "function activeEpoch() view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated)",
] as const;

export const TOKEN_ABI = [
  "function balanceOf(address account) view returns (uint256)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
] as const;
