// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IRoyaltySplitter} from "./interfaces/IRoyaltySplitter.sol";
import {IERC3009} from "./interfaces/IERC3009.sol";
import {RoyaltyMath} from "./libraries/RoyaltyMath.sol";
import {UptoSettlementReceiver} from "./x402/UptoSettlementReceiver.sol";

/// @title RoyaltySplitter
/// @notice The x402 `payTo` of one model endpoint. Every token transfer into it counts as revenue
/// (received = balance + everything paid out), so a plain EIP-3009 transfer from any facilitator is
/// never missed. Revenue is divided lazily: fixed cuts for the model owner and the protocol, and a
/// contributor pool that the attribution oracle allocates in epochs as a cumulative Merkle root of
/// (account, cumulativeAmount) leaves. Contributors (or keepers for them) claim against that root.
/// @dev Deployed as ERC-1167 clones whose immutable arguments are the abi-encoded Config. Nothing
/// here loops over contributors or payments: settle is O(1), postEpoch O(1), claim O(log leaves).
/// Errors and events are declared (and documented) in IRoyaltySplitter.
contract RoyaltySplitter is IRoyaltySplitter, ReentrancyGuardTransient, UptoSettlementReceiver {
    using SafeERC20 for IERC20;

    // ================================================================== constants and storage

    /// @notice Gas each item of settleBatch may use: enough for an ERC-1271 wallet's signature check,
    /// bounded so that one payer that burns gas cannot starve the rest of the batch.
    uint256 public constant SETTLE_ITEM_GAS = 300_000;
    /// @notice The lowest per-item cap settleBatchWithGas accepts (an ECDSA payment needs ~40-65k).
    uint256 public constant MIN_ITEM_GAS = 80_000;
    /// @dev Gas an item needs beside its token call: encoding the call, its event, the deferral event.
    uint256 private constant ITEM_OVERHEAD_GAS = 15_000;
    /// @dev PaymentSkipped keeps at most this much of the token's revert data (a payer's wallet could
    /// otherwise make the batch pay for a huge log).
    uint256 private constant MAX_REASON_BYTES = 256;

    bytes32 private constant ROLE_OWNER = "owner";
    bytes32 private constant ROLE_GUARDIAN = "guardian";
    bytes32 private constant ROLE_PROTOCOL = "protocolRecipient";
    bytes32 private constant ROLE_ORACLE = "oracle";

    /// @dev The implementation's own address: calls on the implementation (not a clone) are refused.
    address private immutable _implementation = address(this);

    // Storage is laid out by who reads it, so each hot path touches as few slots as possible.
    // slot 0: read on every settle
    bool public settlementPaused;
    bool private _initialFacilitatorRevoked;
    // slots 1-2: what a claim reads
    uint128 public totalClaimed;
    uint128 private _activeAllocated;
    bytes32 private _activeRoot;
    // slot 3: epoch numbering; a pending epoch exists while _pendingNumber != 0
    uint64 private _activeNumber;
    uint64 private _pendingNumber;
    uint64 private _pendingActiveAt;
    uint64 private _repostAfter; // set by a veto: no epoch may be posted before it
    // slots 4-5: the epoch in its challenge period
    bytes32 private _pendingRoot;
    uint128 private _pendingAllocated;
    // slot 6: fixed cuts paid out so far
    uint128 public ownerWithdrawn;
    uint128 public protocolWithdrawn;
    // slot 7: read by postEpoch. Zero role addresses mean "still the holder from the Config".
    address private _oracle;
    uint64 private _oracleReadyAt; // non-zero while an oracle rotation is proposed
    // slots 8-10: the other rotated roles
    address private _owner;
    address private _guardian;
    address private _protocolRecipient;
    // slots 11-14: proposed successors
    address public proposedOracle;
    address public proposedOwner;
    address public proposedGuardian;
    address public proposedProtocolRecipient;

    mapping(address account => uint256 amount) public claimed;
    mapping(address facilitator => bool allowed) private _facilitators;
    /// @dev Authorizations (keccak256(payer, nonce)) that linkPayment already linked.
    mapping(bytes32 authorization => bool done) private _linked;
    /// @notice The outputs root of the latest ChannelOutputsPaid. Each link names the head it extends, so a link
    /// sent twice (a sweep that died with its transaction unmined, then sent again) is applied once.
    bytes32 public channelLinkHead;

    // ================================================================== external: configuration and roles

    /// @notice The configuration fixed at creation (its roles are the initial holders; see owner() etc.).
    function config() public view returns (Config memory) {
        _checkClone();
        return abi.decode(Clones.fetchCloneArgs(address(this)), (Config));
    }

    /// @notice The model owner: receives the owner cut, manages facilitators, may propose an oracle.
    function owner() public view returns (address) {
        address a = _owner;
        return a != address(0) ? a : _configAddress(1);
    }

    /// @notice The oracle: posts epochs.
    function oracle() public view returns (address) {
        address a = _oracle;
        return a != address(0) ? a : _configAddress(3);
    }

    /// @notice The guardian: vetoes pending epochs, pauses settlement, may propose or cancel an oracle.
    function guardian() public view returns (address) {
        address a = _guardian;
        return a != address(0) ? a : _configAddress(4);
    }

    /// @notice The protocol fee recipient.
    function protocolRecipient() public view returns (address) {
        address a = _protocolRecipient;
        return a != address(0) ? a : _configAddress(5);
    }

    /// @notice When the proposed oracle may accept (0: no oracle rotation proposed).
    function oracleReadyAt() external view returns (uint64) {
        return _oracleReadyAt;
    }

    /// @notice Proposes a new owner (address(0) withdraws the proposal). Owner only; the new owner accepts.
    function proposeOwner(address account) external {
        if (msg.sender != owner()) revert NotOwner();
        proposedOwner = account;
        emit RoleProposed(ROLE_OWNER, account, uint64(block.timestamp));
    }

    /// @notice The proposed owner takes the role.
    function acceptOwner() external {
        if (msg.sender != proposedOwner || msg.sender == address(0)) revert NotProposed();
        emit RoleTransferred(ROLE_OWNER, owner(), msg.sender);
        (_owner, proposedOwner) = (msg.sender, address(0));
    }

    /// @notice Proposes a new guardian (address(0) withdraws the proposal). Guardian only: the owner
    /// cannot replace the role that checks the oracle it may propose. The new guardian accepts.
    function proposeGuardian(address account) external {
        if (msg.sender != guardian()) revert NotGuardian();
        if (account != address(0)) _checkGuardianCandidate(account, oracle());
        proposedGuardian = account;
        emit RoleProposed(ROLE_GUARDIAN, account, uint64(block.timestamp));
    }

    /// @notice The proposed guardian takes the role.
    function acceptGuardian() external {
        if (msg.sender != proposedGuardian || msg.sender == address(0)) revert NotProposed();
        _checkGuardianCandidate(msg.sender, oracle());
        emit RoleTransferred(ROLE_GUARDIAN, guardian(), msg.sender);
        (_guardian, proposedGuardian) = (msg.sender, address(0));
    }

    /// @notice Proposes a new protocol fee recipient (address(0) withdraws the proposal). The current
    /// recipient only (the model owner cannot redirect the protocol's cut); the new one accepts.
    function proposeProtocolRecipient(address account) external {
        if (msg.sender != protocolRecipient()) revert NotProtocolRecipient();
        proposedProtocolRecipient = account;
        emit RoleProposed(ROLE_PROTOCOL, account, uint64(block.timestamp));
    }

    /// @notice The proposed protocol fee recipient takes the role.
    function acceptProtocolRecipient() external {
        if (msg.sender != proposedProtocolRecipient || msg.sender == address(0)) revert NotProposed();
        emit RoleTransferred(ROLE_PROTOCOL, protocolRecipient(), msg.sender);
        (_protocolRecipient, proposedProtocolRecipient) = (msg.sender, address(0));
    }

    /// @notice Proposes a new oracle: the owner (a lost key) or the guardian (a leaked key). From now the
    /// outgoing oracle may not post; the proposed one accepts after one challenge period, unless the
    /// guardian cancels the proposal meanwhile.
    function proposeOracle(address account) external {
        if (msg.sender != owner() && msg.sender != guardian()) revert NotOwnerOrGuardian();
        _checkOracleCandidate(account, guardian());
        uint64 readyAt = uint64(block.timestamp + _challengePeriod());
        (proposedOracle, _oracleReadyAt) = (account, readyAt);
        emit RoleProposed(ROLE_ORACLE, account, readyAt);
    }

    /// @notice Cancels the proposed oracle; the current oracle may post again. Guardian only.
    function cancelOracleProposal() external {
        if (msg.sender != guardian()) revert NotGuardian();
        address proposed = proposedOracle;
        if (proposed == address(0)) revert NotProposed();
        (proposedOracle, _oracleReadyAt) = (address(0), 0);
        emit OracleProposalCancelled(proposed);
    }

    /// @notice The proposed oracle takes the role, once its delay is over.
    function acceptOracle() external {
        if (msg.sender != proposedOracle || msg.sender == address(0)) revert NotProposed();
        if (block.timestamp < _oracleReadyAt) revert OracleNotReady(_oracleReadyAt);
        _checkOracleCandidate(msg.sender, guardian());
        emit RoleTransferred(ROLE_ORACLE, oracle(), msg.sender);
        (_oracle, _oracleReadyAt, proposedOracle) = (msg.sender, 0, address(0));
    }

    // ================================================================== external: receiving

    /// @notice Registers or revokes a facilitator allowed to settle. Owner only.
    /// @dev Revoking the initial facilitator from the Config is recorded in a flag.
    function setFacilitator(address facilitator, bool allowed) external {
        if (msg.sender != owner()) revert NotOwner();
        if (facilitator == _configAddress(2)) _initialFacilitatorRevoked = !allowed;
        else _facilitators[facilitator] = allowed;
        emit FacilitatorSet(facilitator, allowed);
    }

    /// @notice Whether `account` may call settle, settleBatch, settleBatchWithGas and linkPayment.
    function isFacilitator(address account) public view returns (bool) {
        if (account == _configAddress(2)) return !_initialFacilitatorRevoked; // Config.facilitator
        return _facilitators[account];
    }

    /// @notice Pauses or resumes settlement. Guardian only. Claims and fee withdrawals are never paused.
    function setSettlementPaused(bool paused) external {
        if (msg.sender != guardian()) revert NotGuardian();
        settlementPaused = paused;
        emit SettlementPaused(paused);
    }

    /// @notice Settles one x402 payment: submits the payer's EIP-3009 authorization (to = this splitter)
    /// and records which output it bought. Reverts with the token's reason if the authorization fails.
    function settle(Settlement calldata s) external {
        _checkSettler();
        IERC3009(_token()).transferWithAuthorization(
            s.from, address(this), s.value, s.validAfter, s.validBefore, s.nonce, s.signature
        );
        emit PaymentSettled(s.outputId, s.from, s.value, s.nonce, s.attributionRoot);
    }

    /// @notice Like settleBatchWithGas with SETTLE_ITEM_GAS per item, for callers that let the node estimate
    /// the gas: where that would defer, it reverts with BatchOutOfGas instead (an estimate then covers every
    /// item). A relayer that sets its own gas limit uses settleBatchWithGas, which never reverts for gas.
    function settleBatch(Settlement[] calldata items) external returns (uint256 settled) {
        return _settleBatch(items, SETTLE_ITEM_GAS, false);
    }

    /// @notice Settles many payments in one transaction; each item's token call gets at most `itemGas`.
    /// An item whose authorization fails (used nonce, short balance, expired, bad signature, a payer's
    /// wallet using more than `itemGas`) is skipped with PaymentSkipped. Before each item the loop checks
    /// that the transaction still has gas for a whole item; if not it stops and emits PaymentsDeferred for
    /// the rest. So no item is ever reverted or skipped because of another payer's item.
    /// @return settled the number of items settled
    function settleBatchWithGas(Settlement[] calldata items, uint256 itemGas) external returns (uint256 settled) {
        if (itemGas < MIN_ITEM_GAS) revert ItemGasTooLow(itemGas, MIN_ITEM_GAS);
        return _settleBatch(items, itemGas, true);
    }

    /// @notice Emits the PaymentSettled link for an authorization that was executed without it (e.g.
    /// someone sent it to the token directly before the facilitator settled it). Facilitator only: the
    /// facilitator has checked that the authorization's Transfer of `amount` reached this splitter; the
    /// contract checks that the token reports it used and links each authorization at most once.
    function linkPayment(bytes32 outputId, bytes32 attributionRoot, address payer, uint256 amount, bytes32 nonce)
        external
    {
        _checkSettler();
        if (!IERC3009(_token()).authorizationState(payer, nonce)) revert AuthorizationNotUsed(payer, nonce);
        bytes32 key = keccak256(abi.encode(payer, nonce));
        if (_linked[key]) revert AlreadyLinked(payer, nonce);
        _linked[key] = true;
        emit PaymentSettled(outputId, payer, amount, nonce, attributionRoot);
    }

    /// @notice Commits to the outputs a batch-settlement claim paid for (facilitators; the tokens arrive through
    /// the escrow's settle, which any transfer into the splitter counts). `previousHead` must be channelLinkHead.
    /// Emits ChannelOutputsPaid.
    function linkChannelOutputs(bytes32 previousHead, bytes32 outputsRoot, uint256 count, uint256 amount) external {
        _checkSettler();
        if (previousHead != channelLinkHead || outputsRoot == previousHead) revert StaleChannelLinkHead(channelLinkHead);
        channelLinkHead = outputsRoot;
        emit ChannelOutputsPaid(outputsRoot, count, amount);
    }

    // ================================================================== external: accounting

    /// @notice Everything ever received: current balance plus everything paid out.
    function totalReceived() public view returns (uint256) {
        return IERC20(_token()).balanceOf(address(this)) + totalClaimed + ownerWithdrawn + protocolWithdrawn;
    }

    /// @notice The model owner's cut of everything received (withdrawn or not).
    function ownerAccrued() public view returns (uint256 ownerCut) {
        Config memory c = config();
        (ownerCut,) = RoyaltyMath.cuts(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @notice The protocol's cut of everything received (withdrawn or not).
    function protocolAccrued() public view returns (uint256 protocolCut) {
        Config memory c = config();
        (, protocolCut) = RoyaltyMath.cuts(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @notice What contributors may be allocated in total: everything received minus the fixed cuts.
    function contributorPool() public view returns (uint256) {
        Config memory c = config();
        return RoyaltyMath.pool(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @notice Pays the model owner's unwithdrawn cut to the owner. Anyone may call.
    function withdrawOwnerFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        (uint256 ownerCut,) = RoyaltyMath.cuts(totalReceived(), c.ownerBps, c.protocolBps);
        amount = ownerCut - ownerWithdrawn;
        if (amount == 0) revert NothingToClaim();
        ownerWithdrawn += SafeCast.toUint128(amount);
        address to = owner();
        IERC20(c.token).safeTransfer(to, amount);
        emit OwnerFeesWithdrawn(to, amount);
    }

    /// @notice Pays the protocol's unwithdrawn cut to the protocol fee recipient. Anyone may call.
    function withdrawProtocolFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        (, uint256 protocolCut) = RoyaltyMath.cuts(totalReceived(), c.ownerBps, c.protocolBps);
        amount = protocolCut - protocolWithdrawn;
        if (amount == 0) revert NothingToClaim();
        protocolWithdrawn += SafeCast.toUint128(amount);
        address to = protocolRecipient();
        IERC20(c.token).safeTransfer(to, amount);
        emit ProtocolFeesWithdrawn(to, amount);
    }

    // ================================================================== external: epochs

    /// @notice Posts the allocation of an epoch. Oracle only, and not while an oracle rotation is
    /// proposed. Epochs are sequential; the cumulative allocation never decreases and never exceeds the
    /// contributor pool. The epoch becomes claimable after the challenge period unless the guardian
    /// vetoes it; a vetoed epoch number may be posted again after one more challenge period.
    function postEpoch(
        uint256 epoch,
        bytes32 claimsRoot,
        uint256 cumulativeAllocated,
        bytes32 recordsRoot,
        string calldata uri
    ) external {
        (address configOracle, uint256 ownerBps, uint256 protocolBps, uint256 challengePeriod) = _epochConfig();
        _checkOracle(configOracle);
        uint64 activeNumber = _promoteDuePending();
        if (block.timestamp < _repostAfter) revert RepostCooldown(_repostAfter);
        if (epoch != uint256(activeNumber) + 1) revert WrongEpoch(uint256(activeNumber) + 1, epoch);
        uint256 previous = _activeAllocated;
        if (cumulativeAllocated < previous) revert AllocationDecreased(previous, cumulativeAllocated);
        uint256 pool = RoyaltyMath.pool(totalReceived(), ownerBps, protocolBps);
        if (cumulativeAllocated > pool) revert OverAllocated(pool, cumulativeAllocated);

        uint64 activeAt = uint64(block.timestamp + challengePeriod);
        (_pendingRoot, _pendingAllocated) = (claimsRoot, SafeCast.toUint128(cumulativeAllocated));
        (_pendingNumber, _pendingActiveAt) = (uint64(epoch), activeAt);
        emit EpochPosted(epoch, claimsRoot, cumulativeAllocated, recordsRoot, uri, activeAt);
    }

    /// @notice Vetoes the pending epoch before its challenge period ends. Guardian only. It pays nothing,
    /// and no epoch may be posted for one more challenge period (time to rotate a leaked oracle key out).
    function vetoEpoch(uint256 epoch) external {
        if (msg.sender != guardian()) revert NotGuardian();
        if (_pendingNumber == 0 || _pendingNumber != epoch) revert NoPendingEpoch();
        if (_pendingActiveAt <= block.timestamp) revert VetoTooLate(epoch, _pendingActiveAt);
        uint64 repostAfter = uint64(block.timestamp + _challengePeriod());
        (_pendingNumber, _repostAfter) = (0, repostAfter);
        emit EpochVetoed(epoch, repostAfter);
    }

    /// @inheritdoc IRoyaltySplitter
    function activeEpoch() external view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated) {
        if (_pendingIsDue()) return (_pendingNumber, _pendingRoot, _pendingAllocated);
        return (_activeNumber, _activeRoot, _activeAllocated);
    }

    /// @notice The posted epoch still in its challenge period, if any (all zero otherwise).
    function pendingEpoch()
        external
        view
        returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated, uint64 activeAt)
    {
        if (_pendingNumber == 0 || _pendingIsDue()) return (0, bytes32(0), 0, 0);
        return (_pendingNumber, _pendingRoot, _pendingAllocated, _pendingActiveAt);
    }

    // ================================================================== external: claims

    /// @notice Pays `account` its cumulative allocation minus what it already claimed. Anyone may call
    /// (keepers can push payouts); the tokens always go to `account`. Never paused.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 paid)
    {
        (bytes32 root, uint256 allocated) = _claimable();
        paid = _recordClaim(root, account, cumulativeAmount, proof);
        if (paid == 0) revert NothingToClaim();
        _settleClaims(allocated, paid);
        IERC20(_token()).safeTransfer(account, paid);
        emit Claimed(account, paid, cumulativeAmount);
    }

    /// @notice Claims for many accounts in one call. Accounts with nothing new to claim are skipped; an
    /// account whose transfer fails (e.g. blacklisted by the token) is skipped with ClaimSkipped and
    /// keeps its claim for later. The others are paid.
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 paid)
    {
        if (accounts.length != cumulativeAmounts.length || accounts.length != proofs.length) revert LengthMismatch();
        (bytes32 root, uint256 allocated) = _claimable();
        IERC20 token = IERC20(_token());
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[i];
            uint256 already = claimed[account];
            uint256 amount = _recordClaim(root, account, cumulativeAmounts[i], proofs[i]);
            if (amount == 0) continue;
            if (token.trySafeTransfer(account, amount)) {
                paid += amount;
                emit Claimed(account, amount, cumulativeAmounts[i]);
            } else {
                claimed[account] = already;
                emit ClaimSkipped(account, amount);
            }
        }
        _settleClaims(allocated, paid);
    }

    // ================================================================== internal

    function _checkClone() private view {
        if (address(this) == _implementation) revert NotAClone();
    }

    /// @dev Reads one 32-byte word of the immutable arguments (cheaper than decoding the whole Config
    /// on the settlement path). Word i of abi.encode(Config) is field i.
    function _configWord(uint256 index) private view returns (uint256 value) {
        _checkClone();
        assembly ("memory-safe") {
            // Runtime code of an OpenZeppelin clone with immutable args: 0x2d bytes of proxy code, then the args.
            extcodecopy(address(), 0x00, add(0x2d, mul(index, 0x20)), 0x20)
            value := mload(0x00)
        }
    }

    function _configAddress(uint256 index) private view returns (address) {
        return address(uint160(_configWord(index)));
    }

    function _token() private view returns (address) {
        return _configAddress(0); // Config.token
    }

    function _challengePeriod() private view returns (uint256) {
        return _configWord(8); // Config.challengePeriod
    }

    /// @dev Config.oracle, ownerBps, protocolBps and challengePeriod (words 3 and 6-8) in one code copy.
    function _epochConfig()
        private
        view
        returns (address configOracle, uint256 ownerBps, uint256 protocolBps, uint256 challengePeriod)
    {
        _checkClone();
        assembly ("memory-safe") {
            let m := mload(0x40)
            extcodecopy(address(), m, add(0x2d, 0x60), 0xc0)
            configOracle := mload(m)
            ownerBps := mload(add(m, 0x60))
            protocolBps := mload(add(m, 0x80))
            challengePeriod := mload(add(m, 0xa0))
        }
    }

    /// @dev The caller must be the current oracle, with no rotation proposed (one slot read).
    function _checkOracle(address configOracle) private view {
        (address rotated, uint64 readyAt) = (_oracle, _oracleReadyAt);
        if (msg.sender != (rotated != address(0) ? rotated : configOracle)) revert NotOracle();
        if (readyAt != 0) revert OracleRotating(proposedOracle);
    }

    function _checkGuardianCandidate(address account, address currentOracle) private pure {
        if (account == address(0) || account == currentOracle) revert InvalidRoleHolder(account);
    }

    function _checkOracleCandidate(address account, address currentGuardian) private pure {
        if (account == address(0) || account == currentGuardian) revert InvalidRoleHolder(account);
    }

    function _checkSettler() private view {
        if (settlementPaused) revert SettlementIsPaused();
        if (!isFacilitator(msg.sender)) revert NotFacilitator();
    }

    /// @dev x402 `upto` payments (UptoSettlementReceiver) are settled under the same rules.
    function _checkUptoSettler() internal view override {
        _checkSettler();
    }

    function _uptoToken() internal view override returns (address) {
        return _token();
    }

    function _settleBatch(Settlement[] calldata items, uint256 itemGas, bool deferWhenShort)
        private
        returns (uint256 settled)
    {
        if (items.length == 0) revert EmptyBatch();
        _checkSettler();
        address token = _token();
        // An item may start only if its token call can get the whole cap (the EVM forwards at most 63/64
        // of what is left): then a failure is the item's own, never a shortage caused by earlier items.
        uint256 needed = itemGas + itemGas / 63 + ITEM_OVERHEAD_GAS;
        for (uint256 i; i < items.length; ++i) {
            if (gasleft() < needed) {
                if (!deferWhenShort) revert BatchOutOfGas(i);
                emit PaymentsDeferred(i, items.length - i);
                return settled;
            }
            Settlement calldata s = items[i];
            (bool ok, bytes memory reason) = _tryTransferWithAuthorization(token, s, itemGas);
            if (ok) {
                emit PaymentSettled(s.outputId, s.from, s.value, s.nonce, s.attributionRoot);
                ++settled;
            } else {
                emit PaymentSkipped(s.outputId, s.from, s.nonce, reason);
            }
        }
    }

    /// @dev The token's transferWithAuthorization with at most `itemGas`, keeping at most MAX_REASON_BYTES
    /// of its revert data. The factory checked that the token is a contract.
    function _tryTransferWithAuthorization(address token, Settlement calldata s, uint256 itemGas)
        private
        returns (bool ok, bytes memory reason)
    {
        bytes memory data = abi.encodeCall(
            IERC3009.transferWithAuthorization,
            (s.from, address(this), s.value, s.validAfter, s.validBefore, s.nonce, s.signature)
        );
        assembly ("memory-safe") {
            ok := call(itemGas, token, 0, add(data, 0x20), mload(data), 0, 0)
            if iszero(ok) {
                let size := returndatasize()
                if gt(size, MAX_REASON_BYTES) { size := MAX_REASON_BYTES }
                reason := mload(0x40)
                mstore(reason, size)
                returndatacopy(add(reason, 0x20), 0, size)
                mstore(0x40, add(add(reason, 0x20), and(add(size, 31), not(31))))
            }
        }
    }

    /// @dev Makes a pending epoch whose challenge period is over the active one; reverts if one is
    /// still in its challenge period. Returns the active epoch number.
    function _promoteDuePending() private returns (uint64 activeNumber) {
        uint64 pendingNumber = _pendingNumber;
        if (pendingNumber == 0) return _activeNumber;
        if (_pendingActiveAt > block.timestamp) revert EpochPending(pendingNumber, _pendingActiveAt);
        (_activeRoot, _activeAllocated, _activeNumber) = (_pendingRoot, _pendingAllocated, pendingNumber);
        _pendingNumber = 0;
        return pendingNumber;
    }

    function _pendingIsDue() private view returns (bool) {
        return _pendingNumber != 0 && _pendingActiveAt <= block.timestamp;
    }

    /// @dev Root and allocation that claims are paid against: the pending epoch once its challenge
    /// period is over (promotion in storage waits for the next postEpoch).
    function _claimable() private view returns (bytes32 root, uint256 allocated) {
        if (_pendingIsDue()) return (_pendingRoot, _pendingAllocated);
        return (_activeRoot, _activeAllocated);
    }

    /// @dev Verifies a leaf and records the claim; returns the amount newly due (0 if none).
    function _recordClaim(bytes32 root, address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        private
        returns (uint256 paid)
    {
        // Paying the splitter itself would turn allocated money back into "received" revenue.
        if (account == address(this)) revert InvalidClaimant(account);
        // OpenZeppelin StandardMerkleTree leaf encoding: double keccak of the abi-encoded values.
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 already = claimed[account];
        if (cumulativeAmount <= already) return 0;
        paid = cumulativeAmount - already;
        claimed[account] = cumulativeAmount;
    }

    /// @dev The on-chain conservation check: claims never exceed the allocation, whatever the tree holds.
    function _settleClaims(uint256 allocated, uint256 paid) private {
        uint256 total = totalClaimed + paid;
        if (total > allocated) revert OverClaimed(allocated, total);
        totalClaimed = uint128(total); // <= allocated, which was stored as a uint128
    }
}
