// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev The few cheatcodes these tests use (Hardhat 3 / EDR implements Foundry's), without forge-std.
interface Vm {
    function warp(uint256 timestamp) external;
    function prank(address sender) external;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function assume(bool condition) external pure;
}

abstract contract CheatCodes {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
}
