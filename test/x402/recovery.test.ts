// What happens to a payment when settlement is slow or the server dies, on the in-process
// chain with real SQLite ledgers:
//  - a settlement still pending when the response leaves: the output is kept against the
//    payment (202 + where to fetch it), served once settled, refused (402) if it failed;
//  - the reconciler settles ledger rows from chain facts only (never submits anything);
//  - a server killed -9 between broadcasting a batch and recording its result: a new
//    instance on the same ledger and chain records the settlement, with the right hash, once.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";
import { ethers as E } from "ethers";
import { EmbeddedFacilitator, Reason } from "../../server/facilitator/index.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import type { PaymentKey } from "../../server/ledger/types.ts";
import { PaymentReconciler } from "../../server/x402/reconciler.ts";
import { paidApp } from "./support/app.ts";
import { RpcGateway } from "./support/rpc-gateway.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  s = await x402Stack();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

const rpc = (method: string, params: unknown[] = []) => s.connection.provider.request({ method, params });
const setAutomine = (on: boolean) => rpc("evm_setAutomine", [on]);
const body = (extra: Record<string, unknown> = {}) => ({ model: "tiny", prompt: "hello", max_tokens: 10, ...extra });
const keyOf = (payment: PaymentPayload): PaymentKey => {
  const auth = payment.payload.authorization as { from: string; nonce: string };
  return { network: s.network, asset: s.asset.toLowerCase(), payer: auth.from.toLowerCase(), nonce: auth.nonce };
};
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

/** A facilitator on its own relayer whose transactions "confirm slowly": 300 ms, then pending. */
async function slowFacilitator() {
  const relayer = new E.Wallet(E.Wallet.createRandom().privateKey, s.ethers.provider);
  await rpc("hardhat_setBalance", [relayer.address, "0x56BC75E2D63100000"]);
  await (await s.splitter.connect(s.roles.owner).setFacilitator(relayer.address, true)).wait();
  const facilitator = await EmbeddedFacilitator.create({
    provider: s.ethers.provider,
    relayer,
    batch: { confirmTimeoutMs: 300, reconcileMs: 100, maxWaitMs: 5 },
  });
  closers.push(() => facilitator.close());
  return facilitator;
}

async function app(options: Parameters<typeof paidApp>[1] = {}) {
  const h = await paidApp(s, options);
  closers.push(
    () => h.ledger.close(),
    () => h.app.close(),
  );
  const challenge = await h.app.inject({ method: "POST", url: "/v1/completions", payload: body() });
  const [requirements] = decodePaymentRequiredHeader(challenge.headers["payment-required"] as string).accepts;
  const send = (payment: PaymentPayload, b = body()) =>
    h.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: b,
      headers: { "payment-signature": encodePaymentSignatureHeader(payment) },
    });
  return { ...h, requirements, send };
}

describe("settlement pending when the response leaves", () => {
  it("keeps the output against the payment (JSON and streamed bodies) and serves it once settled", async () => {
    const slow = await slowFacilitator();
    const h = await app({ facilitator: slow, handler: (b) => (b.stream ? Readable.from(["data: one\n\n", "data: two\n\n"]) : undefined) });
    const [a, b] = [await fundedWallet(s, 100_000n), await fundedWallet(s, 100_000n)];
    const [pa, pb] = [await pay(a, h.requirements), await pay(b, h.requirements)];
    await setAutomine(false);
    let responses;
    try {
      responses = await Promise.all([h.send(pa), h.send(pb, body({ stream: true }))]);
      for (const res of responses) {
        expect(res.statusCode).toBe(202);
        expect(res.headers["retry-after"]).toBe("5");
        const settlement = decodePaymentResponseHeader(res.headers["payment-response"] as string);
        expect(settlement).toMatchObject({ success: false, errorReason: Reason.settlementPending });
        expect(settlement.transaction).toMatch(/^0x[0-9a-f]{64}$/);
        const outputUrl = (settlement.extra as { outputUrl: string }).outputUrl;
        expect(outputUrl).toMatch(/^http:\/\/models\.test\/x402\/outputs\/0x[0-9a-f]{64}\?token=/);
        expect(res.json()).toMatchObject({ error: Reason.settlementPending, transaction: settlement.transaction, outputUrl });
        expect(res.headers.location).toBe(outputUrl);
        expect(res.body).not.toContain("completion for");
        // journalled before broadcast, in the node's pool, not mined
        expect(await h.ledger.getPayment(keyOf(responses.indexOf(res) === 0 ? pa : pb))).toMatchObject({
          status: "pending",
          txHash: settlement.transaction,
        });
        expect(await s.ethers.provider.getTransaction(settlement.transaction)).not.toBeNull();
        expect(await s.ethers.provider.getTransactionReceipt(settlement.transaction)).toBeNull();
      }
      const urlOf = (i: number) =>
        (decodePaymentResponseHeader(responses![i].headers["payment-response"] as string).extra as { outputUrl: string }).outputUrl;
      const early = await h.app.inject({ method: "GET", url: pathOf(urlOf(0)) });
      expect([early.statusCode, early.headers["retry-after"], early.json().error]).toEqual([425, "5", Reason.settlementPending]);
      const forged = await h.app.inject({ method: "GET", url: pathOf(urlOf(0)).replace(/token=.*/, "token=guess") });
      expect(forged.statusCode).toBe(404);
      // The same signed payment again, while pending: the same 202 and outputUrl, nothing runs again.
      const again = await h.send(pa);
      expect([again.statusCode, again.headers["x-royalty402-redelivered"], again.headers.location]).toEqual([202, "true", urlOf(0)]);
      expect(again.json()).toMatchObject({
        error: Reason.settlementPending,
        outputUrl: urlOf(0),
        transaction: responses[0].json().transaction,
      });
      await rpc("evm_mine");
    } finally {
      await setAutomine(true);
    }
    await expect.poll(async () => (await h.ledger.getPayment(keyOf(pb)))?.status, { timeout: 5000, interval: 50 }).toBe("settled");
    await expect.poll(async () => (await h.ledger.getPayment(keyOf(pa)))?.status, { timeout: 5000, interval: 50 }).toBe("settled");
    const transaction = decodePaymentResponseHeader(responses[0].headers["payment-response"] as string).transaction;
    const jsonOutput = await h.app.inject({
      method: "GET",
      url: pathOf(
        (decodePaymentResponseHeader(responses[0].headers["payment-response"] as string).extra as { outputUrl: string }).outputUrl,
      ),
    });
    expect(jsonOutput.statusCode).toBe(200);
    expect(jsonOutput.json()).toEqual({ text: "completion for hello", outputId: responses[0].json().outputId });
    expect(decodePaymentResponseHeader(jsonOutput.headers["payment-response"] as string)).toMatchObject({
      success: true,
      transaction,
      payer: a.address,
      amount: "1000",
    });
    const streamed = await h.app.inject({
      method: "GET",
      url: pathOf(
        (decodePaymentResponseHeader(responses[1].headers["payment-response"] as string).extra as { outputUrl: string }).outputUrl,
      ),
    });
    expect([streamed.statusCode, streamed.body]).toEqual([200, "data: one\n\ndata: two\n\n"]);
    expect([await s.token.balanceOf(a.address), await s.token.balanceOf(b.address)]).toEqual([99_000n, 99_000n]);
  });

  it("refuses a held output (402) when the pending settlement finally fails", async () => {
    const slow = await slowFacilitator();
    const h = await app({ facilitator: slow });
    const wallet = await fundedWallet(s, 100_000n);
    await rpc("hardhat_setBalance", [wallet.address, "0xDE0B6B3A7640000"]);
    const payment = await pay(wallet, h.requirements);
    await setAutomine(false);
    let res;
    try {
      res = await h.send(payment);
      expect(res.statusCode).toBe(202);
      // The payer empties the wallet with a higher tip: mined first, the batch item is skipped.
      const drain = new E.Wallet(wallet.privateKey, s.ethers.provider);
      await s.token.connect(drain).transfer(s.roles.keeper.address, 100_000n, {
        gasLimit: 100_000n,
        maxPriorityFeePerGas: E.parseUnits("100", "gwei"),
        maxFeePerGas: E.parseUnits("200", "gwei"),
      });
      await rpc("evm_mine");
    } finally {
      await setAutomine(true);
    }
    await expect.poll(async () => (await h.ledger.getPayment(keyOf(payment)))?.status, { timeout: 5000, interval: 50 }).toBe("failed");
    const outputUrl = res.json().outputUrl as string;
    const refused = await h.app.inject({ method: "GET", url: pathOf(outputUrl) });
    expect(refused.statusCode).toBe(402);
    expect(refused.json().error).toBe(Reason.insufficientBalance);
    expect(refused.body).not.toContain("completion for");
    expect(decodePaymentResponseHeader(refused.headers["payment-response"] as string)).toMatchObject({
      success: false,
      errorReason: Reason.insufficientBalance,
    });
  });
});

describe("reconciler", () => {
  it("moves stale open payments from chain facts only, and leaves fresh or undecidable ones alone", async () => {
    const ledger = new SqliteLedger({ path: join(mkdtempSync(join(tmpdir(), "x402-reconcile-")), "ledger.sqlite") });
    await ledger.migrate();
    closers.push(() => ledger.close());
    const req = s.requirements();
    const reserve = async (payment: PaymentPayload) => {
      const r = await ledger.reserve({
        ...keyOf(payment),
        payTo: s.payTo.toLowerCase(),
        amount: req.amount,
        modelId: "tiny",
        outputId: null,
        payload: JSON.stringify(payment),
      });
      expect(r.reserved).toBe(true);
      return keyOf(payment);
    };
    const chainNow = BigInt((await s.ethers.provider.getBlock("latest"))!.timestamp);
    const [journalled, unjournalled, skipped, inFlight, abandoned, expired] = await Promise.all([
      pay(await fundedWallet(s), req),
      pay(await fundedWallet(s), req),
      pay(await fundedWallet(s, 5n), req),
      pay(await fundedWallet(s), req),
      pay(await fundedWallet(s), req),
      pay(await fundedWallet(s), req, { validBefore: chainNow - 10n }),
    ]);
    // Settled on-chain while the ledger was not told (a crash after the broadcast).
    const [r1, r2, r3] = await Promise.all([journalled, unjournalled, skipped].map((p) => s.facilitator.settle(p, req)));
    expect([r1.success, r2.success, r3.errorReason]).toEqual([true, true, Reason.insufficientBalance]);
    const k1 = await reserve(journalled);
    await ledger.transition(k1, ["reserved"], "settling", { txHash: r1.transaction });
    const k2 = await reserve(unjournalled); // crashed before the journal: no hash
    const k3 = await reserve(skipped);
    await ledger.transition(k3, ["reserved"], "settling", { txHash: r3.transaction });
    const k4 = await reserve(inFlight); // journalled a hash the node never saw; still valid
    await ledger.transition(k4, ["reserved"], "settling", { txHash: E.hexlify(E.randomBytes(32)) });
    const k5 = await reserve(abandoned); // the handler never finished
    const k6 = await reserve(expired);
    await ledger.transition(k6, ["reserved"], "settling", { txHash: E.hexlify(E.randomBytes(32)) });

    const reconciler = new PaymentReconciler(ledger, s.ethers.provider, s.network);
    const submitted = s.facilitator.relayer.sent;
    expect(await reconciler.run()).toMatchObject({ checked: 0 }); // all fresh (default: 60 s)
    // This process wrote them: its pass at start leaves them to their requests too.
    expect(await reconciler.runAtStart()).toMatchObject({ checked: 0 });
    // A process started after they were written (a restart after a kill) checks them all at once,
    // however fresh; a fresh reservation is not abandoned yet.
    const restarted = new PaymentReconciler(ledger, s.ethers.provider, s.network, { processStartedAt: Date.now() + 1 });
    expect(await restarted.runAtStart()).toEqual({ checked: 6, settled: 2, failed: 2, released: 0, unresolved: 2 });
    expect(await restarted.run()).toMatchObject({ checked: 0 }); // the periodic pass keeps its age threshold
    const later = Date.now() + 60 * 60_000;
    expect(await reconciler.run(later)).toEqual({ checked: 2, settled: 0, failed: 0, released: 1, unresolved: 1 });
    const status = async (k: PaymentKey) => {
      const p = (await ledger.getPayment(k))!;
      return [p.status, p.txHash, p.errorReason];
    };
    expect(await status(k1)).toEqual(["settled", r1.transaction, null]);
    expect(await status(k2)).toEqual(["settled", r2.transaction, null]);
    expect(await status(k3)).toEqual(["failed", r3.transaction, Reason.insufficientBalance]);
    expect((await status(k4))[0]).toBe("settling");
    expect(await status(k5)).toEqual(["released", null, "reservation_abandoned"]);
    expect((await status(k6)).slice(0, 1).concat((await status(k6)).slice(2))).toEqual(["failed", Reason.validBefore]);
    expect(await reconciler.run(later)).toEqual({ checked: 1, settled: 0, failed: 0, released: 0, unresolved: 1 });
    expect(s.facilitator.relayer.sent).toBe(submitted); // it never submits anything
    // The undecided one settles later (its authorization is still valid): the next pass sees it.
    const r4 = await s.facilitator.settle(inFlight, req);
    expect(r4.success).toBe(true);
    expect(await reconciler.run(later)).toMatchObject({ settled: 1 });
    expect(await status(k4)).toEqual(["settled", r4.transaction, null]);
  });
});

describe("crash between broadcast and the ledger's final write", () => {
  it("a new instance on the same ledger and chain records the settlement with its hash, and nothing is submitted twice", async () => {
    const gateway = new RpcGateway(s.connection.provider);
    await gateway.start();
    closers.push(() => gateway.stop());
    const ledgerPath = join(mkdtempSync(join(tmpdir(), "x402-crash-")), "ledger.sqlite");
    const req = s.requirements({ amount: "1000" });
    const wallet = await fundedWallet(s, 10_000n);
    const payment = await pay(wallet, req);
    const key = keyOf(payment);
    const relayerNonce = await s.ethers.provider.getTransactionCount(s.relayer.address, "latest");
    const observer = new SqliteLedger({ path: ledgerPath });
    await observer.migrate();
    closers.push(() => observer.close());

    await setAutomine(false);
    let txHash: string;
    try {
      const child = spawn(
        process.execPath,
        ["--disable-warning=ExperimentalWarning", "--import", "tsx", fileURLToPath(new URL("./support/crash-child.ts", import.meta.url))],
        {
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            RPC_URL: gateway.url,
            CHAIN_ID: String(s.chainId),
            RELAYER_KEY: s.relayer.privateKey,
            LEDGER_PATH: ledgerPath,
            ASSET: s.asset,
            PAY_TO: s.payTo,
            PAYMENT: encodePaymentSignatureHeader(payment),
          },
        },
      );
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
      // The batch is journalled ("settling" + hash) and broadcast, never confirmed: kill -9.
      await expect
        .poll(
          async () => {
            if (child.exitCode !== null) throw new Error(`child exited early: ${err}`);
            const row = await observer.getPayment(key);
            return row?.status === "settling" && row.txHash !== null && (await s.ethers.provider.getTransaction(row.txHash)) !== null;
          },
          { timeout: 30_000, interval: 100 },
        )
        .toBe(true);
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      txHash = (await observer.getPayment(key))!.txHash!;
      await rpc("evm_mine");
    } finally {
      await setAutomine(true);
    }
    expect((await s.ethers.provider.getTransactionReceipt(txHash))?.status).toBe(1);
    expect(await observer.getPayment(key)).toMatchObject({ status: "settling", txHash });

    // Restart: a new facilitator (same relayer key) and plugin on the same ledger file.
    const fresh = await EmbeddedFacilitator.create({
      provider: s.ethers.provider,
      relayer: new E.Wallet(s.relayer.privateKey, s.ethers.provider),
    });
    closers.push(() => fresh.close());
    const h = await app({ facilitator: fresh, sqlitePath: ledgerPath, plugin: { reconcile: { staleAfterMs: 0, intervalMs: 0 } } });
    await expect.poll(async () => (await observer.getPayment(key))?.status, { timeout: 10_000, interval: 50 }).toBe("settled");
    expect(await observer.getPayment(key)).toMatchObject({ status: "settled", txHash, errorReason: null });
    expect(fresh.relayer.sent).toBe(0);
    expect(await s.ethers.provider.getTransactionCount(s.relayer.address, "latest")).toBe(relayerNonce + 1);
    expect(await s.token.balanceOf(wallet.address)).toBe(9_000n);
    // The answer died with the process; the payer's retry of the same payment is given the output
    // the child kept before broadcasting, with the settlement it recorded, and nothing is sent again.
    const retry = await h.send(payment);
    expect([retry.statusCode, retry.headers["x-royalty402-redelivered"]]).toEqual([200, "true"]);
    expect(retry.json()).toEqual({ text: "an output that is never delivered", outputId: (await observer.getPayment(key))!.outputId });
    expect(decodePaymentResponseHeader(retry.headers["payment-response"] as string)).toMatchObject({
      success: true,
      transaction: txHash,
      payer: wallet.address,
      amount: "1000",
    });
    expect(fresh.relayer.sent).toBe(0);
    // Another payload for the same authorization nonce is still a replay.
    const other = await h.send({ ...payment, resource: { url: "http://elsewhere.test/", description: "", mimeType: "" } });
    expect(other.json()).toMatchObject({ error: Reason.paymentReplayed, status: "settled" });
  });
});
