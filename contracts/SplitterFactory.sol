// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IRoyaltySplitter} from "./interfaces/IRoyaltySplitter.sol";
import {RoyaltySplitter} from "./RoyaltySplitter.sol";

/// @title SplitterFactory
/// @notice Deploys one RoyaltySplitter per model endpoint as an ERC-1167 clone (CREATE2, configuration
/// as immutable arguments), so a splitter's address, the x402 `payTo`, is known before it exists and
/// commits to its whole configuration.
contract SplitterFactory {
    uint256 private constant BPS = 10_000;

    /// @notice The RoyaltySplitter implementation every clone delegates to.
    address public immutable implementation;

    event SplitterCreated(
        address indexed splitter, address indexed owner, address indexed token, bytes32 salt, IRoyaltySplitter.Config config
    );

    constructor() {
        implementation = address(new RoyaltySplitter());
    }

    /// @notice Deploys the splitter for `config` and `salt`, or returns it if it already exists.
    function createSplitter(IRoyaltySplitter.Config calldata config, bytes32 salt) external returns (address splitter) {
        validate(config);
        bytes memory args = abi.encode(config);
        splitter = Clones.predictDeterministicAddressWithImmutableArgs(implementation, args, salt);
        if (splitter.code.length != 0) return splitter;
        Clones.cloneDeterministicWithImmutableArgs(implementation, args, salt);
        emit SplitterCreated(splitter, config.owner, config.token, salt, config);
    }

    /// @notice The address the splitter for `config` and `salt` has (or will have once created).
    function predictSplitter(IRoyaltySplitter.Config calldata config, bytes32 salt) external view returns (address) {
        return Clones.predictDeterministicAddressWithImmutableArgs(implementation, abi.encode(config), salt);
    }

    /// @notice Reverts with InvalidConfig unless `config` is usable: token, owner and oracle set, cuts at most
    /// 100% together, a protocol recipient whenever there is a protocol cut.
    function validate(IRoyaltySplitter.Config calldata config) public pure {
        if (
            config.token == address(0) || config.owner == address(0) || config.oracle == address(0)
                || uint256(config.ownerBps) + config.protocolBps > BPS
                || (config.protocolBps != 0 && config.protocolRecipient == address(0))
        ) revert IRoyaltySplitter.InvalidConfig();
    }
}
