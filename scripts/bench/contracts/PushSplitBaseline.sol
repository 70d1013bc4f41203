// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC3009} from "../../../contracts/interfaces/IERC3009.sol";

/// @dev BENCHMARK BASELINE ONLY (not part of the product): the push model that RoyaltySplitter avoids.
/// Each payment is pulled in with EIP-3009 and immediately pushed out to every contributor by weight,
/// like a push-split distribution. Gas grows with the number of recipients.
contract PushSplitBaseline {
    IERC20 public immutable token;
    address[] public recipients;
    uint256[] public weights;
    uint256 public totalWeight;

    constructor(IERC20 token_, address[] memory recipients_, uint256[] memory weights_) {
        token = token_;
        recipients = recipients_;
        weights = weights_;
        for (uint256 i; i < weights_.length; ++i) totalWeight += weights_[i];
    }

    function settleAndPush(
        address from,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        IERC3009(address(token)).transferWithAuthorization(
            from, address(this), value, validAfter, validBefore, nonce, signature
        );
        uint256 n = recipients.length;
        uint256 total = totalWeight;
        for (uint256 i; i < n; ++i) {
            token.transfer(recipients[i], value * weights[i] / total);
        }
    }
}
