// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestUSDC} from "../../contracts/TestUSDC.sol";
import {X402BatchSettlement} from "../../contracts/x402/X402BatchSettlement.sol";
import {ERC3009DepositCollector} from "../../contracts/x402/ERC3009DepositCollector.sol";
import {CheatCodes} from "./Vm.sol";

/// @dev The batch-settlement escrow stand-in: deposit through the ERC-3009 collector, claims (direct and
/// signed), settlement to the receiver, cooperative refunds and the timed withdrawal.
contract X402BatchSettlementTest is CheatCodes {
    bytes32 private constant RECEIVE_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    uint256 private constant PAYER_KEY = 0xA11CE;
    uint256 private constant AUTHORIZER_KEY = 0xB0B;
    address private constant RECEIVER = address(0x5E11);

    TestUSDC internal token;
    X402BatchSettlement internal escrow;
    ERC3009DepositCollector internal collector;
    address internal payer;
    address internal authorizer;

    function setUp() public {
        token = new TestUSDC();
        escrow = new X402BatchSettlement();
        collector = new ERC3009DepositCollector(address(escrow));
        payer = vm.addr(PAYER_KEY);
        authorizer = vm.addr(AUTHORIZER_KEY);
        token.mint(payer, 1_000_000);
    }

    function _config() internal view returns (X402BatchSettlement.ChannelConfig memory) {
        return X402BatchSettlement.ChannelConfig({
            payer: payer,
            payerAuthorizer: payer,
            receiver: RECEIVER,
            receiverAuthorizer: authorizer,
            token: address(token),
            withdrawDelay: 900,
            salt: bytes32(0)
        });
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _deposit(uint128 amount, uint256 salt) internal {
        X402BatchSettlement.ChannelConfig memory c = _config();
        bytes32 channelId = escrow.getChannelId(c);
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_TYPEHASH, payer, address(collector), uint256(amount), 0, block.timestamp + 600, nonce));
        bytes memory sig = _sign(PAYER_KEY, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        escrow.deposit(c, amount, address(collector), abi.encode(uint256(0), block.timestamp + 600, salt, sig));
    }

    function _claimRow(uint128 maxClaimable, uint128 total) internal view returns (X402BatchSettlement.VoucherClaim[] memory rows) {
        X402BatchSettlement.ChannelConfig memory c = _config();
        bytes memory sig = _sign(PAYER_KEY, escrow.getVoucherDigest(escrow.getChannelId(c), maxClaimable));
        rows = new X402BatchSettlement.VoucherClaim[](1);
        rows[0] = X402BatchSettlement.VoucherClaim({
            voucher: X402BatchSettlement.Voucher({channel: c, maxClaimableAmount: maxClaimable}),
            signature: sig,
            totalClaimed: total
        });
    }

    function _state() internal view returns (uint128 balance, uint128 claimed) {
        return escrow.channels(escrow.getChannelId(_config()));
    }

    /// @dev Calls `data` on the escrow as `sender`; requires a revert with `selector`.
    function _expectRevert(address sender, bytes memory data, bytes4 selector) internal {
        vm.prank(sender); // data is encoded by the caller, so the prank reaches this call
        (bool ok, bytes memory ret) = address(escrow).call(data);
        require(!ok, "expected a revert");
        require(ret.length >= 4 && bytes4(ret) == selector, "wrong revert");
    }

    function test_depositThroughCollector() public {
        _deposit(10_000, 1);
        (uint128 balance, uint128 claimed) = _state();
        require(balance == 10_000 && claimed == 0, "channel");
        require(token.balanceOf(address(escrow)) == 10_000 && token.balanceOf(payer) == 990_000, "tokens moved");
        _deposit(5_000, 2);
        (balance,) = _state();
        require(balance == 15_000, "top-up adds");
    }

    function test_collectorServesOnlyTheEscrow() public {
        (bool ok,) = address(collector).call(
            abi.encodeCall(ERC3009DepositCollector.collect, (payer, address(token), 1, bytes32(0), ""))
        );
        require(!ok, "anyone could use a payer's authorization");
    }

    function test_claimThenSettleToReceiver() public {
        _deposit(10_000, 1);
        X402BatchSettlement.VoucherClaim[] memory rows = _claimRow(3_000, 2_500);
        vm.prank(RECEIVER);
        escrow.claim(rows);
        (uint128 balance, uint128 claimed) = _state();
        require(balance == 10_000 && claimed == 2_500, "claimed is accounting only");
        require(token.balanceOf(RECEIVER) == 0, "no transfer on claim");
        escrow.settle(RECEIVER, address(token));
        require(token.balanceOf(RECEIVER) == 2_500, "settled");
        escrow.settle(RECEIVER, address(token));
        require(token.balanceOf(RECEIVER) == 2_500, "settle twice pays once");
    }

    function test_claimWithSignatureIsRelayable() public {
        _deposit(10_000, 1);
        X402BatchSettlement.VoucherClaim[] memory rows = _claimRow(4_000, 4_000);
        escrow.claimWithSignature(rows, _sign(AUTHORIZER_KEY, escrow.getClaimBatchDigest(rows)));
        (, uint128 claimed) = _state();
        require(claimed == 4_000, "claimed");
        escrow.claimWithSignature(rows, _sign(AUTHORIZER_KEY, escrow.getClaimBatchDigest(rows)));
        (uint128 recClaimed,) = escrow.receivers(RECEIVER, address(token));
        require(recClaimed == 4_000, "a replayed row is a no-op");
        bytes memory data = abi.encodeCall(escrow.claimWithSignature, (_claimRow(5_000, 5_000), _sign(PAYER_KEY, bytes32(0))));
        _expectRevert(address(this), data, X402BatchSettlement.InvalidSignature.selector);
    }

    function test_claimRefusals() public {
        _deposit(10_000, 1);
        bytes4 notAuthorized = X402BatchSettlement.NotAuthorizedToClaim.selector;
        _expectRevert(address(0xBAD), abi.encodeCall(escrow.claim, (_claimRow(1_000, 1_000))), notAuthorized);
        _expectRevert(RECEIVER, abi.encodeCall(escrow.claim, (_claimRow(1_000, 1_001))), X402BatchSettlement.ClaimExceedsCeiling.selector);
        bytes4 overBalance = X402BatchSettlement.ClaimExceedsBalance.selector;
        _expectRevert(RECEIVER, abi.encodeCall(escrow.claim, (_claimRow(20_000, 10_001))), overBalance);
        X402BatchSettlement.VoucherClaim[] memory forged = _claimRow(1_000, 1_000);
        forged[0].signature = _sign(AUTHORIZER_KEY, escrow.getVoucherDigest(escrow.getChannelId(_config()), 1_000));
        _expectRevert(RECEIVER, abi.encodeCall(escrow.claim, (forged)), X402BatchSettlement.InvalidSignature.selector);
    }

    function test_cooperativeRefund() public {
        _deposit(10_000, 1);
        X402BatchSettlement.VoucherClaim[] memory rows = _claimRow(3_000, 3_000);
        vm.prank(RECEIVER);
        escrow.claim(rows);
        bytes32 channelId = escrow.getChannelId(_config());
        uint256 nonce = escrow.refundNonce(channelId);
        bytes memory sig = _sign(AUTHORIZER_KEY, escrow.getRefundDigest(channelId, nonce, 2_000));
        escrow.refundWithSignature(_config(), 2_000, nonce, sig);
        require(token.balanceOf(payer) == 992_000, "partial refund");
        bytes memory replay = abi.encodeCall(escrow.refundWithSignature, (_config(), 2_000, nonce, sig));
        _expectRevert(address(this), replay, X402BatchSettlement.InvalidRefundNonce.selector);
        X402BatchSettlement.ChannelConfig memory c = _config();
        vm.prank(authorizer);
        escrow.refund(c, type(uint128).max);
        (uint128 balance, uint128 claimed) = _state();
        require(balance == 3_000 && claimed == 3_000, "refund never touches claimed funds");
        require(token.balanceOf(payer) == 997_000, "rest refunded");
        require(escrow.refundNonce(channelId) == nonce + 2, "nonce advances on each refund");
    }

    function test_timedWithdrawal() public {
        _deposit(10_000, 1);
        X402BatchSettlement.ChannelConfig memory c = _config();
        vm.prank(payer);
        escrow.initiateWithdraw(c, 10_000);
        _expectRevert(payer, abi.encodeCall(escrow.finalizeWithdraw, (_config())), X402BatchSettlement.WithdrawDelayNotElapsed.selector);
        X402BatchSettlement.VoucherClaim[] memory rows = _claimRow(4_000, 4_000); // the receiver claims during the delay
        vm.prank(RECEIVER);
        escrow.claim(rows);
        vm.warp(block.timestamp + 900);
        vm.prank(payer);
        escrow.finalizeWithdraw(c);
        (uint128 balance, uint128 claimed) = _state();
        require(balance == 4_000 && claimed == 4_000, "withdrawal capped at the unclaimed escrow");
        require(token.balanceOf(payer) == 996_000, "payer got the rest");
        escrow.settle(RECEIVER, address(token));
        require(token.balanceOf(RECEIVER) == 4_000 && token.balanceOf(address(escrow)) == 0, "nothing stranded");
    }

    function test_depositRefusesBadConfig() public {
        X402BatchSettlement.ChannelConfig memory c = _config();
        c.withdrawDelay = 60;
        bytes memory data = abi.encodeCall(escrow.deposit, (c, 1, address(collector), ""));
        _expectRevert(address(this), data, X402BatchSettlement.WithdrawDelayOutOfRange.selector);
    }
}
