// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IRoyaltySplitter
/// @notice One splitter per model endpoint: the x402 `payTo`. It receives payments, divides them
/// into fixed cuts (model owner, protocol) and a contributor pool paid out through cumulative
/// Merkle claims posted by the attribution oracle in epochs.
interface IRoyaltySplitter {
    /// @notice Configuration fixed at creation (stored in the clone's code as immutable arguments).
    struct Config {
        address token; // EIP-3009 payment token (USDC)
        address owner; // model owner: receives ownerBps, manages facilitators
        address facilitator; // initial facilitator (the host's relayer); the owner may revoke it
        address oracle; // posts epochs
        address guardian; // vetoes pending epochs, pauses settlement
        address protocolRecipient; // receives protocolBps
        uint16 ownerBps;
        uint16 protocolBps;
        uint32 challengePeriod; // seconds a posted epoch waits before it becomes claimable (may be 0)
    }

    /// @notice A payer's EIP-3009 TransferWithAuthorization (to = this splitter), plus what it bought.
    struct Settlement {
        bytes32 outputId; // the model output this payment bought
        bytes32 attributionRoot; // hash of that output's attribution record
        address from;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature; // 65-byte ECDSA, or ERC-1271 signature bytes
    }

    event PaymentSettled(
        bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot
    );
    /// @dev `reason` is the revert data of the token call (e.g. "FiatTokenV2: authorization is used or canceled").
    event PaymentSkipped(bytes32 indexed outputId, address indexed payer, bytes32 nonce, bytes reason);
    event FacilitatorSet(address indexed facilitator, bool allowed);
    event SettlementPaused(bool paused);
    event EpochPosted(
        uint256 indexed epoch,
        bytes32 claimsRoot,
        uint256 cumulativeAllocated,
        bytes32 recordsRoot,
        string uri,
        uint64 activeAt
    );
    event EpochVetoed(uint256 indexed epoch);
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);
    event FeeWithdrawn(address indexed recipient, uint256 amount);

    error NotFacilitator();
    error NotOwner();
    error NotOracle();
    error NotGuardian();
    error SettlementIsPaused();
    error EmptyBatch();
    error WrongEpoch(uint256 expected, uint256 given);
    error EpochPending(uint256 epoch, uint64 activeAt);
    error NoPendingEpoch();
    error AllocationDecreased(uint256 previous, uint256 given);
    error OverAllocated(uint256 pool, uint256 given);
    error InvalidProof();
    error NothingToClaim();
    error LengthMismatch();
    error InvalidConfig();
    error NotAClone();
    error OverClaimed(uint256 allocated, uint256 claimedTotal);
    error VetoTooLate(uint256 epoch, uint64 activeAt);
    error InvalidClaimant(address account);
    error BatchOutOfGas(uint256 index);

    function config() external view returns (Config memory);

    // ---- receiving ----
    function settle(Settlement calldata s) external;
    /// @return settled how many items settled (the others emitted PaymentSkipped)
    function settleBatch(Settlement[] calldata items) external returns (uint256 settled);
    function setFacilitator(address facilitator, bool allowed) external;
    function isFacilitator(address account) external view returns (bool);
    function setSettlementPaused(bool paused) external;

    // ---- accounting ----
    function totalReceived() external view returns (uint256);
    function contributorPool() external view returns (uint256);
    function ownerAccrued() external view returns (uint256);
    function protocolAccrued() external view returns (uint256);
    function withdrawOwnerFees() external returns (uint256);
    function withdrawProtocolFees() external returns (uint256);

    // ---- epochs ----
    function postEpoch(
        uint256 epoch,
        bytes32 claimsRoot,
        uint256 cumulativeAllocated,
        bytes32 recordsRoot,
        string calldata uri
    ) external;
    function vetoEpoch(uint256 epoch) external;
    /// @notice The epoch claims are paid against: the newest posted epoch whose challenge period has passed.
    function activeEpoch() external view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated);
    function pendingEpoch()
        external
        view
        returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated, uint64 activeAt);

    // ---- claims ----
    function claimed(address account) external view returns (uint256);
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external returns (uint256 paid);
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        returns (uint256 paid);
}
