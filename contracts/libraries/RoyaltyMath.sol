// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RoyaltyMath
/// @notice The splitter's fixed-cut and pool arithmetic, pure and in one place (the TypeScript epoch
/// builder implements the same formula, and a fuzz test compares the two).
/// @dev Both cuts are floored together, then split: fees = floor(received * (ownerBps + protocolBps) / 10000),
/// ownerCut = floor(fees * ownerBps / (ownerBps + protocolBps)), protocolCut = fees - ownerCut,
/// pool = received - fees. So cuts + pool == received exactly, and each of the three only grows as
/// revenue grows (two independent floors can both step at once and shrink the pool by a unit,
/// stranding an allocation already posted).
library RoyaltyMath {
    uint256 internal constant BPS = 10_000;

    /// @notice Both fixed cuts of `received`, together.
    function fees(uint256 received, uint256 ownerBps, uint256 protocolBps) internal pure returns (uint256) {
        return received * (ownerBps + protocolBps) / BPS;
    }

    /// @notice The owner's and the protocol's cut of `received`.
    function cuts(uint256 received, uint256 ownerBps, uint256 protocolBps)
        internal
        pure
        returns (uint256 ownerCut, uint256 protocolCut)
    {
        uint256 feeBps = ownerBps + protocolBps;
        if (feeBps == 0) return (0, 0);
        uint256 all = received * feeBps / BPS;
        ownerCut = all * ownerBps / feeBps;
        protocolCut = all - ownerCut;
    }

    /// @notice What contributors may be allocated in total out of `received`.
    function pool(uint256 received, uint256 ownerBps, uint256 protocolBps) internal pure returns (uint256) {
        return received - fees(received, ownerBps, protocolBps);
    }
}
