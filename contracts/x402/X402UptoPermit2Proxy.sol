// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ISignatureTransfer} from "./ISignatureTransfer.sol";
import {IX402UptoPermit2Proxy} from "./IX402UptoPermit2Proxy.sol";

/// @title X402UptoPermit2Proxy (local stand-in)
/// @notice The x402 `upto` settlement proxy for local chains and tests, written from the interface the
/// reference facilitator calls and the scheme's specification. The installer puts this code at the
/// proxy's canonical address; production uses the canonical deployment.
/// @dev Stateless apart from the transient reentrancy flag; PERMIT2 is an immutable baked into the
/// runtime code, so the code works wherever it is installed.
contract X402UptoPermit2Proxy is IX402UptoPermit2Proxy, ReentrancyGuardTransient {
    /// @notice The tail of the witness type for Permit2 (referenced types in alphabetical order).
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";
    /// @notice EIP-712 type hash of Witness.
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    /// @notice The Permit2 contract this proxy spends through.
    ISignatureTransfer public immutable PERMIT2;

    /// @notice The payer's EIP-2612 permit reverted (e.g. already used); settlement went on with the
    /// allowance Permit2 had.
    event EIP2612PermitFailed(address indexed token, address indexed owner, bytes reason);

    /// @notice The Permit2 address given at construction is zero.
    error InvalidPermit2Address();
    /// @notice The amount to settle is zero (a zero settlement needs no transaction).
    error InvalidAmount();
    /// @notice The witness names no recipient.
    error InvalidDestination();
    /// @notice The payer is the zero address.
    error InvalidOwner();
    /// @notice The witness's validAfter is still in the future.
    error PaymentTooEarly();
    /// @notice The EIP-2612 permit's value is not the Permit2 maximum.
    error Permit2612AmountMismatch();

    constructor(address permit2) {
        if (permit2 == address(0)) revert InvalidPermit2Address();
        PERMIT2 = ISignatureTransfer(permit2);
    }

    /// @inheritdoc IX402UptoPermit2Proxy
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _settle(permit, amount, owner, witness, signature);
        emit Settled();
    }

    /// @inheritdoc IX402UptoPermit2Proxy
    /// @dev For tokens with EIP-2612 the payer needs no gas for the one-time approval. A failing permit
    /// (e.g. already submitted) does not stop the settlement, which then uses the allowance Permit2 has.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        if (permit2612.value != permit.permitted.amount) revert Permit2612AmountMismatch();
        address token = permit.permitted.token;
        try IERC20Permit(token).permit(
            owner, address(PERMIT2), permit2612.value, permit2612.deadline, permit2612.v, permit2612.r, permit2612.s
        ) {} catch (bytes memory reason) {
            emit EIP2612PermitFailed(token, owner, reason);
        }
        _settle(permit, amount, owner, witness, signature);
        emit SettledWithPermit();
    }

    function _settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) private {
        if (amount > permit.permitted.amount) revert AmountExceedsPermitted();
        if (amount == 0) revert InvalidAmount();
        if (msg.sender != witness.facilitator) revert UnauthorizedFacilitator();
        if (owner == address(0)) revert InvalidOwner();
        if (witness.to == address(0)) revert InvalidDestination();
        if (block.timestamp < witness.validAfter) revert PaymentTooEarly();
        bytes32 witnessHash = keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: witness.to, requestedAmount: amount}),
            owner,
            witnessHash,
            WITNESS_TYPE_STRING,
            signature
        );
    }
}
