// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IRoyaltySplitter} from "./interfaces/IRoyaltySplitter.sol";
import {IERC3009} from "./interfaces/IERC3009.sol";

/// @title RoyaltySplitter
/// @notice The x402 `payTo` of one model endpoint. Every token transfer into it counts as revenue
/// (received = balance + everything paid out), so a plain EIP-3009 transfer from any facilitator is
/// never missed. Revenue is divided lazily: fixed cuts for the model owner and the protocol, and a
/// contributor pool that the attribution oracle allocates in epochs as a cumulative Merkle root of
/// (account, cumulativeAmount) leaves. Contributors (or keepers for them) claim against that root.
/// @dev Deployed as ERC-1167 clones whose immutable arguments are the abi-encoded Config. Nothing
/// here loops over contributors or payments: settle is O(1), postEpoch O(1), claim O(log leaves).
contract RoyaltySplitter is IRoyaltySplitter, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;

    /// @dev Epoch state, packed in two slots.
    struct Epoch {
        bytes32 claimsRoot;
        uint128 cumulativeAllocated;
        uint64 number;
        uint64 activeAt;
    }

    /// @dev The implementation's own address: calls on the implementation (not a clone) are refused.
    address private immutable _implementation = address(this);

    // slot 0: read on every settle, so the two flags share it.
    bool public settlementPaused;
    bool private _initialFacilitatorRevoked;

    uint128 public ownerWithdrawn;
    uint128 public protocolWithdrawn;
    uint256 public totalClaimed;

    Epoch private _active;
    Epoch private _pending; // number == 0: none

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
    function _configWord(uint256 index) private view returns (address value) {
        if (address(this) == _implementation) revert NotAClone();
        assembly ("memory-safe") {
            // Runtime code of an OpenZeppelin clone with immutable args: 0x2d bytes of proxy code, then the args.
            extcodecopy(address(), 0x00, add(0x2d, mul(index, 0x20)), 0x20)
            value := mload(0x00)
        }
    }

    function _token() private view returns (address) {
        return _configWord(0); // Config.token
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
        if (account == _configWord(2)) return !_initialFacilitatorRevoked; // Config.facilitator
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
    /// short balance, expired, bad signature) is skipped with PaymentSkipped; the batch never reverts for it.
    /// @return settled the number of items settled
    function settleBatch(Settlement[] calldata items) external returns (uint256 settled) {
        if (items.length == 0) revert EmptyBatch();
        _checkSettler();
        IERC3009 token = IERC3009(_token());
        for (uint256 i; i < items.length; ++i) {
            Settlement calldata s = items[i];
            try token.transferWithAuthorization(
                s.from, address(this), s.value, s.validAfter, s.validBefore, s.nonce, s.signature
            ) {
                emit PaymentSettled(s.outputId, s.from, s.value, s.nonce, s.attributionRoot);
                ++settled;
            } catch (bytes memory reason) {
                emit PaymentSkipped(s.outputId, s.from, s.nonce, reason);
            }
        }
    }

    function _checkSettler() private view {
        if (settlementPaused) revert SettlementIsPaused();
        if (!isFacilitator(msg.sender)) revert NotFacilitator();
    }

    // ------------------------------------------------------------------ accounting

    /// @notice Everything ever received: current balance plus everything paid out.
    function totalReceived() public view returns (uint256) {
        return IERC20(_token()).balanceOf(address(this)) + totalClaimed + ownerWithdrawn + protocolWithdrawn;
    }

    /// @notice The model owner's cut of everything received (withdrawn or not).
    function ownerAccrued() public view returns (uint256) {
        return totalReceived() * config().ownerBps / BPS;
    }

    /// @notice The protocol's cut of everything received (withdrawn or not).
    function protocolAccrued() public view returns (uint256) {
        return totalReceived() * config().protocolBps / BPS;
    }

    /// @notice What contributors may be allocated in total: received minus both fixed cuts (rounding
    /// dust of the cuts stays in the pool, so no unit is stranded).
    function contributorPool() public view returns (uint256) {
        return _pool(totalReceived(), config());
    }

    function _pool(uint256 received, Config memory c) private pure returns (uint256) {
        return received - received * c.ownerBps / BPS - received * c.protocolBps / BPS;
    }

    /// @notice Pays the model owner's unwithdrawn cut to the owner. Anyone may call.
    function withdrawOwnerFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        amount = totalReceived() * c.ownerBps / BPS - ownerWithdrawn;
        ownerWithdrawn += uint128(amount);
        _payout(c.token, c.owner, amount);
    }

    /// @notice Pays the protocol's unwithdrawn cut to the protocol fee recipient. Anyone may call.
    function withdrawProtocolFees() external nonReentrant returns (uint256 amount) {
        Config memory c = config();
        amount = totalReceived() * c.protocolBps / BPS - protocolWithdrawn;
        protocolWithdrawn += uint128(amount);
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
        Config memory c = config();
        if (msg.sender != c.oracle) revert NotOracle();
        Epoch memory pending = _pending;
        if (pending.number != 0) {
            if (pending.activeAt > block.timestamp) revert EpochPending(pending.number, pending.activeAt);
            _active = pending; // its challenge period is over: promote it
            delete _pending;
        }
        Epoch memory active = pending.number != 0 ? pending : _active;
        if (epoch != active.number + 1) revert WrongEpoch(active.number + 1, epoch);
        if (cumulativeAllocated < active.cumulativeAllocated) {
            revert AllocationDecreased(active.cumulativeAllocated, cumulativeAllocated);
        }
        uint256 pool = _pool(totalReceived(), c);
        if (cumulativeAllocated > pool) revert OverAllocated(pool, cumulativeAllocated);

        uint64 activeAt = uint64(block.timestamp) + c.challengePeriod;
        Epoch memory posted = Epoch(claimsRoot, uint128(cumulativeAllocated), uint64(epoch), activeAt);
        if (c.challengePeriod == 0) _active = posted;
        else _pending = posted;
        emit EpochPosted(epoch, claimsRoot, cumulativeAllocated, recordsRoot, uri, activeAt);
    }

    /// @notice Vetoes the pending epoch before its challenge period ends. Guardian only. It pays nothing.
    function vetoEpoch(uint256 epoch) external {
        if (msg.sender != config().guardian) revert NotGuardian();
        Epoch memory pending = _pending;
        if (pending.number == 0 || pending.number != epoch) revert NoPendingEpoch();
        if (pending.activeAt <= block.timestamp) revert VetoTooLate(epoch, pending.activeAt);
        delete _pending;
        emit EpochVetoed(epoch);
    }

    /// @inheritdoc IRoyaltySplitter
    function activeEpoch() external view returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated) {
        Epoch memory a = _claimable();
        return (a.number, a.claimsRoot, a.cumulativeAllocated);
    }

    /// @notice The posted epoch still in its challenge period, if any (all zero otherwise).
    function pendingEpoch()
        external
        view
        returns (uint256 epoch, bytes32 claimsRoot, uint256 cumulativeAllocated, uint64 activeAt)
    {
        Epoch memory p = _pending;
        if (p.number == 0 || p.activeAt <= block.timestamp) return (0, bytes32(0), 0, 0);
        return (p.number, p.claimsRoot, p.cumulativeAllocated, p.activeAt);
    }

    /// @dev The epoch claims are paid against: the pending one once its challenge period is over.
    function _claimable() private view returns (Epoch memory) {
        Epoch memory p = _pending;
        if (p.number != 0 && p.activeAt <= block.timestamp) return p;
        return _active;
    }

    // ------------------------------------------------------------------ claims

    /// @notice Pays `account` its cumulative allocation minus what it already claimed. Anyone may call
    /// (keepers can push payouts); the tokens always go to `account`. Never paused.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 paid)
    {
        Epoch memory e = _claimable();
        paid = _claimOne(e.claimsRoot, account, cumulativeAmount, proof);
        if (paid == 0) revert NothingToClaim();
        _settleClaims(e.cumulativeAllocated, paid);
        IERC20(_token()).safeTransfer(account, paid);
    }

    /// @notice Claims for many accounts in one call; accounts with nothing new to claim are skipped.
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 paid)
    {
        if (accounts.length != cumulativeAmounts.length || accounts.length != proofs.length) revert LengthMismatch();
        Epoch memory e = _claimable();
        IERC20 token = IERC20(_token());
        uint256[] memory amounts = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            amounts[i] = _claimOne(e.claimsRoot, accounts[i], cumulativeAmounts[i], proofs[i]);
            paid += amounts[i];
        }
        _settleClaims(e.cumulativeAllocated, paid);
        for (uint256 i; i < accounts.length; ++i) {
            if (amounts[i] != 0) token.safeTransfer(accounts[i], amounts[i]);
        }
    }

    /// @dev Verifies a leaf and records the claim; returns the amount newly due (0 if none).
    function _claimOne(bytes32 root, address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        private
        returns (uint256 paid)
    {
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
        totalClaimed = total;
    }
}
