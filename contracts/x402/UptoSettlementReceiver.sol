// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISignatureTransfer} from "./ISignatureTransfer.sol";
import {IX402UptoPermit2Proxy} from "./IX402UptoPermit2Proxy.sol";
import {IRoyaltySplitter} from "../interfaces/IRoyaltySplitter.sol";

/// @title UptoSettlementReceiver
/// @notice x402 `upto` settlement for a splitter: the splitter itself is the facilitator named in the
/// payer's Permit2 witness (and the recipient), so only the splitter can settle the authorization, and
/// only its registered facilitators can make it do so. Each settlement moves the metered amount from the
/// payer to the splitter in one transfer and emits the same PaymentSettled link as an EIP-3009 payment,
/// so epochs cover both schemes alike.
/// @dev Mixed into RoyaltySplitter, which supplies the settler check and the token.
abstract contract UptoSettlementReceiver {
    /// @notice The canonical x402 upto proxy (the same address on every EVM chain).
    IX402UptoPermit2Proxy public constant UPTO_PROXY = IX402UptoPermit2Proxy(0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002);
    /// @dev Gas each batch item's proxy call may use (Permit2, the token, an ERC-1271 wallet's check).
    uint256 private constant UPTO_ITEM_GAS = 300_000;
    /// @dev What an item needs beside its proxy call: the event, the calldata reads, the loop.
    uint256 private constant UPTO_ITEM_OVERHEAD_GAS = 20_000;

    /// @notice A payer's upto Permit2 authorization (witness: to = facilitator = this splitter), the
    /// metered amount to settle, and what it bought.
    struct UptoSettlement {
        bytes32 outputId; // the model output this payment bought
        bytes32 attributionRoot; // hash of that output's attribution record
        address from;
        uint256 maxAmount; // permitted.amount: the signed maximum
        uint256 amount; // the metered amount to transfer (1..maxAmount)
        uint256 nonce; // Permit2 unordered nonce
        uint256 deadline;
        uint256 validAfter;
        bytes signature;
    }

    /// @notice Settles one upto payment for its metered amount. Reverts with the proxy's or Permit2's reason.
    function settleUpto(UptoSettlement calldata s) external {
        _checkUptoSettler();
        UPTO_PROXY.settle(_permit(s), s.amount, s.from, _witness(s), s.signature);
        emit IRoyaltySplitter.PaymentSettled(s.outputId, s.from, s.amount, bytes32(s.nonce), s.attributionRoot);
    }

    /// @notice As settleUpto, first submitting the payer's EIP-2612 approval of Permit2 (the x402
    /// eip2612GasSponsoring extension): an agent holding only the token never sends a transaction.
    function settleUptoWithPermit(UptoSettlement calldata s, IX402UptoPermit2Proxy.EIP2612Permit calldata permit2612) external {
        _checkUptoSettler();
        UPTO_PROXY.settleWithPermit(permit2612, _permit(s), s.amount, s.from, _witness(s), s.signature);
        emit IRoyaltySplitter.PaymentSettled(s.outputId, s.from, s.amount, bytes32(s.nonce), s.attributionRoot);
    }

    /// @notice Settles many upto payments; a failing item (used nonce, short balance or allowance, expired,
    /// bad signature, a payer's wallet using more than its gas cap) is skipped with PaymentSkipped. An item
    /// starts only if the transaction still has gas for its whole cap; if not, the loop stops and emits
    /// PaymentsDeferred for the rest, as settleBatchWithGas does: no item fails for another payer's gas.
    /// @return settled the number of items settled
    function settleUptoBatch(UptoSettlement[] calldata items) external returns (uint256 settled) {
        if (items.length == 0) revert IRoyaltySplitter.EmptyBatch();
        _checkUptoSettler();
        uint256 needed = UPTO_ITEM_GAS + UPTO_ITEM_GAS / 63 + UPTO_ITEM_OVERHEAD_GAS;
        for (uint256 i; i < items.length; ++i) {
            if (gasleft() < needed) {
                emit IRoyaltySplitter.PaymentsDeferred(i, items.length - i);
                return settled;
            }
            UptoSettlement calldata s = items[i];
            try UPTO_PROXY.settle{gas: UPTO_ITEM_GAS}(_permit(s), s.amount, s.from, _witness(s), s.signature) {
                emit IRoyaltySplitter.PaymentSettled(s.outputId, s.from, s.amount, bytes32(s.nonce), s.attributionRoot);
                ++settled;
            } catch (bytes memory reason) {
                emit IRoyaltySplitter.PaymentSkipped(s.outputId, s.from, bytes32(s.nonce), reason);
            }
        }
    }

    function _permit(UptoSettlement calldata s) private view returns (ISignatureTransfer.PermitTransferFrom memory) {
        return ISignatureTransfer.PermitTransferFrom({
            permitted: ISignatureTransfer.TokenPermissions({token: _uptoToken(), amount: s.maxAmount}),
            nonce: s.nonce,
            deadline: s.deadline
        });
    }

    function _witness(UptoSettlement calldata s) private view returns (IX402UptoPermit2Proxy.Witness memory) {
        return IX402UptoPermit2Proxy.Witness({to: address(this), facilitator: address(this), validAfter: s.validAfter});
    }

    /// @dev Reverts unless the caller may settle (and settlement is not paused).
    function _checkUptoSettler() internal view virtual;

    /// @dev The payment token.
    function _uptoToken() internal view virtual returns (address);
}
