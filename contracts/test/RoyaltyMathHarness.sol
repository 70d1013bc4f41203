// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RoyaltyMath} from "../libraries/RoyaltyMath.sol";

/// @title RoyaltyMathHarness (test only)
/// @notice Exposes the RoyaltyMath library so tests can compare it with the TypeScript formula.
contract RoyaltyMathHarness {
    function cuts(uint256 received, uint256 ownerBps, uint256 protocolBps)
        external
        pure
        returns (uint256 ownerCut, uint256 protocolCut, uint256 pool)
    {
        (ownerCut, protocolCut) = RoyaltyMath.cuts(received, ownerBps, protocolBps);
        pool = RoyaltyMath.pool(received, ownerBps, protocolBps);
    }
}
