// The on-chain cost of one paid inference, amortized, for each way of paying: a stock facilitator's
// transferWithAuthorization into the splitter, our `settle`, our `settleBatch` of 32 different payers,
// and channels claimed every 100 and every 1,000 vouchers. Run on any in-process chain (the default
// network, or `hardhatOp` with L1 fees set): each row sums its transactions' gas and l1Fee.
import { deployStack, settlementOf, signAuthorization, tokenDomain, type Chain } from "../shared/stack.ts";
import { channelRuns, channelTotal } from "./channels.ts";
import { NO_COST, addCosts, costOf, perRequest, type TxCost } from "./costs.ts";
import { fundedWallets } from "./wallets.ts";

export const PAYMENT = 10_000n; // 0.01 USDC
const SINGLES = 8;
const BATCHES = 2;

export interface CostRow {
  /** Paid requests the transactions covered. */
  requests: number;
  gas: number;
  l1FeeWei: bigint;
}

export type PaymentWay = "referenceExact" | "exactSettle" | "exactBatch32" | "channels100" | "channels1000";

const row = (total: TxCost, requests: number): CostRow => ({ requests, ...perRequest(total, requests) });

export async function costPerInference(chain: Chain): Promise<Record<PaymentWay, CostRow>> {
  const stack = await deployStack(chain, {}, { payers: 1 });
  const { token, splitter, roles } = stack;
  const provider = stack.ethers.provider;
  const domain = await tokenDomain(token, stack.chainId);
  const to = await splitter.getAddress();
  const payers = await fundedWallets(stack, 32);
  const signed = (i: number) => signAuthorization(payers[i % payers.length], domain, { to, value: PAYMENT });
  const facilitator = splitter.connect(roles.facilitator);
  await costOf(provider, facilitator.settle(settlementOf(await signed(0)))); // warm: the splitter holds a balance

  let reference = NO_COST;
  for (let i = 0; i < SINGLES; i++) {
    const { auth: a, signature } = await signed(i + 1);
    const transfer = token.connect(roles.keeper)["transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"];
    reference = addCosts(
      reference,
      await costOf(provider, transfer(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signature)),
    );
  }
  let single = NO_COST;
  for (let i = 0; i < SINGLES; i++)
    single = addCosts(single, await costOf(provider, facilitator.settle(settlementOf(await signed(i + 1)))));
  let batch = NO_COST;
  for (let b = 0; b < BATCHES; b++) {
    const items = [];
    for (let i = 0; i < 32; i++) items.push(settlementOf(await signed(i)));
    batch = addCosts(batch, await costOf(provider, facilitator.settleBatch(items)));
  }
  const [c100, c1000] = await channelRuns(
    stack,
    PAYMENT,
    [
      [1, 100],
      [1, 1000],
    ],
    payers,
  );
  return {
    referenceExact: row(reference, SINGLES),
    exactSettle: row(single, SINGLES),
    exactBatch32: row(batch, 32 * BATCHES),
    channels100: row(channelTotal(c100), c100.requests),
    channels1000: row(channelTotal(c1000), c1000.requests),
  };
}
