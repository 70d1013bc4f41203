// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice The part of EIP-3009 (as USDC implements it) that the splitter calls.
interface IERC3009 {
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}
