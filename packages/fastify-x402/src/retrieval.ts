// Server-signed retrieval tokens for held outputs. The token is an HMAC of the output id and
// the payment key under the server's key: only the server can make one, it is given to the payer
// with the answer, and the store keeps only its sha256 (a leaked store reveals no token).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { keyId, type PaymentKey } from "./store.ts";

export interface RetrievalTokens {
  issue(outputId: string, key: PaymentKey): { token: string; tokenHash: string };
  /** Whether `token` is the one whose hash was stored (constant time). */
  matches(token: string, tokenHash: string): boolean;
}

export function retrievalTokens(secret: string | Uint8Array | undefined): RetrievalTokens {
  const key = secret === undefined ? randomBytes(32) : typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  return {
    issue(outputId, paymentKey) {
      const token = createHmac("sha256", key)
        .update(`x402/held-output/v2\u0000${outputId}\u0000${keyId(paymentKey)}`, "utf8")
        .digest("base64url");
      return { token, tokenHash: hashToken(token) };
    },
    matches(token, tokenHash) {
      const given = Buffer.from(hashToken(token), "hex");
      const stored = Buffer.from(tokenHash, "hex");
      return given.length === stored.length && timingSafeEqual(given, stored);
    },
  };
}

function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
