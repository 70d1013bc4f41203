// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title DelegatedGasBurner (test only)
/// @notice Code an EOA delegates to with EIP-7702 after its payment was verified: from then on the token
/// checks the payer's signatures through ERC-1271, and this isValidSignature burns all the gas it gets.
contract DelegatedGasBurner {
    function isValidSignature(bytes32 hash, bytes calldata) external view returns (bytes4) {
        uint256 x = uint256(hash);
        while (gasleft() > 0) x = uint256(keccak256(abi.encode(x)));
        return bytes4(uint32(x));
    }
}
