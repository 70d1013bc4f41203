// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SplitterHandler} from "./SplitterHandler.sol";
import {RoyaltySplitter} from "../../contracts/RoyaltySplitter.sol";
import {TestUSDC} from "../../contracts/TestUSDC.sol";

/// @dev Invariants of SPEC 2.4, checked after every call of random action sequences.
contract RoyaltySplitterInvariants {
    SplitterHandler internal handler;
    RoyaltySplitter internal splitter;
    TestUSDC internal token;

    function setUp() public {
        handler = new SplitterHandler();
        splitter = handler.splitter();
        token = handler.token();
    }

    /// @dev Only the handler's actions are fuzzed.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Never pays out more than received; nothing appears or disappears.
    function invariant_neverPaysOutMoreThanReceived() public view {
        uint256 out = handler.paidOut();
        require(out <= handler.sentIn(), "paid out more than received");
        require(token.balanceOf(address(splitter)) + out == handler.sentIn(), "tokens created or lost");
        require(splitter.totalReceived() == handler.sentIn(), "totalReceived misses a payment");
    }

    /// A contributor's claimed total never decreases and never exceeds its leaf.
    function invariant_claimsMonotoneAndBounded() public view {
        require(!handler.claimedDecreased(), "claimed total decreased");
        require(!handler.claimedAboveLeaf(), "claimed above leaf");
        require(splitter.totalClaimed() <= handler.activeAllocated(), "claimed above allocation");
    }

    /// Vetoed epochs pay nothing: the ghost account that only they name never gets a unit.
    function invariant_vetoedEpochsPayNothing() public view {
        require(token.balanceOf(handler.ghost()) == 0, "vetoed epoch paid");
        require(splitter.claimed(handler.ghost()) == 0, "vetoed epoch claimed");
    }

    /// Solvency: the balance covers every unclaimed allocation and every unwithdrawn fixed cut.
    function invariant_solvent() public view {
        (, , uint256 allocated) = splitter.activeEpoch();
        uint256 owed = (allocated - splitter.totalClaimed()) + (splitter.ownerAccrued() - splitter.ownerWithdrawn())
            + (splitter.protocolAccrued() - splitter.protocolWithdrawn());
        require(token.balanceOf(address(splitter)) >= owed, "insolvent");
    }
}
