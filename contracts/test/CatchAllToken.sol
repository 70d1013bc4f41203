// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title CatchAllToken (test only)
/// @notice A "token" whose fallback answers every call with one zero word: authorizationState looks fine,
/// and a forged transferWithAuthorization succeeds with nothing moving. The factory must refuse it.
contract CatchAllToken {
    fallback(bytes calldata) external returns (bytes memory) {
        return abi.encode(uint256(0));
    }
}
