// Per-file fixtures for the splitter tests: one in-process chain per file, fresh stacks on demand,
// signed x402 payments to the splitter, and small epoch/claim shortcuts.
import { ethers as E } from "ethers";
import {
  connectChain,
  deployStack,
  settlementOf,
  signAuthorization,
  tokenDomain,
  type Chain,
  type SplitterConfig,
} from "../../scripts/shared/stack.ts";
import { mined, now } from "./support.ts";
import { LOCAL_MIN_CHALLENGE_PERIOD } from "../../server/chain/accounts.ts";

let chainPromise: Promise<Chain> | undefined;

/** A fresh TestUSDC + factory + splitter on this file's chain, with the splitter's address and token domain. */
export async function freshStack(overrides: Partial<SplitterConfig> = {}, opts: { payers?: number; fundEach?: bigint } = {}) {
  chainPromise ??= connectChain();
  const st = await deployStack(await chainPromise, overrides, opts);
  const splitterAddress = await st.splitter.getAddress();
  const domain = await tokenDomain(st.token, st.chainId);
  return { ...st, splitterAddress, domain };
}

export type Fixture = Awaited<ReturnType<typeof freshStack>>;
type Payer = Parameters<typeof signAuthorization>[0];

/** A payer's EIP-3009 authorization to the splitter, signed now (chain time), as a Settlement. */
export async function payment(
  f: Fixture,
  payer: Payer,
  value: bigint,
  extra: Partial<{ from: string; to: string; validAfter: bigint; validBefore: bigint; nonce: string }> = {},
) {
  const signed = await signAuthorization(payer, f.domain, { to: f.splitterAddress, value, ...extra }, await now(f));
  return settlementOf(signed);
}

/** Settles one payment through the initial facilitator. */
export async function settle(f: Fixture, payer: Payer, value: bigint) {
  const item = await payment(f, payer, value);
  return mined(f.splitter.connect(f.roles.facilitator).settle(item));
}

/**
 * Posts an epoch as the oracle. With the local one-second challenge period it also mines one more block,
 * so that views (which run at the latest block's time) already see the epoch active.
 */
export async function postEpoch(f: Fixture, epoch: bigint | number, claimsRoot: string, cumulative: bigint, uri = "") {
  const receipt = await mined(
    f.splitter.connect(f.roles.oracle).postEpoch(epoch, claimsRoot, cumulative, E.id(`records:${epoch}:${claimsRoot}`), uri),
  );
  if (f.config.challengePeriod === LOCAL_MIN_CHALLENGE_PERIOD) await f.connection.networkHelpers.mine();
  return receipt;
}

/** Sum of the splitter's on-chain payout counters. */
export async function paidOut(f: Fixture) {
  const [claimed, owner, protocol] = await Promise.all([
    f.splitter.totalClaimed(),
    f.splitter.ownerWithdrawn(),
    f.splitter.protocolWithdrawn(),
  ]);
  return claimed + owner + protocol;
}
