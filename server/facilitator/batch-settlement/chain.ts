// How the channel facilitator reaches the chain: reads (eth_call from its own address) and transactions
// sent through the embedded facilitator's Relayer (one nonce queue for every transaction of that key),
// waited for until mined. The key is the channels' receiver authorizer and a facilitator of each splitter.
import type { Provider } from "ethers";
import type { Hex } from "viem";
import type { Relayer } from "../relayer.ts";
import { CHANNEL_OUTPUTS_PAID_TOPIC } from "./abi.ts";

export interface ChannelChain {
  readonly address: Hex;
  readonly chainId: number;
  /** eth_call from `address`; throws with the revert reason. */
  call(to: string, data: Hex): Promise<Hex>;
  /** Sends and waits until mined; throws if the call would revert or reverted. */
  send(to: string, data: Hex): Promise<Hex>;
  /** The transaction of a ChannelOutputsPaid(root) the splitter already emitted (recent blocks), or null. */
  findLink(splitter: string, root: Hex): Promise<Hex | null>;
}

/** How far back a link left by a crash is looked for (a restart comes long before this). */
const LINK_LOOKBACK_BLOCKS = 100_000;

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
    async findLink(splitter, root) {
      const fromBlock = Math.max(0, (await provider.getBlockNumber()) - LINK_LOOKBACK_BLOCKS);
      const logs = await provider.getLogs({ address: splitter, topics: [CHANNEL_OUTPUTS_PAID_TOPIC, root], fromBlock });
      return logs.length > 0 ? (logs[logs.length - 1].transactionHash as Hex) : null;
    },
  };
}
