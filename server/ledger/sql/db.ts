// What every statement module shares: the executor (and its dialect), the clock, and this
// instance's id (stored with the reservations it makes).
import type { Dialect } from "../dialect.ts";
import type { Executor } from "../executor.ts";
import type { PaymentKey } from "../types.ts";

export interface Db {
  exec: Executor;
  d: Dialect;
  now: () => number;
  instanceId: string;
}

export const PAYMENT_KEY_MATCH = "network = $network AND asset = $asset AND payer = $payer AND nonce = $nonce";

/** The key's four columns as statement parameters. */
export function keyParams(k: PaymentKey): { network: string; asset: string; payer: string; nonce: string } {
  return { network: k.network, asset: k.asset, payer: k.payer, nonce: k.nonce };
}
