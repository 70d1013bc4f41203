// The one way this project connects to a chain over JSON-RPC (the server, the CLI, the tools).
// ethers caches some answers for 250 ms by default (eth_getTransactionCount, eth_getLogs among
// them): a signer sending two transactions in quick succession gets the same nonce, and an epoch
// just posted is not yet visible to the close that posted it. The cache is off here.
import { FetchRequest, JsonRpcProvider, Network, WebSocketProvider, type JsonRpcApiProvider } from "ethers";

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

function provider(url: string, network: Network): JsonRpcApiProvider {
  if (/^wss?:/.test(url)) return new WebSocketProvider(url, network, { staticNetwork: network, cacheTimeout: -1 });
  return new JsonRpcProvider(request(url), network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 250 });
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
