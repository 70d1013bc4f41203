// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IDepositCollector} from "./IDepositCollector.sol";

/// @dev The EIP-3009 function the collector calls (the `bytes` signature overload, as USDC v2.2 has).
interface IReceiveWithAuthorization {
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;
}

/// @title ERC3009DepositCollector (local stand-in)
/// @notice Collects a batch-settlement deposit with the payer's EIP-3009 `receiveWithAuthorization`
/// (to = this collector) and forwards it to the escrow. Written from the x402 batch-settlement
/// specification and the reference client's payload for local chains; the installer puts it at the
/// canonical address the reference client signs for. Production uses the canonical deployment.
/// @dev The authorization's nonce is keccak256(abi.encode(channelId, salt)): an authorization signed for one
/// channel cannot fund another. Only the escrow may call: `receiveWithAuthorization` is front-run-safe only
/// if no one else can make this contract use the payer's authorization.
contract ERC3009DepositCollector is IDepositCollector {
    using SafeERC20 for IERC20;

    address public immutable escrow;

    error OnlyEscrow();

    constructor(address escrow_) {
        escrow = escrow_;
    }

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData) external {
        if (msg.sender != escrow) revert OnlyEscrow();
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(collectorData, (uint256, uint256, uint256, bytes));
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        IReceiveWithAuthorization(token).receiveWithAuthorization(
            payer, address(this), amount, validAfter, validBefore, nonce, signature
        );
        IERC20(token).safeTransfer(msg.sender, amount);
    }
}
