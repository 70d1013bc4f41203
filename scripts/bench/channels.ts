// Cost per paid inference through x402 batch-settlement channels (bench:gas, bench:economics). Vouchers
// cost no gas: what a channel payment costs on-chain is the payer's deposit, the claim-and-settle
// transaction (one row per channel, whatever its number of vouchers, and one settle per splitter) and the
// splitter's ChannelOutputsPaid link, divided by the paid requests they cover (gas, and on an OP-stack
// chain the L1 data fee). Each channel has its own payer (fresh keys, as in real traffic). Measured on the
// escrow and collector stand-ins at their canonical addresses, after a warm-up channel (steady state).
import { ethers as E } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { BATCH_SETTLEMENT_ADDRESS, ERC3009_DEPOSIT_COLLECTOR_ADDRESS } from "../../server/chain/x402/addresses.ts";
import type { X402BatchSettlement } from "../../types/ethers-contracts/index.ts";
import { tokenDomain, type Stack } from "../shared/stack.ts";
import { fundedWallets } from "./wallets.ts";
import { NO_COST, addCosts, costOf, perRequest, type TxCost } from "./costs.ts";

const RECEIVE_TYPES = {
  ReceiveWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};
const VOUCHER_TYPES = {
  Voucher: [
    { name: "channelId", type: "bytes32" },
    { name: "maxClaimableAmount", type: "uint128" },
  ],
};

export interface ChannelGas {
  /** "payers x vouchers per channel" -> gas per paid inference (deposits + claim-and-settle + link) / requests. */
  perInference: Record<string, number>;
  deposit: number;
  /** The claim-and-settle transaction for one channel, and its added cost per further channel in the same claim. */
  claimOneChannel: number;
  claimPerExtraChannel: number;
  link: number;
}

/** One claim: `payers` channels, each deposited once and charged `vouchers` vouchers, claimed, settled and linked together. */
export interface ChannelRun {
  payers: number;
  vouchers: number;
  /** Paid requests covered: payers × vouchers. */
  requests: number;
  deposits: TxCost;
  claim: TxCost;
  link: TxCost;
}

export const channelTotal = (r: ChannelRun) => addCosts(r.deposits, r.claim, r.link);

/** Runs each shape [payers, vouchers per channel] as one claim, after a warm-up claim (steady-state figures). */
export async function channelRuns(stack: Stack, price: bigint, shapes: [number, number][], payers: E.Wallet[]): Promise<ChannelRun[]> {
  const escrow = (await stack.ethers.getContractAt("X402BatchSettlement", BATCH_SETTLEMENT_ADDRESS)) as unknown as X402BatchSettlement;
  const authorizer = stack.roles.facilitator; // the channels' receiver authorizer, a facilitator of the splitter
  const cost = (tx: Promise<E.ContractTransactionResponse>) => costOf(stack.ethers.provider, tx);
  const run = async (count: number, vouchers: number): Promise<ChannelRun> => {
    let deposits = NO_COST;
    const rows = [];
    for (const payer of payers.slice(0, count)) {
      const channel = await openChannel(stack, escrow, authorizer, payer, price * BigInt(vouchers));
      deposits = addCosts(deposits, channel.cost);
      rows.push(await claimRow(stack, escrow, channel.config, payer, price * BigInt(vouchers)));
    }
    const calls = [
      escrow.interface.encodeFunctionData("claim", [rows]),
      escrow.interface.encodeFunctionData("settle", [await stack.splitter.getAddress(), await stack.token.getAddress()]),
    ];
    const claim = await cost(escrow.connect(authorizer).multicall(calls));
    const requests = count * vouchers;
    const link = await cost(stack.splitter.connect(authorizer).linkChannelOutputs(E.hexlify(E.randomBytes(32)), requests, 1n));
    return { payers: count, vouchers, requests, deposits, claim, link };
  };
  if (payers.length < Math.max(...shapes.map(([n]) => n))) throw new Error("channelRuns: fewer payers than a shape needs");
  await run(1, 1); // warm-up: the escrow's and the splitter's storage exist from here on
  const out = [];
  for (const [count, vouchers] of shapes) out.push(await run(count, vouchers));
  return out;
}

export async function channelGas(stack: Stack, price: bigint): Promise<ChannelGas> {
  const payers = await fundedWallets(stack, 32);
  const shapes: [number, number][] = [
    [1, 100],
    [1, 1000],
    [10, 100],
    [32, 100],
  ];
  const runs = await channelRuns(stack, price, shapes, payers);
  const perInference = Object.fromEntries(runs.map((r) => [`${r.payers} x ${r.vouchers}`, perRequest(channelTotal(r), r.requests).gas]));
  const [one, , ten] = runs;
  return {
    perInference,
    deposit: Number(one.deposits.gas),
    claimOneChannel: Number(one.claim.gas),
    claimPerExtraChannel: Number((ten.claim.gas - one.claim.gas) / 9n),
    link: Number(one.link.gas),
  };
}

async function openChannel(stack: Stack, escrow: X402BatchSettlement, authorizer: HardhatEthersSigner, payer: E.Wallet, amount: bigint) {
  const config = {
    payer: payer.address,
    payerAuthorizer: payer.address,
    receiver: await stack.splitter.getAddress(),
    receiverAuthorizer: authorizer.address,
    token: await stack.token.getAddress(),
    withdrawDelay: 900,
    salt: E.hexlify(E.randomBytes(32)),
  };
  const channelId = await escrow.getChannelId(config);
  const salt = BigInt(E.hexlify(E.randomBytes(32)));
  const validBefore = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const nonce = E.keccak256(E.AbiCoder.defaultAbiCoder().encode(["bytes32", "uint256"], [channelId, salt]));
  const authorization = { from: payer.address, to: ERC3009_DEPOSIT_COLLECTOR_ADDRESS, value: amount, validAfter: 0n, validBefore, nonce };
  const signature = await payer.signTypedData(await tokenDomain(stack.token, stack.chainId), RECEIVE_TYPES, authorization);
  const data = E.AbiCoder.defaultAbiCoder().encode(["uint256", "uint256", "uint256", "bytes"], [0n, validBefore, salt, signature]);
  const cost = await costOf(
    stack.ethers.provider,
    escrow.connect(authorizer).deposit(config, amount, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, data),
  );
  return { config, cost };
}

async function claimRow(
  stack: Stack,
  escrow: X402BatchSettlement,
  config: X402BatchSettlement.ChannelConfigStruct,
  payer: E.Wallet,
  max: bigint,
) {
  const domain = { name: "x402 Batch Settlement", version: "1", chainId: stack.chainId, verifyingContract: BATCH_SETTLEMENT_ADDRESS };
  const signature = await payer.signTypedData(domain, VOUCHER_TYPES, {
    channelId: await escrow.getChannelId(config),
    maxClaimableAmount: max,
  });
  return { voucher: { channel: config, maxClaimableAmount: max }, signature, totalClaimed: max };
}
