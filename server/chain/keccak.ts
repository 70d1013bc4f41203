// keccak-256 in WebAssembly (hash-wasm). A paid output hashes its attribution record, its payment key
// and, through a channel, a voucher; noble's JavaScript keccak (what ethers and viem call) took 4–10×
// as long per call (a 1.5 KB record: ~95 µs against ~11 µs) and was the paid path's largest cost
// after SQLite. The WebAssembly module loads asynchronously (a top-level await would break CommonJS
// importers), so the first calls after start-up, before it is ready, hash with viem's: same digest.
// One hasher per thread: init, update and digest run synchronously, so calls never interleave.
import { createKeccak, type IHasher } from "hash-wasm";
import { keccak256 as jsKeccak256 } from "viem";

let hasher: IHasher | null = null;
/** Resolves once the WebAssembly hasher is in use. */
export const wasmKeccakReady: Promise<void> = createKeccak(256).then((h) => {
  hasher = h;
});

/** keccak256 of the bytes, as 32 bytes. */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  if (!hasher) return jsKeccak256(data, "bytes");
  hasher.init();
  hasher.update(data);
  return hasher.digest("binary");
}

/** keccak256 of the bytes, 0x-prefixed lower-case hex. */
export function keccak256Hex(data: Uint8Array): `0x${string}` {
  if (!hasher) return jsKeccak256(data);
  hasher.init();
  hasher.update(data);
  return `0x${hasher.digest("hex")}`;
}
