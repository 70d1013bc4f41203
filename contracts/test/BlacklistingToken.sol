// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestUSDC} from "../TestUSDC.sol";

/// @title BlacklistingToken (test only)
/// @notice A TestUSDC whose owner can blacklist accounts, like USDC: transfers to or from a blacklisted
/// account revert.
contract BlacklistingToken is TestUSDC {
    mapping(address account => bool listed) public blacklisted;

    function blacklist(address account, bool listed) external {
        blacklisted[account] = listed;
    }

    function _update(address from, address to, uint256 value) internal override {
        require(!blacklisted[from] && !blacklisted[to], "Blacklistable: account is blacklisted");
        super._update(from, to, value);
    }
}
