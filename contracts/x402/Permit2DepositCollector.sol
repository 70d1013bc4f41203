// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IDepositCollector} from "./IDepositCollector.sol";
import {ISignatureTransfer} from "./ISignatureTransfer.sol";

/// @title Permit2DepositCollector (local stand-in)
/// @notice Collects a batch-settlement deposit with the payer's Permit2 `PermitWitnessTransferFrom` signature
/// (spender = this collector, witness = `DepositWitness(channelId)`), moving the tokens straight to the escrow.
/// For tokens without EIP-3009. Written from the x402 batch-settlement specification and the reference client's
/// payload for local chains; the installer puts it at the canonical address the reference client signs for.
/// @dev collectorData = abi.encode(nonce, deadline, permit2Signature, eip2612PermitData). A non-empty
/// eip2612PermitData = abi.encode(value, deadline, v, r, s) is the payer's EIP-2612 approval of Permit2, tried
/// first (a failure, e.g. a front-run permit, is ignored: Permit2 then needs the allowance anyway). The witness
/// binds the signature to the channel the escrow names; only the escrow may call.
contract Permit2DepositCollector is IDepositCollector {
    bytes32 private constant DEPOSIT_WITNESS_TYPEHASH = keccak256("DepositWitness(bytes32 channelId)");
    string private constant WITNESS_TYPE_STRING =
        "DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions(address token,uint256 amount)";

    address public immutable escrow;
    ISignatureTransfer public immutable permit2;

    error OnlyEscrow();

    constructor(address escrow_, address permit2_) {
        escrow = escrow_;
        permit2 = ISignatureTransfer(permit2_);
    }

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData) external {
        if (msg.sender != escrow) revert OnlyEscrow();
        (uint256 nonce, uint256 deadline, bytes memory signature, bytes memory eip2612) =
            abi.decode(collectorData, (uint256, uint256, bytes, bytes));
        if (eip2612.length > 0) _approvePermit2(payer, token, eip2612);
        permit2.permitWitnessTransferFrom(
            ISignatureTransfer.PermitTransferFrom(ISignatureTransfer.TokenPermissions(token, amount), nonce, deadline),
            ISignatureTransfer.SignatureTransferDetails(msg.sender, amount),
            payer,
            keccak256(abi.encode(DEPOSIT_WITNESS_TYPEHASH, channelId)),
            WITNESS_TYPE_STRING,
            signature
        );
    }

    function _approvePermit2(address payer, address token, bytes memory data) private {
        (uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) = abi.decode(data, (uint256, uint256, uint8, bytes32, bytes32));
        try IERC20Permit(token).permit(payer, address(permit2), value, deadline, v, r, s) {} catch {}
    }
}
