// A chain for the upto tests: TestUSDC, a splitter, Permit2 and the upto proxy at their canonical
// addresses (installed by connectChain), viem clients on the in-process node, and the reference upto
// facilitator (@x402/evm/upto/facilitator with a viem signer) served over HTTP by our facilitator routes.
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import Fastify from "fastify";
import { createWalletClient, custom, defineChain, getAddress, publicActions, type Hex } from "viem";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import { toFacilitatorEvmSigner, uptoPermit2WitnessTypes } from "@x402/evm";
import { UptoEvmScheme as UptoFacilitatorScheme } from "@x402/evm/upto/facilitator";
import { x402Facilitator } from "@x402/core/facilitator";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { facilitatorRoutes } from "../../server/facilitator/http.ts";
import { PERMIT2_ADDRESS, X402_UPTO_PROXY_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { Wallet } from "ethers";
import { Relayer } from "../../server/facilitator/relayer.ts";
import { UptoSplitterFacilitator } from "../../server/facilitator/upto/facilitator.ts";
import { connectChain, deployStack } from "../../scripts/shared/stack.ts";

const ETH_100 = "0x56BC75E2D63100000";

/** `facilitator`: the splitter's registered facilitator (a relayer key we hold), default a Hardhat signer. */
export async function uptoStack(options: { facilitator?: string } = {}) {
  const chain = await connectChain();
  const stack = await deployStack(chain, options.facilitator ? { facilitator: options.facilitator } : {}, { payers: 0 });
  const eip1193 = stack.connection.provider;
  const viemChain = defineChain({
    id: Number(stack.chainId),
    name: "hardhat",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["http://127.0.0.1:8545"] } },
  });
  const transport = custom(eip1193 as never);
  const setBalance = (address: string) => eip1193.request({ method: "hardhat_setBalance", params: [address, ETH_100] });

  /** A viem wallet + public client for a fresh key holding ETH. */
  async function walletClient(key: Hex = generatePrivateKey()) {
    const account = privateKeyToAccount(key);
    await setBalance(account.address);
    return createWalletClient({ account, chain: viemChain, transport }).extend(publicActions);
  }

  const asset = await stack.token.getAddress();
  const payTo = await stack.splitter.getAddress();
  const network = `eip155:${stack.chainId}` as `${string}:${string}`;

  /** A payer key holding `amount` TestUSDC (and ETH), optionally with Permit2 approved for everything. */
  async function payer(amount: bigint, options: { approvePermit2?: boolean } = {}) {
    const wallet = await walletClient();
    await (await stack.token.mint(wallet.account.address, amount)).wait();
    if (options.approvePermit2 !== false) {
      const hash = await wallet.writeContract({
        address: asset as Hex,
        abi: [
          {
            type: "function",
            name: "approve",
            inputs: [{ type: "address" }, { type: "uint256" }],
            outputs: [{ type: "bool" }],
            stateMutability: "nonpayable",
          },
        ],
        functionName: "approve",
        args: [PERMIT2_ADDRESS, 2n ** 256n - 1n],
      });
      await wallet.waitForTransactionReceipt({ hash });
    }
    return wallet;
  }

  const balanceOf = (address: string) => stack.token.balanceOf(address);
  return { ...stack, viemChain, transport, walletClient, payer, asset, payTo, network, balanceOf };
}

export type UptoStack = Awaited<ReturnType<typeof uptoStack>>;

/** The reference x402 facilitator with the reference upto scheme, signing with a fresh funded key. */
export async function referenceFacilitator(s: UptoStack) {
  const wallet = await s.walletClient();
  const signer = toFacilitatorEvmSigner({
    address: wallet.account.address,
    readContract: (args) => wallet.readContract(args as never),
    verifyTypedData: (args) => wallet.verifyTypedData(args as never),
    writeContract: (args) => wallet.writeContract(args as never),
    sendTransaction: (args) => wallet.sendTransaction(args as never),
    waitForTransactionReceipt: (args) => wallet.waitForTransactionReceipt(args as never),
    getCode: (args) => wallet.getCode(args),
  });
  const facilitator = new x402Facilitator().register(s.network, new UptoFacilitatorScheme(signer));
  const client: FacilitatorClient = {
    verify: (payload, requirements) => facilitator.verify(payload, requirements),
    settle: (payload, requirements) => facilitator.settle(payload, requirements),
    getSupported: async () => facilitator.getSupported() as never,
  };
  return { address: wallet.account.address, facilitator, client };
}

/** A stack whose splitter's facilitator is a relayer key we hold, and our upto facilitator on it. */
export async function splitterUptoStack() {
  const relayerKey = generatePrivateKey();
  const s = await uptoStack({ facilitator: privateKeyToAccount(relayerKey).address });
  await s.walletClient(relayerKey); // gives the relayer ETH
  const relayer = new Relayer(new Wallet(relayerKey, s.ethers.provider), s.ethers.provider, s.chainId);
  const upto = new UptoSplitterFacilitator({ provider: s.ethers.provider, relayer, network: s.network });
  return { ...s, relayer, relayerWallet: new Wallet(relayerKey, s.ethers.provider), upto };
}

/** Serves a FacilitatorClient over the standard facilitator HTTP API; returns its URL and a closer. */
export async function serveFacilitator(client: FacilitatorClient) {
  const api = Fastify();
  await api.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: client });
  await api.listen({ host: "127.0.0.1", port: 0 });
  return { url: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/facilitator`, close: () => api.close() };
}

export interface UptoAuthorization {
  from: Hex;
  permitted: { token: Hex; amount: string };
  spender: Hex;
  nonce: string;
  deadline: string;
  witness: { to: Hex; facilitator: Hex; validAfter: string };
}

/** Upto payment requirements for `s`, as the reference server builds them (amount = the maximum). */
export function uptoRequirements(s: UptoStack, facilitatorAddress: string, amount: bigint): PaymentRequirements {
  return {
    scheme: "upto",
    network: s.network,
    asset: s.asset,
    amount: amount.toString(),
    payTo: s.payTo,
    maxTimeoutSeconds: 300,
    extra: { name: "USD Coin", version: "2", assetTransferMethod: "permit2", facilitatorAddress },
  };
}

/**
 * Signs an upto Permit2 authorization as the reference client does (same types and domain), with
 * `overrides` applied to the message before signing, and `claimed` applied to the payload after it
 * (to present something other than what was signed).
 */
export async function signUpto(
  wallet: { account: { address: Hex; signTypedData: (args: any) => Promise<Hex> } },
  requirements: PaymentRequirements,
  overrides: Partial<Omit<UptoAuthorization, "witness" | "permitted">> & {
    witness?: Partial<UptoAuthorization["witness"]>;
    permitted?: Partial<UptoAuthorization["permitted"]>;
  } = {},
  claimed: Partial<UptoAuthorization> = {},
): Promise<PaymentPayload> {
  const now = Math.floor(Date.now() / 1000);
  const auth: UptoAuthorization = {
    from: wallet.account.address,
    spender: X402_UPTO_PROXY_ADDRESS,
    nonce: BigInt(`0x${randomBytes(32).toString("hex")}`).toString(),
    deadline: String(now + requirements.maxTimeoutSeconds),
    ...overrides,
    permitted: { token: getAddress(requirements.asset), amount: requirements.amount, ...overrides.permitted },
    witness: {
      to: getAddress(requirements.payTo),
      facilitator: getAddress(requirements.extra.facilitatorAddress as string),
      validAfter: "0",
      ...overrides.witness,
    },
  };
  const signature = await wallet.account.signTypedData({
    domain: { name: "Permit2", chainId: Number(requirements.network.split(":")[1]), verifyingContract: PERMIT2_ADDRESS },
    types: uptoPermit2WitnessTypes,
    primaryType: "PermitWitnessTransferFrom",
    message: {
      permitted: { token: auth.permitted.token, amount: BigInt(auth.permitted.amount) },
      spender: auth.spender,
      nonce: BigInt(auth.nonce),
      deadline: BigInt(auth.deadline),
      witness: { to: auth.witness.to, facilitator: auth.witness.facilitator, validAfter: BigInt(auth.witness.validAfter) },
    },
  });
  return {
    x402Version: 2,
    resource: { url: "http://models.test/v1/chat/completions", description: "", mimeType: "" },
    accepted: requirements,
    payload: { signature, permit2Authorization: { ...auth, ...claimed } },
  };
}

/** The revert message of a failed call or transaction (Hardhat names the custom error in it). */
export async function revertOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a revert");
}
