// Gas of one upto settlement against exact, in the steady state `npm run bench:gas` measures (the
// splitter and the payers already hold tokens, Permit2 approved once): full receipt gas, median of 7.
// Prints the figures; the bounds only catch a regression of the upto path's shape.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import type { Hex } from "viem";
import { x402UptoPermit2ProxyABI } from "@x402/evm";
import { settlementOf, signAuthorization, tokenDomain } from "../../scripts/shared/stack.ts";
import { X402_UPTO_PROXY_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { signUpto, splitterUptoStack, uptoRequirements, type UptoAuthorization } from "./support.ts";

const PAYMENT = 10_000n;
const SAMPLES = 7;
const median = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[Math.floor(xs.length / 2)];

let s: Awaited<ReturnType<typeof splitterUptoStack>>;
let payer: Awaited<ReturnType<typeof s.payer>>;

beforeAll(async () => {
  s = await splitterUptoStack();
  payer = await s.payer(10n ** 12n);
});

const gasOf = async (tx: Promise<E.ContractTransactionResponse>) => (await (await tx).wait())!.gasUsed;

async function uptoItem(facilitator: string, payTo = s.payTo) {
  const payload = await signUpto(payer, { ...uptoRequirements(s, facilitator, PAYMENT * 2n), payTo });
  const { signature, permit2Authorization: a } = payload.payload as { signature: Hex; permit2Authorization: UptoAuthorization };
  return {
    outputId: E.hexlify(E.randomBytes(32)),
    attributionRoot: E.hexlify(E.randomBytes(32)),
    from: a.from,
    maxAmount: BigInt(a.permitted.amount),
    amount: PAYMENT,
    nonce: BigInt(a.nonce),
    deadline: BigInt(a.deadline),
    validAfter: 0n,
    signature,
    auth: a,
  };
}

describe("gas: upto settlement against exact", () => {
  it("measures settle, settleUpto, the reference proxy path, and both batches of 32", async () => {
    const exactPayer = E.Wallet.createRandom().connect(s.ethers.provider);
    await (await s.token.mint(exactPayer.address, 10n ** 12n)).wait();
    const domain = await tokenDomain(s.token, s.chainId);
    const splitter = s.splitter.connect(s.relayerWallet);
    const exactSettlement = async () => settlementOf(await signAuthorization(exactPayer, domain, { to: s.payTo, value: PAYMENT }));
    const { auth: _warm, ...warm } = await uptoItem(s.payTo);
    await gasOf(splitter.settle(await exactSettlement()));
    await gasOf(splitter.settleUpto(warm));

    const exact: bigint[] = [];
    const upto: bigint[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      exact.push(await gasOf(splitter.settle(await exactSettlement())));
      const { auth: _a, ...item } = await uptoItem(s.payTo);
      upto.push(await gasOf(splitter.settleUpto(item)));
    }
    // The reference path: an EOA facilitator calls the proxy directly (no splitter, no output link).
    const proxy = new E.Contract(X402_UPTO_PROXY_ADDRESS, x402UptoPermit2ProxyABI as unknown as E.InterfaceAbi, s.relayerWallet);
    const direct: bigint[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const { auth: a, signature } = await uptoItem(s.relayerWallet.address);
      const args = [{ permitted: a.permitted, nonce: a.nonce, deadline: a.deadline }, PAYMENT, a.from, a.witness, signature];
      direct.push(await gasOf(proxy.getFunction("settle")(...args)));
    }
    const exactBatch = [];
    const uptoBatch = [];
    for (let i = 0; i < 32; i++) {
      exactBatch.push(await exactSettlement());
      const { auth: _a, ...item } = await uptoItem(s.payTo);
      uptoBatch.push(item);
    }
    const exactBatchEach = (await gasOf(splitter.settleBatch(exactBatch))) / 32n;
    // An explicit limit covering every item's cap, as a facilitator sends (an estimate would defer them all).
    const uptoReceipt = (await (await splitter.settleUptoBatch(uptoBatch, { gasLimit: 11_000_000 })).wait())!;
    const uptoSettled = uptoReceipt.logs.filter((l) => splitter.interface.parseLog(l)?.name === "PaymentSettled").length;
    expect(uptoSettled).toBe(32);
    const uptoBatchEach = uptoReceipt.gasUsed / 32n;

    const figures = {
      exactSettle: median(exact),
      uptoSettle: median(upto),
      uptoReferenceProxyDirect: median(direct),
      exactSettleBatch32PerPayment: exactBatchEach,
      uptoSettleBatch32PerPayment: uptoBatchEach,
    };
    console.log(
      Object.entries(figures)
        .map(([k, v]) => `${k.padEnd(32)} ${v}`)
        .join("\n"),
      `\nupto/exact ${(Number(figures.uptoSettle) / Number(figures.exactSettle)).toFixed(3)}`,
    );
    expect(figures.uptoSettle).toBeLessThan((figures.exactSettle * 125n) / 100n);
    expect(figures.uptoSettleBatch32PerPayment).toBeLessThan(figures.uptoSettle);
    expect(figures.uptoSettle).toBeGreaterThan(figures.uptoReferenceProxyDirect);
  });
});
