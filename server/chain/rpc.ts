// A JSON-RPC provider for the CLI and the local tools. ethers caches some answers for 250 ms by
// default (eth_getTransactionCount among them), which hands a signer sending two transactions in
// quick succession the same nonce: the cache is off here.
import { JsonRpcProvider, Network } from "ethers";

export class RpcUnavailableError extends Error {}

/** Connects to `url`, checks it answers (and is chain `expectedChainId` when given). */
export async function connectRpcProvider(url: string, expectedChainId?: bigint | number): Promise<{ provider: JsonRpcProvider; chainId: bigint }> {
  const shown = url.replace(/\/\/[^/@]*@/, "//"); // never print credentials in a URL
  const probe = new JsonRpcProvider(url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  let chainId: bigint;
  try {
    chainId = BigInt(await Promise.race([probe.send("eth_chainId", []), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 10_000))]));
  } catch {
    throw new RpcUnavailableError(`the chain at ${shown} does not answer`);
  } finally {
    probe.destroy();
  }
  if (expectedChainId !== undefined && chainId !== BigInt(expectedChainId)) throw new RpcUnavailableError(`the chain at ${shown} is chain ${chainId}, not ${expectedChainId}`);
  const network = Network.from(chainId);
  return { provider: new JsonRpcProvider(url, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 250 }), chainId };
}
