// Canonical JSON: object keys sorted (UTF-16 code unit order), no whitespace, bigints as decimal
// strings, only safe integers as numbers. Identical values always give identical bytes, so the
// keccak256 of these bytes is a stable content hash for records and documents.
import { toUtf8Bytes } from "ethers";
import { keccak256Hex } from "../chain/keccak.ts";
import { AttributionError } from "./errors.ts";

export function canonicalJson(value: unknown): string {
  return encode(value, "$");
}

function encode(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return JSON.stringify(value.toString());
    case "number":
      // Floats would make the bytes depend on formatting rules; amounts are bigints/strings.
      if (!Number.isSafeInteger(value)) {
        throw new AttributionError("invalid_json", `${path}: ${value} is not a safe integer`);
      }
      return Object.is(value, -0) ? "0" : String(value);
    case "object": {
      if (Array.isArray(value)) {
        return "[" + value.map((v, i) => encode(v, `${path}[${i}]`)).join(",") + "]";
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new AttributionError("invalid_json", `${path}: only plain objects are canonicalised`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + encode(obj[k], `${path}.${k}`)).join(",") + "}";
    }
    default:
      throw new AttributionError("invalid_json", `${path}: cannot canonicalise a ${typeof value}`);
  }
}

/** keccak256 of the canonical JSON bytes, 0x-prefixed lower-case hex. */
export function canonicalHash(value: unknown): string {
  // JSON.stringify escapes lone surrogates, so the JSON is well-formed UTF-16 and Buffer encodes it exactly.
  return keccak256Hex(Buffer.from(canonicalJson(value), "utf8"));
}

/** keccak256 of the NFC-normalised UTF-8 text (the content hash of a contribution). */
export function textHash(text: string): string {
  return keccak256Hex(toUtf8Bytes(text.normalize("NFC")));
}
