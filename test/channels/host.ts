// A model host (createApp: the x402 plugin, the embedded facilitator with channels, the ∞-gram model "m"
// over a small Brown datanet) on the in-process chain, and payers on the reference batch-settlement client
// (@x402/fetch + @x402/evm/batch-settlement/client, unmodified).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import type { Contract } from "ethers";
import { createWalletClient, custom, defineChain, publicActions } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createApp } from "../../server/app.ts";
import { hostChain } from "../support/host-chain.ts";

export const ADMIN = "channel-host-admin-token-0123456789";
const json = { "content-type": "application/json" };

/** `channelClaims`: the host's facilitator.channelClaims (default: the config's, no claim within a test). */
export async function channelHost(price: bigint, channelClaims?: Record<string, unknown>) {
  const host = await hostChain(1);
  const { chain, token } = host;
  const dataDir = mkdtempSync(join(tmpdir(), "r402-channel-host-"));
  const server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10, ...(channelClaims ? { channelClaims } : {}) },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [
        {
          id: "m",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: price.toString(),
          owner: host.owner.address,
          challengePeriod: 1,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  const base = await server.listen({ port: 0 });
  const splitter = server.context.models.get("m")!.splitter;

  /** A payer holding `funds` TestUSDC on the reference channel client, depositing `depositMultiplier` requests' worth. */
  async function payer(funds: bigint, depositMultiplier: number) {
    const account = privateKeyToAccount(generatePrivateKey());
    const eip1193 = chain.connection.provider;
    await eip1193.request({ method: "hardhat_setBalance", params: [account.address, "0x56BC75E2D63100000"] });
    await (await (token as Contract).getFunction("mint")(account.address, funds)).wait();
    const viemChain = defineChain({
      id: Number(chain.chainId),
      name: "hardhat",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: ["http://127.0.0.1:8545"] } },
    });
    const wallet = createWalletClient({ account, chain: viemChain, transport: custom(eip1193 as never) }).extend(publicActions);
    const scheme = new ReferenceChannelClient(toClientEvmSigner(wallet.account, wallet), { depositPolicy: { depositMultiplier } });
    const network = `eip155:${chain.chainId}` as const;
    const client = new x402Client().register(network, scheme);
    client.setSpendControls({ allowedAssets: [{ network, asset: await token.getAddress() }] });
    const paid = wrapFetchWithPayment(fetch, client);
    const complete = (prompt: string) =>
      paid(`${base}/v1/completions`, { method: "POST", headers: json, body: JSON.stringify({ model: "m", prompt, max_tokens: 8 }) });
    return { wallet, address: account.address, scheme, fetch: paid, complete };
  }

  const admin = (path: string, payload: unknown = {}) =>
    fetch(`${base}/admin/${path}`, {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(payload),
    });
  const balanceOf = async (account: string) => BigInt(await (token as Contract).getFunction("balanceOf")(account));

  async function close() {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { chain, token, server, base, splitter, payer, admin, balanceOf, close };
}

export type ChannelHost = Awaited<ReturnType<typeof channelHost>>;
