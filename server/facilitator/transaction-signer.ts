// Signs the relayer's EIP-1559 transactions with libsecp256k1 (the `secp256k1` package's native build)
// and the WebAssembly keccak. viem's account signs the same bytes (RFC 6979 nonces, low s) but hashes a
// batch's kilobytes of calldata with a JavaScript keccak and signs on a JavaScript curve: ~250 µs of an
// `exact` payment's ~3 ms of CPU under load went there.
import secp256k1 from "secp256k1";
import { bytesToHex, hexToBytes, serializeTransaction, type Hex, type TransactionSerializableEIP1559 } from "viem";
import { keccak256Bytes } from "../chain/keccak.ts";

export type Eip1559Transaction = Omit<TransactionSerializableEIP1559, "type">;

export class TransactionSigner {
  private readonly key: Uint8Array;

  /** Throws if the key is not a valid secp256k1 private key. */
  constructor(privateKey: Hex) {
    this.key = hexToBytes(privateKey);
    if (!secp256k1.privateKeyVerify(this.key)) throw new Error("not a secp256k1 private key");
  }

  /** The signed transaction's bytes (what eth_sendRawTransaction takes). */
  sign(transaction: Eip1559Transaction): Hex {
    const tx = { ...transaction, type: "eip1559" } as const;
    const digest = keccak256Bytes(hexToBytes(serializeTransaction(tx)));
    const { signature, recid } = secp256k1.ecdsaSign(digest, this.key);
    return serializeTransaction(tx, {
      r: bytesToHex(signature.subarray(0, 32)),
      s: bytesToHex(signature.subarray(32)),
      yParity: recid,
    });
  }
}
