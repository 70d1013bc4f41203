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
import {UptoSettlementReceiver} from "./x402/UptoSettlementReceiver.sol";

/// @title RoyaltySplitter
/// @notice The x402 `payTo` of one model endpoint. Every token transfer into it counts as revenue
/// (received = balance + everything paid out), so a plain EIP-3009 transfer from any facilitator is
/// never missed. Revenue is divided lazily: fixed cuts for the model owner and the protocol, and a
/// contributor pool that the attribution oracle allocates in epochs as a cumulative Merkle root of
/// (account, cumulativeAmount) leaves. Contributors (or keepers for them) claim against that root.
/// @dev Deployed as ERC-1167 clones whose immutable arguments are the abi-encoded Config. Nothing
/// here loops over contributors or payments: settle is O(1), postEpoch O(1), claim O(log leaves).
contract RoyaltySplitter is IRoyaltySplitter, ReentrancyGuardTransient, UptoSettlementReceiver {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;
    /// @dev Gas each batch item's token call may use: enough for an ERC-1271 wallet's signature check,
    /// bounded so that one wallet that burns gas cannot starve the rest of the batch.
    uint256 public constant SETTLE_ITEM_GAS = 300_000;

    /// @dev The implementation's own address: calls on the implementation (not a clone) are refused.
    address private immutable _implementation = address(this);

    // Storage is laid out by who reads it, so each hot path touches as few slots as possible.
    // slot 0: read on every settle
    bool public settlementPaused;
    bool private _initialFacilitatorRevoked;
    // slots 1-2: what a claim reads (with no epoch pending)
    uint128 public totalClaimed;
    uint128 private _activeAllocated;
    bytes32 private _activeRoot;
    // slot 3: epoch numbering; a pending epoch exists while _pendingNumber != 0
    uint64 private _activeNumber;
    uint64 private _pendingNumber;
    uint64 private _pendingActiveAt;
    // slots 4-5: the epoch in its challenge period
    bytes32 private _pendingRoot;
    uint128 private _pendingAllocated;
    // slot 6: fixed cuts paid out so far
    uint128 public ownerWithdrawn;
    uint128 public protocolWithdrawn;

    mapping(address account => uint256 amount) public claimed;
    mapping(address facilitator => bool allowed) private _facilitators;

    // ------------------------------------------------------------------ configuration

    /// @notice The configuration fixed at creation.
    function config() public view returns (Config memory) {
        if (address(this) == _implementation) revert NotAClone();
        return abi.decode(Clones.fetchCloneArgs(address(this)), (Config));
    }

    /// @dev Reads one 32-byte word of the immutable arguments (cheaper than decoding the whole Config
    /// on the settlement path). Word i of abi.encode(Config) is field i.
    function _configWord(uint256 index) private view returns (uint256 value) {
        if (address(this) == _implementation) revert NotAClone();
        assembly ("memory-safe") {
            // Runtime code of an OpenZeppelin clone with immutable args: 0x2d bytes of proxy code, then the args.
            extcodecopy(address(), 0x00, add(0x2d, mul(index, 0x20)), 0x20)
            value := mload(0x00)
        }
    }

    /// @dev Config.oracle, ownerBps, protocolBps and challengePeriod (words 3 and 6-8) in one code copy.
    function _epochConfig()
        private
        view
        returns (address oracle, uint256 ownerBps, uint256 protocolBps, uint256 challengePeriod)
    {
        if (address(this) == _implementation) revert NotAClone();
        assembly ("memory-safe") {
            let m := mload(0x40)
            extcodecopy(address(), m, add(0x2d, 0x60), 0xc0)
            oracle := mload(m)
            ownerBps := mload(add(m, 0x60))
            protocolBps := mload(add(m, 0x80))
            challengePeriod := mload(add(m, 0xa0))
        }
    }

    function _token() private view returns (address) {
        return address(uint160(_configWord(0))); // Config.token
    }

    // ------------------------------------------------------------------ receiving

    /// @notice Registers or revokes a facilitator allowed to call settle/settleBatch. Owner only.
    /// @dev Revoking the initial facilitator from the Config is recorded in a flag.
    function setFacilitator(address facilitator, bool allowed) external {
        Config memory c = config();
        if (msg.sender != c.owner) revert NotOwner();
        if (facilitator == c.facilitator) _initialFacilitatorRevoked = !allowed;
        else _facilitators[facilitator] = allowed;
        emit FacilitatorSet(facilitator, allowed);
    }

    /// @notice Whether `account` may call settle/settleBatch.
    function isFacilitator(address account) public view returns (bool) {
        if (account == address(uint160(_configWord(2)))) return !_initialFacilitatorRevoked; // Config.facilitator
        return _facilitators[account];
    }

    /// @notice Pauses or resumes settle/settleBatch. Guardian only. Claims and fee withdrawals are never paused.
    function setSettlementPaused(bool paused) external {
        if (msg.sender != config().guardian) revert NotGuardian();
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

    /// @notice Settles many payments in one transaction. An item whose authorization fails (used nonce,
    /// short balance, expired, bad signature, a signer wallet using more than SETTLE_ITEM_GAS) is skipped
    /// with PaymentSkipped; the batch never reverts for it. It reverts (BatchOutOfGas) only when an item ran
    /// out of gas after getting less than SETTLE_ITEM_GAS: the transaction itself was short of gas.
    /// @return settled the number of items settled
    function settleBatch(Settlement[] calldata items) external returns (uint256 settled) {
        if (items.length == 0) revert EmptyBatch();
        _checkSettler();
        IERC3009 token = IERC3009(_token());
        for (uint256 i; i < items.length; ++i) {
            Settlement calldata s = items[i];
            uint256 gasBefore = gasleft();
            try token.transferWithAuthorization{gas: SETTLE_ITEM_GAS}(
                s.from, address(this), s.value, s.validAfter, s.validBefore, s.nonce, s.signature
            ) {
                emit PaymentSettled(s.outputId, s.from, s.value, s.nonce, s.attributionRoot);
                ++settled;
            } catch (bytes memory reason) {
                // An item that was given less than its allowance and used up nearly all of it may have
                // failed only because the transaction ran short of gas (a signer wallet running dry
                // surfaces as a bad signature). Never skip a good payment for that: fail the batch so
                // the relayer resubmits it with more gas. A genuinely bad item fails cheaply.
                if (gasBefore < SETTLE_ITEM_GAS * 64 / 63 + 5_000 && gasleft() < gasBefore / 32) {
                    revert BatchOutOfGas(i);
                }
                emit PaymentSkipped(s.outputId, s.from, s.nonce, reason);
            }
        }
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

    // ------------------------------------------------------------------ accounting

    /// @notice Everything ever received: current balance plus everything paid out.
    function totalReceived() public view returns (uint256) {
        return IERC20(_token()).balanceOf(address(this)) + totalClaimed + ownerWithdrawn + protocolWithdrawn;
    }

    /// @notice The model owner's cut of everything received (withdrawn or not).
    function ownerAccrued() public view returns (uint256 ownerCut) {
        Config memory c = config();
        (ownerCut,) = _cuts(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @notice The protocol's cut of everything received (withdrawn or not).
    function protocolAccrued() public view returns (uint256 protocolCut) {
        Config memory c = config();
        (, protocolCut) = _cuts(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @notice What contributors may be allocated in total: everything received minus the fixed cuts.
    function contributorPool() public view returns (uint256) {
        Config memory c = config();
        return _pool(totalReceived(), c.ownerBps, c.protocolBps);
    }

    /// @dev The fixed cuts of `received`. Both cuts are floored together, then split, so that the owner
    /// cut, the protocol cut and the pool each only grow as revenue grows (two independent floors can
    /// both step at once and shrink the pool by a unit, stranding an already posted allocation), and
    /// cuts + pool == received exactly.
    function _cuts(uint256 received, uint256 ownerBps, uint256 protocolBps)
        private
        pure
        returns (uint256 ownerCut, uint256 protocolCut)
    {
        uint256 feeBps = ownerBps + protocolBps;
        if (feeBps == 0) return (0, 0);
        uint256 fees = received * feeBps / BPS;
        ownerCut = fees * ownerBps / feeBps;
        protocolCut = fees - ownerCut;
    }

    function _pool(uint256 received, uint256 ownerBps, uint256 protocolBps) private pure returns (uint256) {
        return received - received * (ownerBps + protocolBps) / BPS;
    }

    /// @notice Pays the model owner's unwithdrawn cut to the owner. Anyone may call.
    function withdrawOwnerFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        (uint256 ownerCut,) = _cuts(totalReceived(), c.ownerBps, c.protocolBps);
        amount = ownerCut - ownerWithdrawn;
        ownerWithdrawn += SafeCast.toUint128(amount);
        _payout(c.token, c.owner, amount);
    }

    /// @notice Pays the protocol's unwithdrawn cut to the protocol fee recipient. Anyone may call.
    function withdrawProtocolFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        (, uint256 protocolCut) = _cuts(totalReceived(), c.ownerBps, c.protocolBps);
        amount = protocolCut - protocolWithdrawn;
        protocolWithdrawn += SafeCast.toUint128(amount);
        _payout(c.token, c.protocolRecipient, amount);
    }

    function _payout(address token, address to, uint256 amount) private {
        if (amount == 0) revert NothingToClaim();
        IERC20(token).safeTransfer(to, amount);
        emit FeeWithdrawn(to, amount);
    }

    // ------------------------------------------------------------------ epochs

    /// @notice Posts the allocation of an epoch. Oracle only. Epochs are sequential; the cumulative
    /// allocation never decreases and never exceeds the contributor pool. With a challenge period the
    /// epoch becomes claimable after it, unless the guardian vetoes it; a vetoed epoch number may be reposted.
    function postEpoch(
        uint256 epoch,
        bytes32 claimsRoot,
        uint256 cumulativeAllocated,
        bytes32 recordsRoot,
        string calldata uri
    ) external {
        (address oracle, uint256 ownerBps, uint256 protocolBps, uint256 challengePeriod) = _epochConfig();
        if (msg.sender != oracle) revert NotOracle();
        uint64 activeNumber = _promoteDuePending();
        if (epoch != uint256(activeNumber) + 1) revert WrongEpoch(uint256(activeNumber) + 1, epoch);
        uint256 previous = _activeAllocated;
        if (cumulativeAllocated < previous) revert AllocationDecreased(previous, cumulativeAllocated);
        uint256 pool = _pool(totalReceived(), ownerBps, protocolBps);
        if (cumulativeAllocated > pool) revert OverAllocated(pool, cumulativeAllocated);

        uint64 activeAt = uint64(block.timestamp + challengePeriod);
        if (challengePeriod == 0) {
            (_activeRoot, _activeAllocated, _activeNumber) =
                (claimsRoot, SafeCast.toUint128(cumulativeAllocated), uint64(epoch));
        } else {
            (_pendingRoot, _pendingAllocated) = (claimsRoot, SafeCast.toUint128(cumulativeAllocated));
            (_pendingNumber, _pendingActiveAt) = (uint64(epoch), activeAt);
        }
        emit EpochPosted(epoch, claimsRoot, cumulativeAllocated, recordsRoot, uri, activeAt);
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

    /// @notice Vetoes the pending epoch before its challenge period ends. Guardian only. It pays nothing.
    function vetoEpoch(uint256 epoch) external {
        if (msg.sender != config().guardian) revert NotGuardian();
        if (_pendingNumber == 0 || _pendingNumber != epoch) revert NoPendingEpoch();
        if (_pendingActiveAt <= block.timestamp) revert VetoTooLate(epoch, _pendingActiveAt);
        _pendingNumber = 0;
        emit EpochVetoed(epoch);
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

    function _pendingIsDue() private view returns (bool) {
        return _pendingNumber != 0 && _pendingActiveAt <= block.timestamp;
    }

    /// @dev Root and allocation that claims are paid against: the pending epoch once its challenge
    /// period is over (promotion in storage waits for the next postEpoch). Without a challenge period
    /// nothing is ever pending, and the check costs no storage read.
    function _claimable() private view returns (bytes32 root, uint256 allocated) {
        if (_configWord(8) != 0 && _pendingIsDue()) return (_pendingRoot, _pendingAllocated); // Config.challengePeriod
        return (_activeRoot, _activeAllocated);
    }

    // ------------------------------------------------------------------ claims

    /// @notice Pays `account` its cumulative allocation minus what it already claimed. Anyone may call
    /// (keepers can push payouts); the tokens always go to `account`. Never paused.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 paid)
    {
        (bytes32 root, uint256 allocated) = _claimable();
        paid = _claimOne(root, account, cumulativeAmount, proof);
        if (paid == 0) revert NothingToClaim();
        _settleClaims(allocated, paid);
        IERC20(_token()).safeTransfer(account, paid);
    }

    /// @notice Claims for many accounts in one call; accounts with nothing new to claim are skipped.
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 paid)
    {
        if (accounts.length != cumulativeAmounts.length || accounts.length != proofs.length) revert LengthMismatch();
        (bytes32 root, uint256 allocated) = _claimable();
        IERC20 token = IERC20(_token());
        uint256[] memory amounts = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            amounts[i] = _claimOne(root, accounts[i], cumulativeAmounts[i], proofs[i]);
            paid += amounts[i];
        }
        _settleClaims(allocated, paid);
        for (uint256 i; i < accounts.length; ++i) {
            if (amounts[i] != 0) token.safeTransfer(accounts[i], amounts[i]);
        }
    }

    /// @dev Verifies a leaf and records the claim; returns the amount newly due (0 if none).
    function _claimOne(bytes32 root, address account, uint256 cumulativeAmount, bytes32[] calldata proof)
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
        emit Claimed(account, paid, cumulativeAmount);
    }

    /// @dev The on-chain conservation check: claims never exceed the allocation, whatever the tree holds.
    function _settleClaims(uint256 allocated, uint256 paid) private {
        uint256 total = totalClaimed + paid;
        if (total > allocated) revert OverClaimed(allocated, total);
        totalClaimed = uint128(total); // <= allocated, which was stored as a uint128
    }
}
