// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {TestUSDC} from "../../contracts/TestUSDC.sol";
import {SplitterFactory} from "../../contracts/SplitterFactory.sol";
import {RoyaltySplitter} from "../../contracts/RoyaltySplitter.sol";
import {IRoyaltySplitter} from "../../contracts/interfaces/IRoyaltySplitter.sol";
import {CheatCodes} from "./Vm.sol";

/// @dev Drives a splitter through random sequences of payments (settled and plain), epochs (honest,
/// pending, vetoed and over-generous trees), claims and fee withdrawals, and keeps the ghost state
/// the invariants compare against. It plays every privileged role itself.
contract SplitterHandler is CheatCodes {
    uint256 internal constant CONTRIBUTORS = 4;
    uint256 internal constant PAYER_KEY = 0xA11CE;
    uint32 internal constant CHALLENGE = 1 hours;

    TestUSDC public token;
    RoyaltySplitter public splitter;
    address public payer;
    address public owner = address(0x0A11);
    address public protocol = address(0x0B22);
    /// @dev Appears only in vetoed epochs: must never receive anything.
    address public ghost = address(0x6057);
    /// @dev The guardian must not be the oracle (this handler): it vetoes through a prank.
    address public guardian = address(0x6A4D);
    /// @dev After a veto no epoch may be posted before this time.
    uint256 public repostAfter;
    address[CONTRIBUTORS] public contributors;

    uint256 public sentIn; // everything transferred into the splitter
    uint256 public epochNumber; // last epoch posted and not vetoed
    uint256 public vetoed; // how many epochs were vetoed
    uint256 public nonceSeq;

    // The leaves of the newest posted (possibly pending) honest epoch and of the active one.
    uint256[CONTRIBUTORS] public pendingLeaves;
    uint256[CONTRIBUTORS] public activeLeaves;
    uint256 public pendingAllocated;
    uint256 public activeAllocated;
    bool public hasPending;
    uint256 public pendingActiveAt;
    mapping(address => uint256) public lastClaimed;
    bool public claimedDecreased;
    bool public claimedAboveLeaf;

    constructor() {
        token = new TestUSDC();
        SplitterFactory factory = new SplitterFactory(1);
        payer = vm.addr(PAYER_KEY);
        for (uint256 i; i < CONTRIBUTORS; ++i) contributors[i] = address(uint160(0xC000 + i));
        IRoyaltySplitter.Config memory c = IRoyaltySplitter.Config({
            token: address(token),
            owner: owner,
            facilitator: address(this),
            oracle: address(this),
            guardian: guardian,
            protocolRecipient: protocol,
            ownerBps: 1500,
            protocolBps: 250,
            challengePeriod: CHALLENGE
        });
        splitter = RoyaltySplitter(factory.createSplitter(c, keccak256("invariant")));
    }

    // ---------------------------------------------------------------- actions

    /// Settles a payment signed by the payer (EIP-3009), through the splitter.
    function pay(uint256 amount) external {
        amount = 1 + amount % 10_000_000;
        token.mint(payer, amount);
        bytes32 nonce = keccak256(abi.encode(++nonceSeq));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_KEY, _authDigest(amount, nonce));
        splitter.settle(
            IRoyaltySplitter.Settlement({
                outputId: nonce,
                attributionRoot: bytes32(amount),
                from: payer,
                value: amount,
                validAfter: 0,
                validBefore: block.timestamp + 1 hours,
                nonce: nonce,
                signature: abi.encodePacked(r, s, v)
            })
        );
        sentIn += amount;
    }

    /// A plain transfer from anyone: it must count as revenue too.
    function payPlain(uint256 amount) external {
        amount = 1 + amount % 10_000_000;
        token.mint(address(this), amount);
        token.transfer(address(splitter), amount);
        sentIn += amount;
    }

    /// Posts the next honest epoch: random increments within what the pool allows.
    function postEpoch(uint256 seed) external {
        if ((hasPending && block.timestamp < pendingActiveAt) || block.timestamp < repostAfter) return;
        _promote();
        uint256 room = splitter.contributorPool() - activeAllocated;
        uint256[CONTRIBUTORS] memory leaves = activeLeaves;
        uint256 allocated = activeAllocated;
        for (uint256 i; i < CONTRIBUTORS; ++i) {
            uint256 add = room == 0 ? 0 : uint256(keccak256(abi.encode(seed, i))) % (room / CONTRIBUTORS + 1);
            leaves[i] += add;
            allocated += add;
        }
        splitter.postEpoch(epochNumber + 1, _root(contributors, leaves), allocated, bytes32(seed), "");
        epochNumber += 1;
        pendingLeaves = leaves;
        pendingAllocated = allocated;
        hasPending = true;
        pendingActiveAt = block.timestamp + CHALLENGE;
    }

    /// Posts an epoch that gives the ghost everything, then vetoes it.
    function postAndVeto(uint256 seed) external {
        if ((hasPending && block.timestamp < pendingActiveAt) || block.timestamp < repostAfter) return;
        _promote();
        address[CONTRIBUTORS] memory accounts = contributors;
        accounts[seed % CONTRIBUTORS] = ghost;
        uint256[CONTRIBUTORS] memory leaves = activeLeaves;
        uint256 pool = splitter.contributorPool();
        leaves[seed % CONTRIBUTORS] = pool;
        splitter.postEpoch(epochNumber + 1, _root(accounts, leaves), pool, bytes32(0), "");
        vm.prank(guardian);
        splitter.vetoEpoch(epochNumber + 1);
        vetoed += 1;
        repostAfter = block.timestamp + CHALLENGE;
    }

    /// Lets time pass (epochs leave their challenge period).
    function wait(uint256 secs) external {
        vm.warp(block.timestamp + secs % (2 * CHALLENGE));
    }

    /// A keeper claims for contributor `i` whatever its active leaf allows.
    function claim(uint256 i) external {
        _promote();
        i %= CONTRIBUTORS;
        address account = contributors[i];
        uint256 leaf = activeLeaves[i];
        if (leaf <= splitter.claimed(account)) return;
        splitter.claim(account, leaf, _proof(contributors, activeLeaves, i));
        _observe(account, leaf);
    }

    function withdrawFees(bool ownerSide) external {
        try (ownerSide ? splitter.withdrawOwnerFees : splitter.withdrawProtocolFees)() {} catch {}
    }

    // ---------------------------------------------------------------- ghost bookkeeping

    function paidOut() public view returns (uint256) {
        uint256 sum = token.balanceOf(owner) + token.balanceOf(protocol) + token.balanceOf(ghost);
        for (uint256 i; i < CONTRIBUTORS; ++i) sum += token.balanceOf(contributors[i]);
        return sum;
    }

    function _observe(address account, uint256 leaf) internal {
        uint256 c = splitter.claimed(account);
        if (c < lastClaimed[account]) claimedDecreased = true;
        if (c > leaf) claimedAboveLeaf = true;
        lastClaimed[account] = c;
    }

    function _promote() internal {
        if (hasPending && block.timestamp >= pendingActiveAt) {
            activeLeaves = pendingLeaves;
            activeAllocated = pendingAllocated;
            hasPending = false;
        }
    }

    function _authDigest(uint256 amount, bytes32 nonce) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(),
                payer,
                address(splitter),
                amount,
                uint256(0),
                block.timestamp + 1 hours,
                nonce
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function _leaf(address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
    }

    /// Four leaves, two levels, commutative hashing (what MerkleProof verifies).
    function _root(address[CONTRIBUTORS] memory a, uint256[CONTRIBUTORS] memory v) internal pure returns (bytes32) {
        return Hashes.commutativeKeccak256(
            Hashes.commutativeKeccak256(_leaf(a[0], v[0]), _leaf(a[1], v[1])),
            Hashes.commutativeKeccak256(_leaf(a[2], v[2]), _leaf(a[3], v[3]))
        );
    }

    function _proof(address[CONTRIBUTORS] memory a, uint256[CONTRIBUTORS] memory v, uint256 i)
        internal
        pure
        returns (bytes32[] memory proof)
    {
        proof = new bytes32[](2);
        uint256 sibling = i ^ 1;
        uint256 pair = (i < 2) ? 2 : 0;
        proof[0] = _leaf(a[sibling], v[sibling]);
        proof[1] = Hashes.commutativeKeccak256(_leaf(a[pair], v[pair]), _leaf(a[pair + 1], v[pair + 1]));
    }
}
