// An in-process Hardhat chain with an EIP-3009 token (the repository's TestUSDC), the reference
// x402 facilitator (@x402/core + @x402/evm exact, viem) served over HTTP like any hosted one, and
// payers paying with the reference client (@x402/fetch). Nothing here comes from the server.
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { network } from "hardhat";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { registerExactEvmScheme as registerFacilitatorScheme } from "@x402/evm/exact/facilitator";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { createWalletClient, custom, defineChain, publicActions, type EIP1193Provider } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

export async function testChain() {
  const connection = await network.connect();
  const { ethers } = connection;
  const [deployer, payee] = await ethers.getSigners();
  const token = await ethers.deployContract("TestUSDC");
  const asset = await token.getAddress();
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const networkId = `eip155:${chainId}` as const;
  const chain = defineChain({
    id: chainId,
    name: "hardhat",
    nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const transport = custom(connection.provider as unknown as EIP1193Provider);

  // The reference facilitator, reached over HTTP.
  const relayer = privateKeyToAccount(generatePrivateKey());
  await connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, "0x56BC75E2D63100000"] });
  const wallet = createWalletClient({ account: relayer, chain, transport, pollingInterval: 50 }).extend(publicActions);
  const facilitator = new x402Facilitator();
  registerFacilitatorScheme(facilitator, {
    signer: toFacilitatorEvmSigner({ ...wallet, address: relayer.address } as never),
    networks: networkId,
  });
  const http = Fastify({ logger: false });
  http.post("/verify", async (request) => {
    const { paymentPayload, paymentRequirements } = request.body as { paymentPayload: never; paymentRequirements: never };
    return facilitator.verify(paymentPayload, paymentRequirements);
  });
  http.post("/settle", async (request) => {
    const { paymentPayload, paymentRequirements } = request.body as { paymentPayload: never; paymentRequirements: never };
    return facilitator.settle(paymentPayload, paymentRequirements);
  });
  http.get("/supported", async () => facilitator.getSupported());
  await http.listen({ host: "127.0.0.1", port: 0 });
  const facilitatorUrl = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;

  /** A payer holding `amount` of the token, paying with the reference client. */
  async function payer(amount = 1_000_000n) {
    const key = generatePrivateKey();
    const account = privateKeyToAccount(key);
    await (await token.connect(deployer).getFunction("mint")(account.address, amount)).wait();
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: account });
    client.setSpendControls({ allowedAssets: [{ network: networkId, asset }] });
    return { account, key, fetch: wrapFetchWithPayment(fetch, client), client };
  }

  const balanceOf = async (address: string): Promise<bigint> => token.getFunction("balanceOf")(address);
  return { connection, asset, network: networkId, payTo: payee.address, facilitatorUrl, payer, balanceOf, close: () => http.close() };
}

export type TestChain = Awaited<ReturnType<typeof testChain>>;
