// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Multicall3 (local stand-in, tryAggregate only)
/// @notice The reference x402 facilitator diagnoses a failed Permit2 simulation (no allowance, short
/// balance, no proxy) with Multicall3's tryAggregate at its canonical address; a local node has no
/// Multicall3, so the installer puts this there. Written from Multicall3's public interface.
contract Multicall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice The call at `index` failed while `requireSuccess` was set.
    error CallFailed(uint256 index);

    /// @notice Calls each target in turn and returns every outcome; with `requireSuccess`, a failing
    /// call reverts the whole aggregate.
    function tryAggregate(bool requireSuccess, Call[] calldata calls) external payable returns (Result[] memory results) {
        results = new Result[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool success, bytes memory returnData) = calls[i].target.call(calls[i].callData);
            if (requireSuccess && !success) revert CallFailed(i);
            results[i] = Result(success, returnData);
        }
    }
}
