// Gas benchmark. Everything is measured in one run on the in-process Hardhat chain, as full receipt
// gas, and compared with baselines from the same run; then the contract-side reliability figures
// (scripts/bench/contracts/reliability.ts).
//   npm run bench:gas   ->  prints a table, writes scripts/bench/results/gas.json and contracts-reliability.json
import { writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import { ethers as E } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { deployStack, tokenDomain, signAuthorization, settlementOf, type Stack } from "../shared/stack.ts";
import { contractReliability } from "./contracts/reliability.ts";
import { channelGas, type ChannelGas } from "./channels.ts";
import { fundedWallets } from "./wallets.ts";

const PAYMENT = 10_000n; // 0.01 USDC
const median = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[Math.floor(xs.length / 2)];
const gasOf = async (tx: Promise<E.ContractTransactionResponse>) => (await (await tx).wait())!.gasUsed;

async function main() {
  const stack = await deployStack(undefined, {}, { payers: 8, fundEach: 10n ** 12n });
  const { token, splitter, roles, payers, chainId, ethers } = stack;
  const domain = await tokenDomain(token, chainId);
  const to = await splitter.getAddress();
  const sign = (i: number, toAddr = to) => signAuthorization(payers[i % payers.length], domain, { to: toAddr, value: PAYMENT });
  const asFacilitator = splitter.connect(roles.facilitator);
  const SAMPLES = 7;

  // Warm state first (splitter and payers hold balances) so every figure is a steady-state payment.
  await gasOf(asFacilitator.settle(settlementOf(await sign(0))));

  // 1. A plain transferWithAuthorization into the splitter (what any x402 facilitator sends).
  const plain: bigint[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const { auth: a, signature } = await sign(i);
    plain.push(
      await gasOf(
        token
          .connect(roles.keeper)
          ["transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"](
            a.from,
            a.to,
            a.value,
            a.validAfter,
            a.validBefore,
            a.nonce,
            signature,
          ),
      ),
    );
  }
  // 2. settle: the same authorization through the splitter, with output id and attribution root.
  const settle: bigint[] = [];
  for (let i = 0; i < SAMPLES; i++) settle.push(await gasOf(asFacilitator.settle(settlementOf(await sign(i)))));
  // 3. settleBatch of 32 payments from 32 different payers (as in real traffic: no payer's slots shared in a batch).
  const batchPayers = await fundedWallets(stack, 32);
  const batch: bigint[] = [];
  for (let r = 0; r < 3; r++) {
    const items = [];
    for (const payer of batchPayers) items.push(settlementOf(await signAuthorization(payer, domain, { to, value: PAYMENT })));
    batch.push((await gasOf(asFacilitator.settleBatch(items))) / 32n);
  }

  // 4. Per payment vs contributors: 100 payments settled + the epoch that allocates them, / 100.
  const perPaymentByContributors: Record<string, number> = {};
  const postEpochByContributors: Record<string, number> = {};
  const firstEpochByContributors: Record<string, number> = {};
  for (const n of [1, 10, 100, 1000]) {
    const s = await deployStack(stack, {}, { payers: 8, fundEach: 10n ** 12n });
    const sTo = await s.splitter.getAddress();
    const sDomain = await tokenDomain(s.token, chainId);
    const fac = s.splitter.connect(s.roles.facilitator);
    await gasOf(fac.settle(settlementOf(await signAuthorization(s.payers[0], sDomain, { to: sTo, value: PAYMENT }))));
    let gas = 0n;
    for (let b = 0; b < 4; b++) {
      const items = [];
      for (let i = 0; i < 25; i++) {
        items.push(settlementOf(await signAuthorization(s.payers[i % 8], sDomain, { to: sTo, value: PAYMENT })));
      }
      gas += await gasOf(fac.settleBatch(items));
    }
    // The epoch allocating these payments is the splitter's third: the first two (the first creates the
    // pending epoch's slots, the second promotes it and so creates the active epoch's slots) are posted
    // before, so the figure is the steady-state cost (it promotes the previous epoch, as every post does).
    const pool = await s.splitter.contributorPool();
    const oracle = s.splitter.connect(s.roles.oracle);
    const first = StandardMerkleTree.of(leavesSplitting(pool / 100n, n), ["address", "uint256"]);
    firstEpochByContributors[String(n)] = Number(await gasOf(oracle.postEpoch(1, first.root, pool / 100n, E.id("r1"), epochUri(1))));
    const second = StandardMerkleTree.of(leavesSplitting(pool / 50n, n), ["address", "uint256"]);
    await gasOf(oracle.postEpoch(2, second.root, pool / 50n, E.id("r2"), epochUri(2)));
    const tree = StandardMerkleTree.of(leavesSplitting(pool, n), ["address", "uint256"]);
    const post = await gasOf(oracle.postEpoch(3, tree.root, pool, E.id(`records:${n}`), epochUri(3)));
    perPaymentByContributors[String(n)] = Number((gas + post) / 100n);
    postEpochByContributors[String(n)] = Number(post);
  }

  // 5. Push baseline: each payment pulled in and pushed to 100 contributors by weight.
  const recipients = Array.from({ length: 100 }, (_, i) => E.getAddress(E.zeroPadValue(E.toBeHex(0x1000 + i), 20)));
  const weights = recipients.map((_, i) => BigInt(1 + (i % 7)));
  const push = await ethers.deployContract("PushSplitBaseline", [await token.getAddress(), recipients, weights]);
  const pushTo = await push.getAddress();
  const pushGas: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    const { auth: a, signature } = await sign(i, pushTo);
    const g = await gasOf(push.settleAndPush(a.from, a.value, a.validAfter, a.validBefore, a.nonce, signature));
    if (i > 0) pushGas.push(g); // first payment creates every recipient's balance; report the repeat
  }

  // 6. Claims against a 100,000-leaf tree: an account's first claim, then a repeat in the next epoch.
  const claims = await claimGas(stack);

  // 7. x402 batch-settlement channels: deposit + one claim-and-settle + the splitter's link, per paid request.
  const channels = await channelGas(stack, PAYMENT);

  const plainGas = median(plain);
  const results = {
    machine: `${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    date: new Date().toISOString(),
    command: "npm run bench:gas",
    token: "TestUSDC (OpenZeppelin ERC20 + own EIP-3009, bytes-signature overload)",
    gas: {
      plainTransfer: Number(plainGas),
      settle: Number(median(settle)),
      settleBatch32PerPayment: Number(median(batch)),
      settleBatch32Payers: "32 different payers (fresh keys), steady state",
      perPaymentByContributors,
      pushSplit100PerPayment: Number(median(pushGas)),
      postEpoch: postEpochByContributors["1000"],
      postEpochByContributors,
      firstPostEpochByContributors: firstEpochByContributors,
      claimFirst100k: claims.first,
      claimFirst100kToTokenHolder: claims.firstToTokenHolder,
      claimRepeat100k: claims.repeat,
      channels,
    },
    ratios: {
      settleVsPlain: round(Number(median(settle)) / Number(plainGas)),
      settleBatch32VsPlain: round(Number(median(batch)) / Number(plainGas)),
      contributors1000Vs1: round(perPaymentByContributors["1000"] / perPaymentByContributors["1"]),
      pushSplit100VsOurs: round(Number(median(pushGas)) / perPaymentByContributors["100"]),
      channels1000PerClaimVsBatch32: round(channels.perInference["1 x 1000"] / Number(median(batch))),
    },
    targets: {
      settleVsPlain: "<= 1.12",
      settleBatch32VsPlain: "<= 0.66",
      contributors1000Vs1: "<= 1.01",
      pushSplit100VsOurs: ">= 15",
      postEpoch: "<= 60000",
      claimFirst100k: "<= 100000",
      claimRepeat100k: "<= 75000",
    },
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/gas.json", import.meta.url), JSON.stringify(results, null, 2) + "\n");
  printTable(results);

  const reliability = { date: results.date, command: results.command, ...(await contractReliability(stack)) };
  writeFileSync(new URL("./results/contracts-reliability.json", import.meta.url), JSON.stringify(reliability, null, 2) + "\n");
  console.log(JSON.stringify(reliability, null, 2));
  console.log("\nwritten: scripts/bench/results/contracts-reliability.json");
}

function round(x: number) {
  return Math.round(x * 1000) / 1000;
}

function epochUri(n: number) {
  return `https://models.example/epochs/${n}.json`;
}

/** n contributors sharing `pool` unevenly (largest remainder so the sum is exact). */
function leavesSplitting(pool: bigint, n: number): [string, bigint][] {
  const weights = Array.from({ length: n }, (_, i) => BigInt(1 + ((i * 7919) % 97)));
  const total = weights.reduce((a, b) => a + b, 0n);
  const amounts = weights.map((w) => (pool * w) / total);
  let rest = pool - amounts.reduce((a, b) => a + b, 0n);
  for (let i = 0; rest > 0n; i = (i + 1) % n, rest--) amounts[i] += 1n;
  return amounts.map((a, i) => [E.getAddress(E.zeroPadValue(E.toBeHex(0xc0de0000 + i), 20)), a]);
}

async function claimGas(stack: Stack) {
  const s = await deployStack(stack, {}, { payers: 1, fundEach: 10n ** 15n });
  const { auth: a, signature } = await signAuthorization(s.payers[0], await tokenDomain(s.token, s.chainId), {
    to: await s.splitter.getAddress(),
    value: 10n ** 14n,
  });
  await gasOf(s.splitter.connect(s.roles.facilitator).settle(settlementOf({ auth: a, signature })));
  const pool = await s.splitter.contributorPool();
  const N = 100_000;
  // The claimant holds no tokens yet (the worst first claim); another contributor has claimed before
  // it, so the splitter's own claim counters already exist, as on any splitter in use.
  const claimant = s.others[0].address;
  const earlier = s.others[1].address;
  const epochTree = (perLeaf: bigint) => {
    const leaves: [string, bigint][] = [
      [claimant, perLeaf],
      [earlier, perLeaf],
      [holder, perLeaf],
    ];
    for (let i = 3; i < N; i++) leaves.push([E.getAddress(E.zeroPadValue(E.toBeHex(0xa0000000 + i), 20)), perLeaf]);
    return StandardMerkleTree.of(leaves, ["address", "uint256"]);
  };
  const holder = s.others[2].address; // already holds some USDC, like most wallets that get paid
  await (await s.token.mint(holder, 1n)).wait();
  const claimOnce = async (epoch: number, perLeaf: bigint, _who = claimant, _index = 0) => {
    const tree = epochTree(perLeaf);
    await gasOf(s.splitter.connect(s.roles.oracle).postEpoch(epoch, tree.root, perLeaf * BigInt(N), E.ZeroHash, epochUri(epoch)));
    if (epoch === 1) await gasOf(s.splitter.claim(earlier, perLeaf, tree.getProof(1)));
    const first = Number(await gasOf(s.splitter.connect(s.roles.keeper).claim(claimant, perLeaf, tree.getProof(0))));
    const holderGas = Number(await gasOf(s.splitter.connect(s.roles.keeper).claim(holder, perLeaf, tree.getProof(2))));
    return { first, holderGas };
  };
  const unit = pool / BigInt(2 * N);
  const e1 = await claimOnce(1, unit);
  const e2 = await claimOnce(2, 2n * unit);
  return { first: e1.first, firstToTokenHolder: e1.holderGas, repeat: e2.first };
}

/** Gas per paid inference through channels, against settleBatch(32) per payment. */
function channelRows(c: ChannelGas, batch32: number): [string, string, string][] {
  return [
    ...Object.entries(c.perInference).map(([shape, gas]): [string, string, string] => [
      `channels, ${shape.replace(" x ", " payer(s) x ")} vouchers per claim, per paid inference`,
      String(gas),
      `${round(gas / batch32)}x settleBatch(32)`,
    ]),
    ["channels: deposit (ERC-3009 collector)", String(c.deposit), "once per top-up"],
    ["channels: claim-and-settle, one channel / each further channel", `${c.claimOneChannel}`, `+${c.claimPerExtraChannel}`],
    ["channels: linkChannelOutputs", String(c.link), "once per splitter per claim"],
  ];
}

function printTable(r: { gas: Record<string, unknown>; ratios: Record<string, number>; targets: Record<string, string> }) {
  const g = r.gas as Record<string, number>;
  const rows: [string, string, string][] = [
    ["plain transferWithAuthorization into splitter", String(g.plainTransfer), "baseline"],
    ["settle", String(g.settle), `${r.ratios.settleVsPlain}x plain (target ${r.targets.settleVsPlain})`],
    [
      "settleBatch(32) per payment, 32 different payers",
      String(g.settleBatch32PerPayment),
      `${r.ratios.settleBatch32VsPlain}x plain (target ${r.targets.settleBatch32VsPlain})`,
    ],
    ...Object.entries(r.gas.perPaymentByContributors as Record<string, number>).map(([n, v]): [string, string, string] => [
      `per payment, ${n} contributors (settle + epoch)/100`,
      String(v),
      "",
    ]),
    ["  1000 vs 1 contributors", "", `${r.ratios.contributors1000Vs1}x (target ${r.targets.contributors1000Vs1})`],
    [
      "push split to 100 contributors, per payment",
      String(g.pushSplit100PerPayment),
      `${r.ratios.pushSplit100VsOurs}x ours (target ${r.targets.pushSplit100VsOurs})`,
    ],
    ["postEpoch (1000 contributors, steady state)", String(g.postEpoch), `target ${r.targets.postEpoch}`],
    [
      "postEpoch, a splitter's very first epoch",
      String((r.gas.firstPostEpochByContributors as Record<string, number>)["1000"]),
      "creates the epoch slots",
    ],
    ["claim, 100k-leaf tree, first (claimant held no USDC)", String(g.claimFirst100k), `target ${r.targets.claimFirst100k}`],
    ["claim, 100k-leaf tree, first (claimant holds USDC)", String(g.claimFirst100kToTokenHolder), ""],
    ["claim, 100k-leaf tree, repeat", String(g.claimRepeat100k), `target ${r.targets.claimRepeat100k}`],
    ...channelRows(r.gas.channels as ChannelGas, g.settleBatch32PerPayment),
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w)}  ${b.padStart(9)}  ${c}`);
  console.log("\nwritten: scripts/bench/results/gas.json");
}

await main();
