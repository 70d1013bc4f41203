// A local chain with TestUSDC and a splitter whose facilitator is a relayer wallet we hold the
// key of, an embedded facilitator on it, and helpers that build x402 payments as the
// reference client does. Shared by the x402 and facilitator tests.
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { ethers as E } from "ethers";
import { EmbeddedFacilitator, type FacilitatorOptions } from "../../../server/facilitator/index.ts";
import { TRANSFER_WITH_AUTHORIZATION_TYPES, connectChain, deployStack, type Chain } from "../../../scripts/shared/stack.ts";

export type Signer = { address: string; signTypedData: E.Wallet["signTypedData"] };

export async function x402Stack(
  options: { payers?: number; fundEach?: bigint; facilitator?: Partial<FacilitatorOptions>; chain?: Chain } = {},
) {
  const chain = options.chain ?? (await connectChain());
  const relayerWallet = E.Wallet.createRandom();
  const stack = await deployStack(
    chain,
    { facilitator: relayerWallet.address },
    { payers: options.payers ?? 4, fundEach: options.fundEach },
  );
  await stack.connection.provider.request({ method: "hardhat_setBalance", params: [relayerWallet.address, "0x56BC75E2D63100000"] });
  const provider = stack.ethers.provider;
  const relayer = new E.Wallet(relayerWallet.privateKey, provider);
  const facilitator = await EmbeddedFacilitator.create({ provider, relayer, ...options.facilitator });
  const asset = await stack.token.getAddress();
  const payTo = await stack.splitter.getAddress();
  const network = `eip155:${stack.chainId}`;
  const requirements = (overrides: Partial<PaymentRequirements> = {}): PaymentRequirements => ({
    scheme: "exact",
    network: network as `${string}:${string}`,
    asset,
    amount: "10000",
    payTo,
    maxTimeoutSeconds: 300,
    extra: { name: "USD Coin", version: "2" },
    ...overrides,
  });
  return { ...stack, relayer, facilitator, asset, payTo, network, requirements };
}

export type X402Stack = Awaited<ReturnType<typeof x402Stack>>;

export interface PaymentOverrides {
  from?: string;
  to?: string;
  value?: bigint;
  validAfter?: bigint;
  validBefore?: bigint;
  nonce?: string;
  /** Domain fields to sign with instead of the requirements' (to forge mismatches). */
  domain?: Partial<E.TypedDataDomain>;
  accepted?: Partial<PaymentRequirements>;
}

/** Signs an EIP-3009 authorization for `requirements` as @x402/evm's exact client does. */
export async function pay(signer: Signer, requirements: PaymentRequirements, o: PaymentOverrides = {}): Promise<PaymentPayload> {
  const now = BigInt(Math.floor(Date.now() / 1000));
  const authorization = {
    from: o.from ?? signer.address,
    to: o.to ?? requirements.payTo,
    value: o.value ?? BigInt(requirements.amount),
    validAfter: o.validAfter ?? 0n,
    validBefore: o.validBefore ?? now + BigInt(requirements.maxTimeoutSeconds),
    nonce: o.nonce ?? E.hexlify(E.randomBytes(32)),
  };
  const domain = {
    name: requirements.extra.name as string,
    version: requirements.extra.version as string,
    chainId: BigInt(requirements.network.split(":")[1]),
    verifyingContract: requirements.asset,
    ...o.domain,
  };
  const signature = await signer.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization);
  return {
    x402Version: 2,
    resource: { url: "http://localhost/test", description: "", mimeType: "" },
    accepted: { ...requirements, ...o.accepted },
    payload: {
      signature,
      authorization: {
        from: authorization.from,
        to: authorization.to,
        value: authorization.value.toString(),
        validAfter: authorization.validAfter.toString(),
        validBefore: authorization.validBefore.toString(),
        nonce: authorization.nonce,
      },
    },
  };
}

/** A fresh payer key, minted `amount` tokens. */
export async function fundedWallet(s: X402Stack, amount = 1_000_000_000n): Promise<E.Wallet> {
  const wallet = E.Wallet.createRandom() as unknown as E.Wallet;
  if (amount > 0n) await (await s.token.mint(wallet.address, amount)).wait();
  return wallet;
}
