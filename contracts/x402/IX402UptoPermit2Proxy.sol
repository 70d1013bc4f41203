// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISignatureTransfer} from "./ISignatureTransfer.sol";

/// @title IX402UptoPermit2Proxy
/// @notice The x402 `upto` settlement proxy (canonical address 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002
/// on every EVM chain). It is the Permit2 spender the payer signs for; the signed witness binds the
/// recipient, the only caller allowed to settle and the start of the validity window, so a facilitator
/// chooses the amount (up to the signed maximum) and nothing else.
interface IX402UptoPermit2Proxy {
    /// @notice What the payer signs besides the permit: recipient, settling caller, start of validity.
    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    /// @notice An EIP-2612 approval of Permit2 by the payer, submitted before the transfer.
    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @notice A settlement through settle() completed.
    event Settled();
    /// @notice A settlement through settleWithPermit() completed.
    event SettledWithPermit();

    /// @notice The amount to settle is above the signed maximum.
    error AmountExceedsPermitted();
    /// @notice The caller is not the facilitator the payer signed for.
    error UnauthorizedFacilitator();

    /// @notice Transfers `amount` (at most the signed maximum) from `owner` to `witness.to`.
    /// Only `witness.facilitator` may call it.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;

    /// @notice As settle(), after submitting the payer's EIP-2612 approval of Permit2.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external;
}
