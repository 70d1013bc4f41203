// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestUSDC} from "../TestUSDC.sol";

/// @title FeeOnTransferToken (test only)
/// @notice A TestUSDC that keeps a fee on every transfer (including EIP-3009 transfers with
/// authorization): the sender is debited `value`, the recipient credited `value - fee`, the fee
/// goes to `feeSink`. Mints and burns are free. For checking that a splitter counts what arrived,
/// not what was sent.
contract FeeOnTransferToken is TestUSDC {
    uint256 public immutable feeBps;
    address public immutable feeSink;

    constructor(uint256 feeBps_, address feeSink_) {
        feeBps = feeBps_;
        feeSink = feeSink_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value * feeBps / 10_000;
        super._update(from, feeSink, fee);
        super._update(from, to, value - fee);
    }
}
