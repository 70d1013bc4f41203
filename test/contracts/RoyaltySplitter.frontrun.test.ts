// Front-run authorizations: someone submits the payer's authorization straight to the token before the
// facilitator settles it. The money arrives without PaymentSettled; linkFrontRun checks the chain and
// has the relayer emit the missing link through linkPayment, at most once per authorization.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { linkFrontRun, type FrontRunPayment } from "../../server/facilitator/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "../x402/support/stack.ts";
import { expectRevert, signCancel } from "./support.ts";

const TWA_BYTES = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";
let s: X402Stack;

beforeAll(async () => {
  s = await x402Stack({ facilitator: { batch: { maxWaitMs: 10 } } });
});

/** A signed payment and the FrontRunPayment describing it. */
async function signed() {
  const payer = await fundedWallet(s);
  const req = s.requirements();
  const payment = await pay(payer, req);
  const auth = (payment.payload as { authorization: Record<string, string>; signature: string }).authorization;
  const link: FrontRunPayment = {
    asset: s.asset,
    splitter: s.payTo,
    payer: payer.address,
    nonce: auth.nonce,
    value: BigInt(auth.value),
    outputId: E.hexlify(E.randomBytes(32)),
    attributionRoot: E.hexlify(E.randomBytes(32)),
  };
  return { payer, req, payment, auth, signature: (payment.payload as { signature: string }).signature, link };
}

async function frontRun(p: Awaited<ReturnType<typeof signed>>) {
  const a = p.auth;
  await (await s.token.connect(s.roles.keeper)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, p.signature)).wait();
}

describe("linkFrontRun", () => {
  it("links a front-run payment once: PaymentSettled with the output id, then already_linked", async () => {
    const p = await signed();
    await frontRun(p);
    const settled = await s.facilitator.settle(p.payment, p.req);
    expect(settled.success).toBe(false); // the nonce is used: settlement alone would record it as failed

    const outcome = await linkFrontRun(s.facilitator.relayer, p.link);
    expect(outcome.status).toBe("linked");
    const receipt = await s.ethers.provider.getTransactionReceipt((outcome as { txHash: string }).txHash);
    const events = receipt!.logs.map((l) => splitterInterface.parseLog(l)).filter((e) => e?.name === "PaymentSettled");
    expect(events.map((e) => [e!.args.outputId, e!.args.payer, e!.args.amount, e!.args.nonce, e!.args.attributionRoot])).toEqual([
      [p.link.outputId, p.payer.address, p.link.value, p.link.nonce, p.link.attributionRoot],
    ]);
    expect((await linkFrontRun(s.facilitator.relayer, p.link)).status).toBe("already_linked");
  });

  it("settle links a front-run that lands between verify and settle: success, PaymentSettled with the output id", async () => {
    const p = await signed();
    expect((await s.facilitator.verify(p.payment, p.req)).isValid).toBe(true);
    await frontRun(p); // after our verify, before our batch
    const withOutput = { ...p.payment, extensions: { royalty402: { outputId: p.link.outputId, attributionRoot: p.link.attributionRoot } } };
    const settled = await s.facilitator.settle(withOutput, p.req);
    expect(settled).toMatchObject({ success: true, payer: p.payer.address, amount: p.link.value.toString() });
    const receipt = await s.ethers.provider.getTransactionReceipt(settled.transaction);
    const links = receipt!.logs.map((l) => splitterInterface.parseLog(l)).filter((e) => e?.name === "PaymentSettled");
    expect(links.map((e) => [e!.args.outputId, e!.args.nonce])).toEqual([[p.link.outputId, p.link.nonce]]);
    // A retry of the same settle succeeds on the existing link (answered with the front-run's hash), never a second one.
    const again = await s.facilitator.settle(withOutput, p.req);
    expect(again).toMatchObject({ success: true });
    const settledEvents = await s.ethers.provider.getLogs({
      address: s.payTo,
      topics: [splitterInterface.getEvent("PaymentSettled")!.topicHash],
      fromBlock: receipt!.blockNumber,
    });
    const forThisNonce = settledEvents.filter((l) => splitterInterface.parseLog(l)!.args.nonce === p.link.nonce);
    expect(forThisNonce).toHaveLength(1);
  });

  it("refuses what is not a front-run payment into the splitter: unused, settled by us, cancelled", async () => {
    const unused = await signed();
    expect(await linkFrontRun(s.facilitator.relayer, unused.link)).toEqual({ status: "not_used" });

    const ours = await signed();
    expect((await s.facilitator.settle(ours.payment, ours.req)).success).toBe(true);
    expect((await linkFrontRun(s.facilitator.relayer, ours.link)).status).toBe("settled_by_us");

    const cancelled = await signed();
    const domain = { name: "USD Coin", version: "2", chainId: s.chainId, verifyingContract: s.asset };
    const sig = E.Signature.from(await signCancel(cancelled.payer, domain, cancelled.payer.address, cancelled.auth.nonce));
    await (
      await s.token["cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)"](
        cancelled.payer.address,
        cancelled.auth.nonce,
        sig.v,
        sig.r,
        sig.s,
      )
    ).wait();
    expect(await linkFrontRun(s.facilitator.relayer, cancelled.link)).toEqual({ status: "not_to_splitter", usedIn: null });
  });

  it("linkPayment itself: facilitators only, and only for an authorization the token reports used", async () => {
    const p = await signed();
    const l = p.link;
    await expectRevert(
      s.splitter.connect(s.roles.keeper).linkPayment(l.outputId, l.attributionRoot, l.payer, l.value, l.nonce),
      s.splitter,
      "NotFacilitator",
    );
    const asRelayer = s.splitter.connect(s.relayer);
    await expectRevert(
      asRelayer.linkPayment(l.outputId, l.attributionRoot, l.payer, l.value, l.nonce),
      s.splitter,
      "AuthorizationNotUsed",
      [l.payer, l.nonce],
    );
  });
});
