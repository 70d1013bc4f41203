// How the channel facilitator reaches the chain: reads (eth_call from its own address) and transactions
// sent through the embedded facilitator's Relayer (one nonce queue for every transaction of that key),
// waited for until mined. The key is the channels' receiver authorizer and a facilitator of each splitter.
import type { Provider } from "ethers";
import type { Hex } from "viem";
import type { Relayer } from "../relayer.ts";

export interface ChannelChain {
  readonly address: Hex;
  readonly chainId: number;
  /** eth_call from `address`; throws with the revert reason. */
  call(to: string, data: Hex): Promise<Hex>;
  /** Sends and waits until mined; throws if the call would revert or reverted. */
  send(to: string, data: Hex): Promise<Hex>;
}

export function relayerChain(relayer: Relayer, provider: Provider, chainId: number): ChannelChain {
  const address = relayer.address as Hex;
  return {
    address,
    chainId,
    call: async (to, data) => (await provider.call({ from: address, to, data })) as Hex,
    async send(to, data) {
      const sent = await relayer.send(to, data);
      const receipt = await provider.waitForTransaction(sent.hash);
      if (receipt?.status !== 1) throw new Error(`transaction ${sent.hash} reverted`);
      return sent.hash as Hex;
    },
  };
}
