// Gas per paid inference through x402 batch-settlement channels, for bench:gas. Vouchers cost no gas:
// what a channel payment costs on-chain is the payer's deposit, the claim-and-settle transaction (one row
// per channel, whatever its number of vouchers, and one settle per splitter) and the splitter's
// ChannelOutputsPaid link, divided by the paid requests they cover. Measured on the escrow and collector
// stand-ins at their canonical addresses, after a warm-up channel so every figure is steady state.
import { ethers as E } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { BATCH_SETTLEMENT_ADDRESS, ERC3009_DEPOSIT_COLLECTOR_ADDRESS } from "../../server/chain/x402/addresses.ts";
import type { X402BatchSettlement } from "../../types/ethers-contracts/index.ts";
import { tokenDomain, type Stack } from "../shared/stack.ts";

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

export async function channelGas(stack: Stack, price: bigint): Promise<ChannelGas> {
  const escrow = (await stack.ethers.getContractAt("X402BatchSettlement", BATCH_SETTLEMENT_ADDRESS)) as unknown as X402BatchSettlement;
  const authorizer = stack.roles.facilitator; // the channels' receiver authorizer, a facilitator of the splitter
  const run = async (payers: HardhatEthersSigner[], vouchers: number) => {
    let deposits = 0n;
    const rows = [];
    for (const payer of payers) {
      const channel = await openChannel(stack, escrow, authorizer, payer, price * BigInt(vouchers));
      deposits += channel.gas;
      rows.push(await claimRow(stack, escrow, channel.config, payer, price * BigInt(vouchers)));
    }
    const calls = [
      escrow.interface.encodeFunctionData("claim", [rows]),
      escrow.interface.encodeFunctionData("settle", [await stack.splitter.getAddress(), await stack.token.getAddress()]),
    ];
    const claim = await gasOf(escrow.connect(authorizer).multicall(calls));
    const link = await gasOf(stack.splitter.connect(authorizer).linkChannelOutputs(E.id("outputs"), payers.length * vouchers, 1n));
    return { deposits, claim, link, perInference: Number((deposits + claim + link) / BigInt(payers.length * vouchers)) };
  };
  const payers = stack.others.slice(0, 32);
  for (const p of payers) await (await stack.token.mint(p.address, 10n ** 12n)).wait();
  const warm = await run(payers.slice(0, 1), 1);
  const one = await run(payers.slice(0, 1), 100);
  const ten = await run(payers.slice(0, 10), 100);
  const perInference: Record<string, number> = { "1 x 100": one.perInference };
  perInference["1 x 1000"] = (await run(payers.slice(0, 1), 1000)).perInference;
  perInference["10 x 100"] = ten.perInference;
  perInference["32 x 100"] = (await run(payers, 100)).perInference;
  return {
    perInference,
    deposit: Number(one.deposits),
    claimOneChannel: Number(one.claim),
    claimPerExtraChannel: Number((ten.claim - one.claim) / 9n),
    link: Number(warm.link),
  };
}

async function gasOf(tx: Promise<E.ContractTransactionResponse>) {
  return (await (await tx).wait())!.gasUsed;
}

async function openChannel(
  stack: Stack,
  escrow: X402BatchSettlement,
  authorizer: HardhatEthersSigner,
  payer: HardhatEthersSigner,
  amount: bigint,
) {
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
  const gas = await gasOf(escrow.connect(authorizer).deposit(config, amount, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, data));
  return { config, gas };
}

async function claimRow(
  stack: Stack,
  escrow: X402BatchSettlement,
  config: X402BatchSettlement.ChannelConfigStruct,
  payer: HardhatEthersSigner,
  max: bigint,
) {
  const domain = { name: "x402 Batch Settlement", version: "1", chainId: stack.chainId, verifyingContract: BATCH_SETTLEMENT_ADDRESS };
  const signature = await payer.signTypedData(domain, VOUCHER_TYPES, {
    channelId: await escrow.getChannelId(config),
    maxClaimableAmount: max,
  });
  return { voucher: { channel: config, maxClaimableAmount: max }, signature, totalClaimed: max };
}
