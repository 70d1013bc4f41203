// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IDepositCollector
/// @notice How the batch-settlement escrow pulls a deposit: the collector moves exactly `amount` of
/// `token` from `payer` to its caller (the escrow), authorized by `collectorData`; the escrow checks
/// its own balance afterwards, so a collector cannot credit a deposit that did not arrive.
interface IDepositCollector {
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData) external;
}
