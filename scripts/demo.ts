// royalty402 demo: the whole money path on an in-process chain, in one command (`npm run demo`).
//   1. deploy TestUSDC, the SplitterFactory and a model's RoyaltySplitter (its address is the x402 payTo)
//   2. build a datanet from real text (the Brown corpus), one document per contributor, and its index
//   3. "model outputs" that quote contributors' passages are attributed to them
//   4. payers sign EIP-3009 authorizations; the facilitator settles them in one settleBatch
//   5. the oracle aggregates the epoch and posts its claims root; every contributor claims
//   6. a table: on-chain balances equal the computed entitlements to the unit
import { ethers as E } from "ethers";
import { deployStack, signAuthorization, settlementOf, tokenDomain } from "../test/helpers/stack.ts";
import {
  Datanet,
  attribute,
  buildEpoch,
  buildIndex,
  hashRecord,
  loadBrownCorpus,
  postEpoch,
  splitterContract,
  type EpochPayment,
} from "../server/attribution/index.ts";

const CONTRIBUTORS = 40;
const PRICE = 10_000n; // 0.01 USDC per output
const usdc = (units: bigint) => `${units / 1_000_000n}.${(units % 1_000_000n).toString().padStart(6, "0")}`;
const step = (s: string) => console.log(`\n» ${s}`);

step("Local chain: deploying TestUSDC, SplitterFactory and the model's RoyaltySplitter");
const stack = await deployStack(undefined, { ownerBps: 1000, protocolBps: 200 }, { payers: 3, fundEach: 10_000_000n });
const { token, factory, splitter, roles, payers, chainId } = stack;
const splitterAddress = await splitter.getAddress();
console.log(`  TestUSDC        ${await token.getAddress()}`);
console.log(`  SplitterFactory ${await factory.getAddress()}`);
console.log(`  RoyaltySplitter ${splitterAddress}  (x402 payTo; owner 10%, protocol 2%, contributors 88%)`);

step(`Datanet: ${CONTRIBUTORS} contributors, one Brown corpus document each`);
const wallets = Array.from({ length: CONTRIBUTORS }, (_, i) => E.getAddress(E.dataSlice(E.id(`contributor ${i}`), 12)));
const docs = loadBrownCorpus(CONTRIBUTORS);
const datanet = Datanet.from(docs.map((d, i) => ({ contributor: wallets[i], text: d.text })));
const t0 = performance.now();
const { index } = buildIndex(datanet);
console.log(`  ${index.corpusTokens} tokens indexed in ${Math.round(performance.now() - t0)} ms, indexRoot ${index.indexRoot}`);

step("Outputs quoting contributors' passages, attributed (min span 8 tokens, surprisal weights)");
const outputs = Array.from({ length: 24 }, (_, k) => {
  const a = docs[(k * 7) % CONTRIBUTORS].text, b = docs[(k * 13 + 5) % CONTRIBUTORS].text;
  const quote = (t: string, n: number) => t.slice(200 + n * 37, 200 + n * 37 + 160 + (n % 3) * 80);
  return `Here is what the sources say. ${quote(a, k)} Meanwhile, ${quote(b, k + 1)} That is all.`;
});
const records = outputs.map((o) => attribute(index, o, "What do the sources say?"));
const top = records[0].contributors.toSorted((x, y) => y.ppm - x.ppm).slice(0, 3);
console.log(`  output 0: ${top.map((c) => `${c.address.slice(0, 10)}… ${(c.ppm / 1e4).toFixed(1)}%`).join(", ")}, unattributed ${(records[0].unattributedPpm / 1e4).toFixed(1)}%`);

step(`Payments: ${outputs.length} x402 authorizations (EIP-3009) settled in one settleBatch`);
const domain = await tokenDomain(token, chainId);
const payments: EpochPayment[] = [];
const items = [];
for (const [k, record] of records.entries()) {
  const outputId = E.id(`output ${k}`);
  items.push(settlementOf(await signAuthorization(payers[k % payers.length], domain, { to: splitterAddress, value: PRICE }), outputId, hashRecord(record)));
  payments.push({ outputId, amount: PRICE, record });
}
const batch = await (await splitter.connect(roles.facilitator).settleBatch(items)).wait();
console.log(`  tx ${batch!.hash}: ${items.length} payments, ${batch!.gasUsed / BigInt(items.length)} gas each; splitter received ${usdc(await splitter.totalReceived())} USDC`);

step("Epoch 1: aggregate the records, post claims root + records root on-chain");
const doc = buildEpoch({ epoch: 1, ownerBps: 1000, protocolBps: 200, modelOwner: roles.owner.address, payments, chainId, splitter: splitterAddress });
const posted = await postEpoch(splitterContract(splitterAddress, roles.oracle), doc, "demo://epoch/1");
console.log(`  claimsRoot ${doc.claims.root}\n  allocated ${usdc(BigInt(doc.cumulativeAllocated))} USDC to ${doc.claims.leaves.length} accounts, tx ${posted.hash}`);

step("Claims: a keeper claims for every contributor (tokens go to the contributor)");
const keeper = splitter.connect(roles.keeper);
for (const leaf of doc.claims.leaves) await (await keeper.claim(leaf.account, leaf.cumulativeAmount, leaf.proof)).wait();
await (await splitter.withdrawOwnerFees()).wait();
await (await splitter.withdrawProtocolFees()).wait();

step("Result");
const rows = [];
let mismatches = 0;
for (const leaf of doc.claims.leaves) {
  const balance = await token.balanceOf(leaf.account);
  const isOwner = leaf.account === roles.owner.address;
  const expected = BigInt(leaf.cumulativeAmount) + (isOwner ? await splitter.ownerAccrued() : 0n);
  const outputsUsing = records.filter((r) => r.contributors.some((c) => c.address === leaf.account)).length;
  if (balance !== expected) mismatches++;
  rows.push({ account: isOwner ? "model owner (+unattributed)" : leaf.account, outputs: outputsUsing, entitled: usdc(expected), onChain: usdc(balance), ok: balance === expected ? "✓" : "✗" });
}
console.table(rows.toSorted((a, b) => Number(b.onChain) - Number(a.onChain)));
const left = await token.balanceOf(splitterAddress);
console.log(`protocol ${usdc(await token.balanceOf(roles.protocol.address))} USDC; left in splitter ${usdc(left)} (unallocated rounding)`);
if (mismatches > 0) {
  console.error(`${mismatches} accounts differ from their entitlement`);
  process.exit(1);
}
console.log("Every on-chain balance equals its computed entitlement to the unit.");
