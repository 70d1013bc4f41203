// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title GasBurningWallet (test only)
/// @notice An adversarial ERC-1271 payer: it accepts its key holder's signatures (so a facilitator's
/// verification passes) until armed, then burns all gas it is given in isValidSignature.
contract GasBurningWallet is IERC1271 {
    address public immutable signer;
    bool public armed;

    constructor(address signer_) {
        signer = signer_;
    }

    function arm(bool on) external {
        armed = on;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (armed) {
            uint256 x = uint256(hash);
            while (gasleft() > 0) x = uint256(keccak256(abi.encode(x)));
            return bytes4(uint32(x));
        }
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}
