// npm run bench:economics — what a paid inference costs and how fast channels serve, in one run:
//  1. gas per paid inference, amortized, on the in-process chain: a stock facilitator's
//     transferWithAuthorization, our `settle`, our `settleBatch` of 32 different payers, and x402
//     batch-settlement channels claimed every 100 and every 1,000 vouchers (economics-gas.ts);
//  2. the same on Hardhat's OP-stack chain type with Base's L1 fee scalars (op-stack.ts): total fee
//     per inference (L2 execution at two gas prices + the receipts' L1 data fee), in wei, in dollars,
//     and as a share of a $0.01 inference;
//  3. paid requests/s through channels against the same route unpaid (economics-load.ts), and the
//     in-process voucher check's p50/p99 (voucher-check.ts).
// Writes scripts/bench/results/economics.json and prints the table with the targets (✓/✗).
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { connectChain } from "../shared/stack.ts";
import { costPerInference, PAYMENT, type CostRow, type PaymentWay } from "./economics-gas.ts";
import { channelThroughput } from "./economics-load.ts";
import { BASE_L1_FEES, setL1Fees } from "./op-stack.ts";
import { voucherCheckTimes } from "./voucher-check.ts";

const env = process.env;
const VOUCHER_CHECKS = Number(env.BENCH_ECONOMICS_CHECKS ?? 4000);
const ETH_USD = 3000;
const L2_GAS_PRICES_GWEI = [0.005, 0.01];
const INFERENCE_USD = Number(PAYMENT) / 1e6; // 0.01 USDC
const WAYS: Record<PaymentWay, string> = {
  referenceExact: "exact, stock facilitator (one transferWithAuthorization per payment)",
  exactSettle: "exact, ours, single settle",
  exactBatch32: "exact, ours, settleBatch of 32 different payers",
  channels100: "channels, 100 vouchers per claim (deposit + claim + settle + link)",
  channels1000: "channels, 1,000 vouchers per claim (deposit + claim + settle + link)",
};
const TARGETS = {
  channels1000Gas: 300,
  channels100Gas: 2500,
  feeShareOfInference: 0.01,
  paidVsUnpaid: 0.5,
  voucherCheckP99Ms: 1,
};

const mark = (ok: boolean) => (ok ? "✓" : "✗");
const gweiToWei = (gwei: number) => BigInt(Math.round(gwei * 1e9));

/** Total fee per inference at each L2 gas price: execution gas × price + the L1 data fee from the receipts. */
function fees(r: CostRow) {
  return Object.fromEntries(
    L2_GAS_PRICES_GWEI.map((gwei) => {
      const wei = BigInt(r.gas) * gweiToWei(gwei) + r.l1FeeWei;
      const usd = (Number(wei) / 1e18) * ETH_USD;
      return [
        String(gwei),
        { wei: wei.toString(), usd: Number(usd.toPrecision(4)), shareOfInference: Number((usd / INFERENCE_USD).toPrecision(4)) },
      ];
    }),
  ) as Record<string, { wei: string; usd: number; shareOfInference: number }>;
}

async function main() {
  const started = performance.now();
  console.log("1/4 gas per paid inference on the in-process chain");
  const l1 = await costPerInference(await connectChain());
  console.log("2/4 the same on the OP-stack chain type with Base's L1 fee parameters");
  const op = await connectChain("hardhatOp");
  await setL1Fees(op.ethers.provider);
  const opRows = await costPerInference(op);
  console.log(`3/4 the in-process voucher check over ${VOUCHER_CHECKS} vouchers`);
  const voucherCheck = await voucherCheckTimes(Math.ceil((VOUCHER_CHECKS + 500) / 100), 100); // 500 warm-up vouchers
  console.log("4/4 paid requests/s through channels against the same route unpaid");
  const throughput = await channelThroughput();

  const ways = Object.keys(WAYS) as PaymentWay[];
  const opWithFees = Object.fromEntries(
    ways.map((w) => [
      w,
      { gas: opRows[w].gas, l1FeeWei: opRows[w].l1FeeWei.toString(), requests: opRows[w].requests, fee: fees(opRows[w]) },
    ]),
  );
  const top = String(Math.max(...L2_GAS_PRICES_GWEI));
  const met = {
    channels1000Gas: l1.channels1000.gas <= TARGETS.channels1000Gas,
    channels100Gas: l1.channels100.gas <= TARGETS.channels100Gas,
    feeShareOfInference1000: opWithFees.channels1000.fee[top].shareOfInference <= TARGETS.feeShareOfInference,
    feeShareOfInference100: opWithFees.channels100.fee[top].shareOfInference <= TARGETS.feeShareOfInference,
    paidVsUnpaid: throughput.ratio >= TARGETS.paidVsUnpaid,
    voucherCheckP99Ms: voucherCheck.p99Ms <= TARGETS.voucherCheckP99Ms,
  };
  const results = {
    machine: `${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 10) / 10),
    date: new Date().toISOString(),
    command: "npm run bench:economics",
    seconds: Math.round((performance.now() - started) / 1000),
    parameters: {
      inferencePriceUsdc: INFERENCE_USD,
      ethUsd: ETH_USD,
      l2GasPriceGwei: L2_GAS_PRICES_GWEI,
      l1: {
        chain: "Hardhat edr-simulated, chainType op (network hardhatOp), L1Block predeploy storage set with hardhat_setStorageAt",
        baseFeeScalar: BASE_L1_FEES.baseFeeScalar,
        blobBaseFeeScalar: BASE_L1_FEES.blobBaseFeeScalar,
        l1BaseFeeGwei: Number(BASE_L1_FEES.l1BaseFeeWei) / 1e9,
        blobBaseFeeGwei: Number(BASE_L1_FEES.blobBaseFeeWei) / 1e9,
      },
      ways: WAYS,
    },
    gasPerInference: Object.fromEntries(ways.map((w) => [w, { gas: l1[w].gas, requests: l1[w].requests }])),
    opStack: opWithFees,
    throughput,
    voucherCheck,
    targets: {
      channels1000Gas: `<= ${TARGETS.channels1000Gas}`,
      channels100Gas: `<= ${TARGETS.channels100Gas}`,
      feeShareOfInference: `<= ${TARGETS.feeShareOfInference * 100}% of a $${INFERENCE_USD} inference at ${top} gwei`,
      paidVsUnpaid: `>= ${TARGETS.paidVsUnpaid}`,
      voucherCheckP99Ms: `<= ${TARGETS.voucherCheckP99Ms}`,
    },
    met,
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/economics.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
  printTable(results, l1, opWithFees, met);
}

function printTable(
  r: { throughput: Awaited<ReturnType<typeof channelThroughput>>; voucherCheck: Awaited<ReturnType<typeof voucherCheckTimes>> },
  l1: Record<PaymentWay, CostRow>,
  op: Record<string, { gas: number; l1FeeWei: string; fee: ReturnType<typeof fees> }>,
  met: Record<string, boolean>,
) {
  const [low, high] = L2_GAS_PRICES_GWEI.map(String);
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  console.log(
    `\nper paid inference            gas (L1 chain)  gas (OP)  L1 data fee (wei)  fee @${low} gwei   fee @${high} gwei  share of $0.01`,
  );
  for (const w of Object.keys(WAYS) as PaymentWay[]) {
    const f = op[w].fee;
    const gas = `${String(l1[w].gas).padStart(14)}  ${String(op[w].gas).padStart(8)}  ${op[w].l1FeeWei.padStart(17)}`;
    const usd = `$${f[low].usd.toExponential(2).padStart(9)}  $${f[high].usd.toExponential(2).padStart(9)}`;
    console.log(`${w.padEnd(28)}  ${gas}  ${usd}  ${pct(f[low].shareOfInference)} / ${pct(f[high].shareOfInference)}`);
  }
  const t = r.throughput;
  const v = r.voucherCheck;
  const share = (w: PaymentWay) => pct(op[w].fee[high].shareOfInference);
  const lines: [boolean, string][] = [
    [met.channels1000Gas, `channels at 1,000 vouchers per claim: ${l1.channels1000.gas} gas per inference (<= ${TARGETS.channels1000Gas})`],
    [met.channels100Gas, `channels at 100 vouchers per claim: ${l1.channels100.gas} gas per inference (<= ${TARGETS.channels100Gas})`],
    [met.feeShareOfInference1000, `total fee at 1,000 per claim, ${high} gwei: ${share("channels1000")} of a $0.01 inference (<= 1%)`],
    [met.feeShareOfInference100, `total fee at 100 per claim, ${high} gwei: ${share("channels100")} of a $0.01 inference (<= 1%)`],
    [
      met.paidVsUnpaid,
      `channel-paid ${t.paidPerSecond}/s against unpaid ${t.unpaidPerSecond}/s: ${t.ratio}x (>= ${TARGETS.paidVsUnpaid}x)`,
    ],
    [met.voucherCheckP99Ms, `voucher check p50 ${v.p50Ms} ms, p99 ${v.p99Ms} ms (p99 <= ${TARGETS.voucherCheckP99Ms} ms)`],
    [t.everyPaidAnswerLinked, `channel-paid answers linked on-chain after the sweep: ${t.linkedOnChain.outputs} of ${t.paidAnswers}`],
  ];
  console.log("\ntargets");
  for (const [ok, line] of lines) console.log(`  ${mark(ok)} ${line}`);
  const cpu = t.serverCpuMsPerRequest;
  console.log(`  (round pairs ${t.pairRatios.join(", ")}; server CPU per request: paid ${cpu.paid} ms, unpaid ${cpu.unpaid} ms)`);
  if (t.channelsOutOfVouchers > 0)
    console.log(
      `  ! ${t.channelsOutOfVouchers} channels ran out of signed vouchers: raise BENCH_ECONOMICS_VOUCHERS (paid req/s undercounted)`,
    );
  console.log("\nwritten: scripts/bench/results/economics.json");
}

await main();
