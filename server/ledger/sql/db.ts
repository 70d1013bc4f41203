// What every statement module shares: the executor (and its dialect), the clock, and this
// instance's id (stored with the reservations it makes).
import type { Dialect } from "../dialect.ts";
import type { Executor } from "../executor.ts";
import type { TransitionFields } from "../normalize.ts";
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

/** The fields a transition may set besides the status, and their columns. */
const TRANSITION_COLUMNS = {
  txHash: "tx_hash",
  errorReason: "error_reason",
  outputId: "output_id",
  amount: "amount",
} as const satisfies Record<keyof TransitionFields, string>;
export const TRANSITION_FIELDS = Object.keys(TRANSITION_COLUMNS) as Array<keyof TransitionFields>;

/** A field's flag as a transition statement binds it: '1' when the transition sets the field. */
export const setFlag = (value: unknown) => (value === undefined ? "0" : "1");

/**
 * The SET clauses of a transition's fields: each column takes its new value when its flag is '1', else keeps
 * its own. `ref(field)` is how the statement reads the field's flag and value (parameters, or a joined row).
 */
export function transitionSets(db: Db, ref: (field: keyof TransitionFields) => [flag: string, value: string]): string {
  return TRANSITION_FIELDS.map((field) => {
    const column = TRANSITION_COLUMNS[field];
    const [flag, value] = ref(field);
    const typed = field === "amount" ? db.d.amountParam(value) : `CAST(${value} AS TEXT)`;
    return `${column} = CASE WHEN ${flag} = '1' THEN ${typed} ELSE ${column} END`;
  }).join(",\n       ");
}
