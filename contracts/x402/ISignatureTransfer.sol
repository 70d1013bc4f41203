// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ISignatureTransfer
/// @notice The signature-transfer half of Uniswap's Permit2, as x402 uses it: one-shot transfers
/// authorized by an EIP-712 signature with an unordered nonce, optionally binding a caller-defined
/// witness struct into the signed message.
interface ISignatureTransfer {
    /// @notice The token and the maximum amount the signature authorizes.
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// @notice A signed transfer authorization (the spender is the caller, `msg.sender`).
    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Where the tokens go and how many of the permitted amount to move.
    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    /// @notice Emitted when an owner invalidates unordered nonces.
    event UnorderedNonceInvalidation(address indexed owner, uint256 word, uint256 mask);

    /// @notice The requested amount is above the permitted maximum.
    error InvalidAmount(uint256 maxAmount);
    /// @notice The signature's deadline has passed.
    error SignatureExpired(uint256 signatureDeadline);
    /// @notice The nonce was used or invalidated already.
    error InvalidNonce();
    /// @notice The signature does not recover to any address.
    error InvalidSignature();
    /// @notice The signature recovers to another address than the owner.
    error InvalidSigner();
    /// @notice An EOA signature must be 64 (EIP-2098) or 65 bytes.
    error InvalidSignatureLength();
    /// @notice The owner is a contract and its ERC-1271 check refused the signature.
    error InvalidContractSignature();

    /// @notice The EIP-712 domain separator (name "Permit2", chain id, this contract's address).
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice A bitmap of used nonces: bit `nonce & 0xff` of word `nonce >> 8`.
    function nonceBitmap(address owner, uint256 wordPosition) external view returns (uint256);

    /// @notice Transfers with a signed permit whose spender is the caller.
    function permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes calldata signature
    ) external;

    /// @notice Transfers with a signed permit that also signs `witness`, the EIP-712 hash of a struct
    /// whose type is described by `witnessTypeString` (the tail of the full type string).
    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;

    /// @notice Marks the bits of `mask` in word `wordPos` of the caller's nonce bitmap as used.
    function invalidateUnorderedNonces(uint256 wordPos, uint256 mask) external;
}
