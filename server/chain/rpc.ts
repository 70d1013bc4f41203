// The one way this project connects to a chain over JSON-RPC (the server, the CLI, the tools).
// ethers caches some answers for 250 ms by default (eth_getTransactionCount, eth_getLogs among
// them): a signer sending two transactions in quick succession gets the same nonce, and an epoch
// just posted is not yet visible to the close that posted it. The cache is off here.
import {
  FetchRequest,
  JsonRpcProvider,
  Network,
  WebSocketProvider,
  type JsonRpcApiProvider,
  type JsonRpcApiProviderOptions,
  type JsonRpcPayload,
  type JsonRpcResult,
} from "ethers";

export class RpcUnavailableError extends Error {}

/**
 * How long one JSON-RPC call may take. ethers waits 5 minutes by default: a hung RPC (accepts
 * connections, never answers) would hold every paid request that long instead of a prompt 503.
 */
const RPC_TIMEOUT_MS = 10_000;

/** The URL as it may be shown: no credentials, no path or query (either may carry an API key). */
function shownRpcUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? "/…" : ""}`;
  } catch {
    return "<url>";
  }
}

function request(url: string): FetchRequest {
  const fetchRequest = new FetchRequest(url);
  fetchRequest.timeout = RPC_TIMEOUT_MS;
  return fetchRequest;
}

/**
 * JSON-RPC over HTTP through Node's fetch. ethers' own transport converts every request and
 * response body between bytes and strings in JavaScript, so a batch's receipt or a page of logs
 * held the event loop for milliseconds (bench:soak's CPU profiles); fetch does it natively.
 */
class FetchJsonRpcProvider extends JsonRpcProvider {
  readonly #url: string;
  readonly #headers: Record<string, string>;

  constructor(url: string, network: Network, options: JsonRpcApiProviderOptions) {
    super(request(url), network, options);
    // fetch refuses credentials in the URL: they go in an Authorization header instead.
    const parsed = new URL(url);
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    this.#headers = { "content-type": "application/json" };
    if (user || password) this.#headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    parsed.username = "";
    parsed.password = "";
    this.#url = parsed.href;
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    let response: Response;
    try {
      const signal = AbortSignal.timeout(RPC_TIMEOUT_MS);
      response = await fetch(this.#url, { method: "POST", headers: this.#headers, body: JSON.stringify(payload), signal });
    } catch (error) {
      if ((error as Error).name !== "TimeoutError") throw error;
      throw Object.assign(new Error(`the RPC endpoint did not answer within ${RPC_TIMEOUT_MS} ms`), { code: "TIMEOUT" });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw Object.assign(new Error(`the RPC endpoint answered HTTP ${response.status}`), { code: "SERVER_ERROR" });
    }
    const body = (await response.json()) as JsonRpcResult | JsonRpcResult[];
    return Array.isArray(body) ? body : [body];
  }
}

// ethers holds each call 10 ms by default to batch it with later ones: four calls on a paid request's
// path (simulation, code check, broadcast, receipt) waited 40 ms for that alone. Calls issued in one
// turn of the event loop still travel as one batch, and the settlement pipeline batches its own.
const BATCH_STALL_MS = 0;

function provider(url: string, network: Network): JsonRpcApiProvider {
  if (/^wss?:/.test(url)) return new WebSocketProvider(url, network, { staticNetwork: network, cacheTimeout: -1 });
  return new FetchJsonRpcProvider(url, network, {
    staticNetwork: network,
    cacheTimeout: -1,
    pollingInterval: 250,
    batchStallTime: BATCH_STALL_MS,
  });
}

async function askChainId(url: string): Promise<bigint> {
  const probe = /^wss?:/.test(url)
    ? new WebSocketProvider(url)
    : new JsonRpcProvider(request(url), undefined, { staticNetwork: true, cacheTimeout: -1 });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), RPC_TIMEOUT_MS)));
    return BigInt(await Promise.race([probe.send("eth_chainId", []), timeout]));
  } finally {
    clearTimeout(timer);
    probe.destroy();
  }
}

/** Connects to `url`, checks it answers (and is chain `expectedChainId` when given). */
export async function connectRpcProvider(
  url: string,
  expectedChainId?: bigint | number,
): Promise<{ provider: JsonRpcApiProvider; chainId: bigint }> {
  let chainId: bigint;
  try {
    chainId = await askChainId(url);
  } catch {
    throw new RpcUnavailableError(`the chain at ${shownRpcUrl(url)} does not answer`);
  }
  if (expectedChainId !== undefined && chainId !== BigInt(expectedChainId)) {
    throw new RpcUnavailableError(`the chain at ${shownRpcUrl(url)} is chain ${chainId}, not ${expectedChainId}`);
  }
  return { provider: provider(url, Network.from(chainId)), chainId };
}
