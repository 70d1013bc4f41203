// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestUSDC} from "../TestUSDC.sol";

/// @title ReentrantToken (test only)
/// @notice A TestUSDC whose transfers call back into a chosen contract in the middle of the
/// transfer, as an ERC-777 hook or a malicious token would: when tokens move out of (or into) the
/// watched account, the armed call is made once, after the balances changed. The outcome is
/// recorded; with `bubble` a failed call makes the whole transfer (and its caller) revert.
contract ReentrantToken is TestUSDC {
    address public watched;
    bool public onOutgoing;
    bool public onIncoming;
    address public reentryTarget; // not "target": that name clashes with ethers contract objects
    bytes public callData;
    bool public bubble;

    uint256 public attempts;
    bool public lastSucceeded;
    bytes public lastResult;

    /// @notice Arms one callback to `target_` with `data` for the next transfer out of / into `watched_`.
    function arm(address watched_, bool outgoing, bool incoming, address target_, bytes calldata data, bool bubble_) external {
        watched = watched_;
        onOutgoing = outgoing;
        onIncoming = incoming;
        reentryTarget = target_;
        callData = data;
        bubble = bubble_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address callee = reentryTarget;
        if (callee == address(0)) return;
        bool hit = (onOutgoing && from == watched && from != address(0)) || (onIncoming && to == watched && to != address(0));
        if (!hit) return;
        reentryTarget = address(0); // once per arming
        attempts++;
        (bool ok, bytes memory result) = callee.call(callData);
        lastSucceeded = ok;
        lastResult = result;
        if (!ok && bubble) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }
}
