// An AI agent that pays for calls with the reference x402 client (@x402/fetch + the exact or the
// upto EVM scheme, a viem account), with a spending cap: a most-per-call amount (the client's own
// spend controls) and a total budget (checked before each signature, concurrent calls included;
// with upto the signed maximum counts, though only the metered part is charged).
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { toClientEvmSigner } from "@x402/evm";
import { privateKeyToAccount } from "viem/accounts";
import { CliError } from "./errors.ts";

export interface AgentOptions {
  privateKey: string;
  /** CAIP-2 network and token the agent may pay with (e.g. from GET /v1/models). */
  network: string;
  asset: string;
  /** Most atomic units for one call; null: no per-call cap. */
  maxPerCall: bigint | null;
  /** Most atomic units in total; null: no budget. */
  budget: bigint | null;
  /**
   * Pay with `upto` (the tokens generated) instead of `exact`. With `rpcUrl` the client reads the
   * token and signs an EIP-2612 permit for Permit2 when it has no allowance yet (eip2612GasSponsoring);
   * without it the payer must have approved Permit2 once.
   */
  upto?: { rpcUrl?: string };
}

export interface Receipt {
  success: boolean;
  transaction: string;
  network: string;
  payer: string;
  amount: string | null;
  extra: Record<string, unknown>;
}

export interface Agent {
  address: string;
  fetch: typeof fetch;
  /** The same x402 client (its spend controls and budget) for payments over other transports, e.g. MCP tools. */
  x402: x402Client;
  /** Atomic units signed for so far. */
  spent(): bigint;
  calls(): number;
}

export function createAgent(options: AgentOptions): Agent {
  const account = privateKeyToAccount(options.privateKey as `0x${string}`);
  const client = new x402Client();
  if (options.upto) {
    const rpc = options.upto.rpcUrl ? { rpcUrl: options.upto.rpcUrl } : undefined;
    client.register(options.network as `${string}:${string}`, new UptoEvmScheme(toClientEvmSigner(account), rpc));
  } else registerExactEvmScheme(client, { signer: account });
  client.setSpendControls({
    allowedAssets: [
      {
        network: options.network as `${string}:${string}`,
        asset: options.asset,
        ...(options.maxPerCall === null ? {} : { maxAmountPerPayment: options.maxPerCall.toString() }),
      },
    ],
  });
  let spent = 0n;
  let calls = 0;
  client.onBeforePaymentCreation(async ({ selectedRequirements }) => {
    const amount = BigInt(selectedRequirements.amount);
    if (options.budget !== null && spent + amount > options.budget) {
      return {
        abort: true,
        reason: `the agent's budget of ${options.budget} atomic units would be exceeded (spent ${spent}, this call costs ${amount})`,
      };
    }
    // Reserved at signing time, so concurrent calls cannot overrun the budget together.
    spent += amount;
    calls++;
  });
  return { address: account.address, fetch: wrapFetchWithPayment(fetch, client), x402: client, spent: () => spent, calls: () => calls };
}

/** The settlement receipt (PAYMENT-RESPONSE) of a paid response, or null. */
export function receiptOf(res: Response): Receipt | null {
  const header = res.headers.get("PAYMENT-RESPONSE");
  if (!header) return null;
  try {
    const r = decodePaymentResponseHeader(header) as unknown as Receipt;
    return { ...r, extra: (r.extra ?? {}) as Record<string, unknown> };
  } catch {
    return null;
  }
}

/** Turns the x402 client's refusals into one sentence. */
export function paymentRefusal(error: unknown, what: string): CliError {
  const message = (error as Error)?.message ?? String(error);
  if (/budget/.test(message)) return new CliError(`${what} was not paid: ${message.replace(/^.*?(the agent's budget)/, "$1")}.`);
  if (/spend|cap|allowed/i.test(message))
    return new CliError(`${what} was not paid: its price is above the agent's spending cap (raise --max-amount).`);
  if (/fetch failed|ECONNREFUSED/i.test(message)) return new CliError(`${what} failed: the server is not reachable.`);
  return new CliError(`${what} failed: ${message.split("\n")[0]}.`);
}
