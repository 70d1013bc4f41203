// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IRoyaltySplitter} from "./interfaces/IRoyaltySplitter.sol";
import {IERC3009} from "./interfaces/IERC3009.sol";
import {RoyaltySplitter} from "./RoyaltySplitter.sol";

/// @title SplitterFactory
/// @notice Deploys one RoyaltySplitter per model endpoint as an ERC-1167 clone (CREATE2, configuration
/// as immutable arguments), so a splitter's address, the x402 `payTo`, is known before it exists and
/// commits to its whole configuration. It refuses (in createSplitter and predictSplitter alike) any
/// configuration a splitter could not safely run with.
contract SplitterFactory {
    uint256 private constant BPS = 10_000;

    /// @notice The RoyaltySplitter implementation every clone delegates to.
    address public immutable implementation;
    /// @notice The shortest challenge period a splitter may have (seconds, never zero): the time the
    /// guardian has to veto an epoch posted with a leaked oracle key.
    uint32 public immutable minChallengePeriod;

    /// @notice A splitter was deployed at `splitter` for `config` and `salt`.
    event SplitterCreated(
        address indexed splitter, address indexed owner, address indexed token, bytes32 salt, IRoyaltySplitter.Config config
    );

    /// @notice The factory's minimum challenge period must be at least one second.
    error InvalidMinChallengePeriod();

    constructor(uint32 minChallengePeriod_) {
        if (minChallengePeriod_ == 0) revert InvalidMinChallengePeriod();
        minChallengePeriod = minChallengePeriod_;
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

    /// @notice The address the splitter for `config` and `salt` has (or will have once created). Reverts
    /// with InvalidConfig for a configuration createSplitter refuses (money sent there would be stuck).
    function predictSplitter(IRoyaltySplitter.Config calldata config, bytes32 salt) external view returns (address) {
        validate(config);
        return Clones.predictDeterministicAddressWithImmutableArgs(implementation, abi.encode(config), salt);
    }

    /// @notice Reverts with InvalidConfig unless `config` is usable: an EIP-3009 token, owner and oracle set,
    /// a guardian that is set and is not the oracle, cuts at most 100% together, a protocol recipient
    /// whenever there is a protocol cut, and a challenge period of at least minChallengePeriod.
    function validate(IRoyaltySplitter.Config calldata config) public view {
        if (
            config.owner == address(0) || config.oracle == address(0) || config.guardian == address(0)
                || config.guardian == config.oracle || uint256(config.ownerBps) + config.protocolBps > BPS
                || (config.protocolBps != 0 && config.protocolRecipient == address(0))
                || config.challengePeriod < minChallengePeriod || !_isEip3009Token(config.token)
        ) revert IRoyaltySplitter.InvalidConfig();
    }

    /// @dev A token the splitter can settle through: a contract whose authorizationState answers a bool and
    /// whose transferWithAuthorization refuses a forged authorization. A token with a catch-all fallback
    /// fails the second probe: with it, forged authorizations would emit PaymentSettled with nothing arriving.
    function _isEip3009Token(address token) private view returns (bool) {
        if (token.code.length == 0) return false;
        (bool ok, bytes memory state) =
            token.staticcall(abi.encodeCall(IERC3009.authorizationState, (address(this), bytes32(0))));
        if (!ok || state.length != 32 || uint256(bytes32(state)) > 1) return false;
        // Signed by nobody (empty signature, and this factory is no ERC-1271 wallet): a real token reverts.
        (bool forgedAccepted,) = token.staticcall(
            abi.encodeCall(
                IERC3009.transferWithAuthorization, (address(this), address(this), 1, 0, type(uint256).max, bytes32(0), "")
            )
        );
        return !forgedAccepted;
    }
}
