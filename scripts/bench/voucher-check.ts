// How long the in-process check of one channel voucher takes: what the channel facilitator runs per
// paid request before any model work (server/facilitator/batch-settlement/facilitator.ts `check`):
// parse the payload, check the channel terms against the offer, recover the voucher's ECDSA signer
// (EIP-712) and check the cumulative amount against the channel's record. Vouchers are signed before
// timing with the reference client's signVoucher, over `channels` channels of `perChannel` vouchers each.
import { performance } from "node:perf_hooks";
import { parseChannelPayload, type ChannelPayload } from "@royalty402/fastify-x402";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { getAddress, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { ChannelRecord } from "../../server/facilitator/batch-settlement/book.ts";
import { checkChannel, checkCumulative, checkVoucherSignature } from "../../server/facilitator/batch-settlement/verify.ts";

const NETWORK = "eip155:31337";
const CHAIN_ID = 31337;
const PRICE = 1_000n;
const WARMUP = 500;

interface Case {
  payment: PaymentPayload;
  record: ChannelRecord;
  charged: bigint;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function voucherCheckTimes(channels = 100, perChannel = 100) {
  const authorizer = privateKeyToAccount(generatePrivateKey()).address;
  const requirements: PaymentRequirements = {
    scheme: "batch-settlement",
    network: NETWORK,
    asset: getAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3"),
    amount: PRICE.toString(),
    payTo: getAddress("0x8464135c8f25da09e49bc8782676a84730c318bc"),
    maxTimeoutSeconds: 300,
    extra: { receiverAuthorizer: authorizer, withdrawDelay: 900, name: "USD Coin", version: "2" },
  };
  const cases = await signedCases(requirements, authorizer, channels, perChannel);
  const check = async (c: Case) => {
    const p = parseChannelPayload(c.payment) as ChannelPayload;
    const refused =
      checkChannel(p, requirements, authorizer, CHAIN_ID) ?? checkVoucherSignature(p, CHAIN_ID) ?? checkCumulative(p, c.record, PRICE);
    if (refused) throw new Error(`voucher check refused a good voucher: ${refused.reason}`);
  };
  for (const c of cases.slice(0, WARMUP)) {
    c.record.charged = c.charged;
    await check(c);
  }
  // Each voucher is checked twice, as a paid request does (the facilitator's verify, then its settle).
  const first: number[] = [];
  const again: number[] = [];
  for (const c of cases.slice(WARMUP)) {
    c.record.charged = c.charged; // the channel's state just before this voucher
    let t0 = performance.now();
    await check(c);
    first.push(performance.now() - t0);
    t0 = performance.now();
    await check(c);
    again.push(performance.now() - t0);
  }
  const stats = (times: number[]) => {
    times.sort((a, b) => a - b);
    return {
      p50Ms: round3(percentile(times, 50)),
      p99Ms: round3(percentile(times, 99)),
      maxMs: round3(times[times.length - 1]),
      meanMs: round3(times.reduce((a, b) => a + b, 0) / times.length),
    };
  };
  return {
    vouchers: first.length,
    channels,
    warmupVouchers: WARMUP,
    steps:
      "parseChannelPayload + checkChannel + checkVoucherSignature (EIP-712 digest with the domain separator " +
      "cached per chain + libsecp256k1 recovery) + checkCumulative",
    ...stats(first),
    settleRecheck: stats(again),
  };
}

async function signedCases(req: PaymentRequirements, authorizer: Hex, channels: number, perChannel: number): Promise<Case[]> {
  const cases: Case[] = [];
  for (let k = 0; k < channels; k++) {
    const account = privateKeyToAccount(generatePrivateKey());
    const config = {
      payer: account.address,
      payerAuthorizer: account.address,
      receiver: req.payTo as Hex,
      receiverAuthorizer: authorizer,
      token: req.asset as Hex,
      withdrawDelay: 900,
      salt: `0x${k.toString(16).padStart(64, "0")}` as Hex,
    };
    const channelId = computeChannelId(config, NETWORK);
    const record: ChannelRecord = {
      channelId,
      config,
      balance: PRICE * BigInt(perChannel),
      totalClaimed: 0n,
      refundNonce: 0n,
      withdrawRequestedAt: 0,
      charged: 0n,
      signedMax: 0n,
      signature: null,
      stuck: null,
      busy: false,
    };
    const signer = toClientEvmSigner(account);
    for (let i = 1; i <= perChannel; i++) {
      const voucher = await signVoucher(signer, channelId, String(PRICE * BigInt(i)), NETWORK);
      const payment = { x402Version: 2, accepted: req, payload: { type: "voucher", channelConfig: config, voucher } };
      cases.push({ payment, record, charged: PRICE * BigInt(i - 1) });
    }
  }
  // Interleave channels as concurrent payers would.
  return cases
    .map((c, i) => ({ c, key: (i % perChannel) * channels + Math.floor(i / perChannel) }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.c);
}
