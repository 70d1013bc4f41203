// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IRoyaltySplitter
/// @notice One splitter per model endpoint: the x402 `payTo`. It receives payments, divides them
/// into fixed cuts (model owner, protocol) and a contributor pool paid out through cumulative
/// Merkle claims posted by the attribution oracle in epochs.
interface IRoyaltySplitter {
    /// @notice Configuration fixed at creation (stored in the clone's code as immutable arguments).
    /// The four roles are the initial holders: each can be rotated later (see the role functions).
    struct Config {
        address token; // EIP-3009 payment token (USDC)
        address owner; // model owner: receives ownerBps, manages facilitators
        address facilitator; // initial facilitator (the host's relayer); the owner may revoke it
        address oracle; // posts epochs
        address guardian; // vetoes pending epochs, pauses settlement; non-zero, not the oracle
        address protocolRecipient; // receives protocolBps
        uint16 ownerBps;
        uint16 protocolBps;
        uint32 challengePeriod; // seconds a posted epoch waits before it is claimable (>= the factory's minimum)
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

    // ------------------------------------------------------------------ events

    /// @notice A payment reached the splitter for output `outputId`: the link from the payment to the
    /// output and its attribution record. Emitted by settle, settleBatch and linkPayment.
    event PaymentSettled(
        bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot
    );
    /// @notice Channel payments (x402 batch-settlement) for `count` outputs totalling `amount` were claimed and
    /// swept into this splitter by the escrow; `outputsRoot` is the Merkle root (OpenZeppelin StandardMerkleTree)
    /// over (bytes32 outputId, uint256 amount, bytes32 attributionRoot): the link for channel-paid outputs.
    event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount);
    /// @notice A batch item's authorization failed and was skipped; `reason` is the token call's revert
    /// data (at most 256 bytes, e.g. "FiatTokenV2: authorization is used or canceled").
    event PaymentSkipped(bytes32 indexed outputId, address indexed payer, bytes32 nonce, bytes reason);
    /// @notice The batch ran low on gas before item `firstIndex`: that item and the `count` - 1 after it
    /// were neither settled nor skipped, and may be submitted again.
    event PaymentsDeferred(uint256 firstIndex, uint256 count);
    /// @notice A facilitator was registered (`allowed`) or revoked.
    event FacilitatorSet(address indexed facilitator, bool allowed);
    /// @notice The guardian paused or resumed settlement.
    event SettlementPaused(bool paused);
    /// @notice The oracle posted epoch `epoch`; claims are paid against it from `activeAt` unless vetoed.
    event EpochPosted(
        uint256 indexed epoch,
        bytes32 claimsRoot,
        uint256 cumulativeAllocated,
        bytes32 recordsRoot,
        string uri,
        uint64 activeAt
    );
    /// @notice The guardian vetoed pending epoch `epoch`; that number may be posted again from `repostAfter`.
    event EpochVetoed(uint256 indexed epoch, uint64 repostAfter);
    /// @notice `amount` was paid to `account`, whose claimed total is now `cumulativeAmount`.
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);
    /// @notice claimMany could not pay `account` (its token transfer failed, e.g. a blacklisted address):
    /// nothing was recorded for it, it may claim again later.
    event ClaimSkipped(address indexed account, uint256 amount);
    /// @notice The model owner's cut was paid out.
    event OwnerFeesWithdrawn(address indexed recipient, uint256 amount);
    /// @notice The protocol's cut was paid out.
    event ProtocolFeesWithdrawn(address indexed recipient, uint256 amount);
    /// @notice A role's holder proposed a successor (`role` is "owner", "guardian", "protocolRecipient" or
    /// "oracle"); it takes the role by accepting, not before `readyAt`.
    event RoleProposed(bytes32 indexed role, address indexed proposed, uint64 readyAt);
    /// @notice `account` accepted role `role` (named as in RoleProposed).
    event RoleTransferred(bytes32 indexed role, address indexed previous, address indexed account);
    /// @notice The guardian cancelled the proposed oracle `proposed`.
    event OracleProposalCancelled(address indexed proposed);

    // ------------------------------------------------------------------ errors

    /// @notice The caller is not a registered facilitator.
    error NotFacilitator();
    /// @notice The caller is not the owner.
    error NotOwner();
    /// @notice The caller is not the oracle.
    error NotOracle();
    /// @notice The caller is not the guardian.
    error NotGuardian();
    /// @notice The caller is neither the owner nor the guardian.
    error NotOwnerOrGuardian();
    /// @notice The caller is not the protocol recipient.
    error NotProtocolRecipient();
    /// @notice The caller is not the account proposed for the role.
    error NotProposed();
    /// @notice The proposed oracle may accept only from `readyAt`.
    error OracleNotReady(uint64 readyAt);
    /// @notice An oracle rotation is proposed: the outgoing oracle may not post until it is accepted or cancelled.
    error OracleRotating(address proposed);
    /// @notice The proposed role holder is unusable (zero, or guardian and oracle would be the same account).
    error InvalidRoleHolder(address account);
    /// @notice The guardian paused settlement.
    error SettlementIsPaused();
    /// @notice settleBatch was called with no items.
    error EmptyBatch();
    /// @notice The per-item gas cap is below the minimum a payment needs.
    error ItemGasTooLow(uint256 itemGas, uint256 minimum);
    /// @notice settleBatch: the transaction's gas ran short before item `index` could get its whole cap.
    error BatchOutOfGas(uint256 index);
    /// @notice linkPayment: the token does not report this authorization as used.
    error AuthorizationNotUsed(address payer, bytes32 nonce);
    /// @notice linkPayment: this authorization already has its PaymentSettled link.
    error AlreadyLinked(address payer, bytes32 nonce);
    /// @notice linkChannelOutputs: `head` is the current channelLinkHead (another link landed first), or the root repeats it.
    error StaleChannelLinkHead(bytes32 head);
    /// @notice postEpoch: epochs are sequential; `expected` is the next number.
    error WrongEpoch(uint256 expected, uint256 given);
    /// @notice postEpoch: the previous epoch is still in its challenge period (until `activeAt`).
    error EpochPending(uint256 epoch, uint64 activeAt);
    /// @notice postEpoch: a vetoed epoch number may be posted again only from `repostAfter`.
    error RepostCooldown(uint64 repostAfter);
    /// @notice vetoEpoch: `epoch` is not the pending epoch.
    error NoPendingEpoch();
    /// @notice postEpoch: the cumulative allocation may never decrease.
    error AllocationDecreased(uint256 previous, uint256 given);
    /// @notice postEpoch: the cumulative allocation may never exceed the contributor pool.
    error OverAllocated(uint256 pool, uint256 given);
    /// @notice claim: the Merkle proof does not prove the (account, cumulativeAmount) leaf.
    error InvalidProof();
    /// @notice Nothing new to pay.
    error NothingToClaim();
    /// @notice claimMany: the three arrays differ in length.
    error LengthMismatch();
    /// @notice The factory refuses this configuration (see SplitterFactory.validate).
    error InvalidConfig();
    /// @notice The implementation itself has no configuration: only its clones are usable.
    error NotAClone();
    /// @notice Claims would exceed the active allocation (a posted tree holds more than it allocates).
    error OverClaimed(uint256 allocated, uint256 claimedTotal);
    /// @notice vetoEpoch: the challenge period of `epoch` ended at `activeAt`.
    error VetoTooLate(uint256 epoch, uint64 activeAt);
    /// @notice The splitter itself cannot be a claimant (its payout would count as revenue again).
    error InvalidClaimant(address account);

    function config() external view returns (Config memory);

    // ---- roles ----
    function owner() external view returns (address);
    function oracle() external view returns (address);
    function guardian() external view returns (address);
    function protocolRecipient() external view returns (address);
    function proposeOwner(address account) external;
    function acceptOwner() external;
    function proposeGuardian(address account) external;
    function acceptGuardian() external;
    function proposeProtocolRecipient(address account) external;
    function acceptProtocolRecipient() external;
    function proposeOracle(address account) external;
    function cancelOracleProposal() external;
    function acceptOracle() external;

    // ---- receiving ----
    function settle(Settlement calldata s) external;
    /// @return settled how many items settled (the others emitted PaymentSkipped or were deferred)
    function settleBatch(Settlement[] calldata items) external returns (uint256 settled);
    function settleBatchWithGas(Settlement[] calldata items, uint256 itemGas) external returns (uint256 settled);
    function linkPayment(bytes32 outputId, bytes32 attributionRoot, address payer, uint256 amount, bytes32 nonce)
        external;
    function linkChannelOutputs(bytes32 previousHead, bytes32 outputsRoot, uint256 count, uint256 amount) external;
    function channelLinkHead() external view returns (bytes32);
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
