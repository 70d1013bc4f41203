// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestUSDC} from "../../contracts/TestUSDC.sol";
import {SplitterFactory} from "../../contracts/SplitterFactory.sol";
import {RoyaltySplitter} from "../../contracts/RoyaltySplitter.sol";
import {IRoyaltySplitter} from "../../contracts/interfaces/IRoyaltySplitter.sol";
import {CheatCodes} from "./Vm.sol";

/// @dev Property tests over single operations with fuzzed amounts and shares.
contract RoyaltySplitterFuzz is CheatCodes {
    TestUSDC internal token;
    SplitterFactory internal factory;

    function setUp() public {
        token = new TestUSDC();
        factory = new SplitterFactory(1);
    }

    function _splitter(uint16 ownerBps, uint16 protocolBps) internal returns (RoyaltySplitter) {
        return RoyaltySplitter(
            factory.createSplitter(
                IRoyaltySplitter.Config({
                    token: address(token),
                    owner: address(0x0A11),
                    facilitator: address(this),
                    oracle: address(this),
                    guardian: address(0x6A4D),
                    protocolRecipient: address(0x0B22),
                    ownerBps: ownerBps,
                    protocolBps: protocolBps,
                    challengePeriod: 1
                }),
                bytes32(0)
            )
        );
    }

    /// Owner cut + protocol cut + contributor pool is exactly what was received, for any shares.
    function testFuzz_fixedCutsPartitionRevenue(uint256 received, uint16 ownerBps, uint16 protocolBps) public {
        received = received % 1e30;
        ownerBps = uint16(ownerBps % 10_001);
        protocolBps = uint16(protocolBps % (10_001 - uint256(ownerBps)));
        RoyaltySplitter s = _splitter(ownerBps, protocolBps);
        token.mint(address(s), received);
        require(s.totalReceived() == received, "received");
        require(s.ownerAccrued() + s.protocolAccrued() == received * (uint256(ownerBps) + protocolBps) / 10_000, "fees floor");
        require(s.ownerAccrued() + s.protocolAccrued() + s.contributorPool() == received, "partition");
    }

    /// Owner cut, protocol cut and pool never shrink as revenue grows (a shrinking pool would strand an
    /// allocation already posted).
    function testFuzz_cutsAndPoolMonotone(uint256 received, uint256 more, uint16 ownerBps, uint16 protocolBps) public {
        received = received % 1e30;
        more = 1 + more % 1000;
        ownerBps = uint16(ownerBps % 10_001);
        protocolBps = uint16(protocolBps % (10_001 - uint256(ownerBps)));
        RoyaltySplitter s = _splitter(ownerBps, protocolBps);
        token.mint(address(s), received);
        (uint256 o, uint256 p, uint256 pool) = (s.ownerAccrued(), s.protocolAccrued(), s.contributorPool());
        token.mint(address(s), more);
        require(s.ownerAccrued() >= o && s.protocolAccrued() >= p && s.contributorPool() >= pool, "shrank");
    }

    /// An epoch may allocate exactly the pool, never a unit more.
    function testFuzz_allocationBoundedByPool(uint256 received, uint256 allocated) public {
        received = received % 1e30;
        RoyaltySplitter s = _splitter(1000, 200);
        token.mint(address(s), received);
        uint256 pool = s.contributorPool();
        allocated = allocated % (pool + 2);
        (bool ok,) = address(s).call(abi.encodeCall(s.postEpoch, (1, bytes32(uint256(1)), allocated, bytes32(0), "")));
        require(ok == (allocated <= pool), "pool bound");
    }

    /// A single-leaf claim pays the leaf exactly once, to the account, whoever calls it.
    function testFuzz_claimPaysLeafOnce(uint256 received, uint256 leafAmount, address account) public {
        vm.assume(account != address(0) && account.code.length == 0);
        received = 1 + received % 1e24;
        RoyaltySplitter s = _splitter(1000, 200);
        token.mint(address(s), received);
        leafAmount = leafAmount % (s.contributorPool() + 1);
        vm.assume(leafAmount > 0);
        bytes32 root = keccak256(bytes.concat(keccak256(abi.encode(account, leafAmount))));
        s.postEpoch(1, root, leafAmount, bytes32(0), "");
        vm.warp(block.timestamp + 1); // past the one-second challenge period
        uint256 before = token.balanceOf(account);
        s.claim(account, leafAmount, new bytes32[](0));
        require(token.balanceOf(account) - before == leafAmount, "leaf paid");
        (bool again,) = address(s).call(abi.encodeCall(s.claim, (account, leafAmount, new bytes32[](0))));
        require(!again, "paid twice");
        require(token.balanceOf(address(s)) == received - leafAmount, "balance");
    }
}
