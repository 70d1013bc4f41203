// The model host with `upto` next to `exact`, over real HTTP on the in-process chain: the agent is
// the reference client (@x402/fetch + @x402/evm/upto/client 2.27.0, unmodified, with the
// eip2612GasSponsoring extension so it needs no approval transaction), the host's embedded
// facilitator settles through the splitter. The model is a proxy to a scripted upstream (a test
// double for an LLM: it answers 40 tokens of a Brown-corpus passage whatever it is asked, a
// stream paced 20 ms a token). Streams are read by the OpenAI SDK (`openai`, with the paying fetch)
// and, where the test needs the raw events, by fetch and an SSE reader.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { UptoEvmScheme as UptoClientScheme } from "@x402/evm/upto/client";
import { toClientEvmSigner } from "@x402/evm";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type Contract, getAddress } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { detokenize, tokenize } from "../../server/attribution/index.ts";
import { loadBrownCorpus } from "../../server/datanets/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { scriptedUpstream, type ScriptedUpstream } from "../../scripts/shared/scripted-upstream.ts";
import { hostChain, viemPayer } from "../support/host-chain.ts";
import { signUpto } from "../upto/support.ts";

const MODEL = "scripted";
const PRICE = { perRequest: 7n, perPromptToken: 1n, perOutputToken: 2n };
const MAX_TOKENS = 2000;
const NETWORK = "eip155:31337";

let chain: Chain;
let server: RoyaltyServer;
let upstream: ScriptedUpstream;
let token: Contract;
let base = "";
const dataDir = mkdtempSync(join(tmpdir(), "r402-upto-"));
const docs = loadBrownCorpus(12);
const PIECES = Array.from(tokenize(docs[1].text).subarray(0, 40), (t) => detokenize([t]));

beforeAll(async () => {
  upstream = await scriptedUpstream({ pieces: PIECES, paceMs: 20 });
  const host = await hostChain(1);
  ({ chain, token } = host);
  server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 20 },
      dataDir,
      epochs: { checkIntervalSeconds: 3600, publishTexts: true },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 12, contributors: 6 } }],
      models: [
        {
          id: MODEL,
          backend: "proxy",
          datanet: "brown",
          upstream: { url: upstream.url, model: "scripted", timeoutMs: 5000 },
          price: { perRequest: "7", perPromptToken: "1", perOutputToken: "2" },
          maxTokensLimit: 4000,
          owner: host.owner.address,
        },
      ],
    },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  await upstream?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const payer = (amount: bigint, options: { approvePermit2?: boolean } = {}) => viemPayer(chain, token, amount, options);
type Payer = Awaited<ReturnType<typeof payer>>;

function uptoFetch(wallet: Payer) {
  const client = new x402Client();
  client.register(NETWORK, new UptoClientScheme(toClientEvmSigner(wallet.account, wallet)));
  return wrapFetchWithPayment(fetch, allowTestToken(client));
}

/** The reference client pays only in tokens it knows, or ones allowed: allow TestUSDC. */
function allowTestToken(client: x402Client): x402Client {
  client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: String(token.target) }] });
  return client;
}

const chatBody = (maxTokens = MAX_TOKENS) =>
  JSON.stringify({ model: MODEL, max_tokens: maxTokens, messages: [{ role: "user", content: "Tell me about Austin." }] });
const post = (pay: typeof fetch, body = chatBody(), headers: Record<string, string> = {}) =>
  pay(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
const balanceOf = async (address: string) => (await token.balanceOf(address)) as bigint;
const splitter = () => server.context.models.get(MODEL)!.splitter;

async function challenge(): Promise<PaymentRequirements> {
  const res = await post(fetch);
  expect(res.status).toBe(402);
  return decodePaymentRequiredHeader(res.headers.get("payment-required")!).accepts.find((a) => a.scheme === "upto")!;
}

describe("per-token prices and the upto offer", () => {
  it("/v1/models shows the per-token price and the challenge's exact and upto offers", async () => {
    const model = (await (await fetch(`${base}/v1/models/${MODEL}`)).json()) as Record<string, any>;
    expect(model.price).toMatchObject({ perRequest: "7", perPromptToken: "1", perOutputToken: "2" });
    // Channels too: the local chain has the batch-settlement escrow.
    expect(model.accepts.map((a: PaymentRequirements) => a.scheme)).toEqual(["exact", "upto", "batch-settlement"]);
    expect(model.accepts[1]).toMatchObject({
      payTo: splitter(),
      extra: { assetTransferMethod: "permit2", facilitatorAddress: getAddress(splitter()) },
    });
  });

  it("offers exact, upto and channels at the maximum (perRequest + perPromptToken × prompt + perOutputToken × max)", async () => {
    const res = await post(fetch);
    const required = decodePaymentRequiredHeader(res.headers.get("payment-required")!);
    const promptTokens = tokenize("Tell me about Austin.").length;
    const maximum = PRICE.perRequest + PRICE.perPromptToken * BigInt(promptTokens) + PRICE.perOutputToken * BigInt(MAX_TOKENS);
    expect(required.accepts.map((a) => [a.scheme, a.amount])).toEqual([
      ["exact", maximum.toString()],
      ["upto", maximum.toString()],
      ["batch-settlement", maximum.toString()],
    ]);
    expect(required.extensions).toHaveProperty("eip2612GasSponsoring");
  });
});

describe("paying with the reference upto client", () => {
  it("a 40-token answer to a 2,000-max request: the metered price, one transfer agent → splitter, linked to its record", async () => {
    const wallet = await payer(10_000_000n);
    const before = { payer: await balanceOf(wallet.account.address), splitter: await balanceOf(splitter()), calls: upstream.calls };
    const res = await post(uptoFetch(wallet));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.usage.completion_tokens).toBe(40);
    const metered = PRICE.perRequest + PRICE.perPromptToken * BigInt(body.usage.prompt_tokens) + PRICE.perOutputToken * 40n;
    const settlement = decodePaymentResponseHeader(res.headers.get("payment-response")!);
    expect(settlement).toMatchObject({ success: true, amount: metered.toString(), payer: wallet.account.address });
    expect(upstream.calls).toBe(before.calls + 1);
    expect(await balanceOf(wallet.account.address)).toBe(before.payer - metered);
    expect(await balanceOf(splitter())).toBe(before.splitter + metered);

    const receipt = await chain.ethers.provider.getTransactionReceipt(settlement.transaction);
    const transferTopic = token.interface.getEvent("Transfer")!.topicHash;
    const transfers = receipt!.logs.filter((l) => l.topics[0] === transferTopic).map((l) => token.interface.parseLog(l)!.args);
    expect(transfers.map((t) => [t.from, t.to, t.value])).toEqual([[wallet.account.address, getAddress(splitter()), metered]]);
    const links = receipt!.logs
      .filter((l) => l.address.toLowerCase() === splitter().toLowerCase())
      .map((l) => splitterInterface.parseLog(l))
      .filter((e) => e?.name === "PaymentSettled");
    expect(links.map((e) => [e!.args.outputId, e!.args.amount, e!.args.attributionRoot])).toEqual([
      [body.attribution.outputId, metered, body.attribution.recordHash],
    ]);
    // The ledger counts what was settled: the epoch's input and the model's revenue.
    const unassigned = await server.context.ledger.listUnassignedSettledOutputs(MODEL);
    expect(unassigned.find((o) => o.outputId === body.attribution.outputId)?.amount).toBe(metered.toString());
  });

  it("exact on the same route still charges the maximum", async () => {
    const required = decodePaymentRequiredHeader((await post(fetch)).headers.get("payment-required")!);
    const exact = required.accepts.find((a) => a.scheme === "exact")!;
    const { registerExactEvmScheme } = await import("@x402/evm/exact/client");
    const wallet = await payer(10_000_000n);
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: wallet.account });
    const res = await post(wrapFetchWithPayment(fetch, allowTestToken(client)));
    expect(res.status).toBe(200);
    expect(decodePaymentResponseHeader(res.headers.get("payment-response")!)).toMatchObject({ success: true, amount: exact.amount });
    expect(await balanceOf(wallet.account.address)).toBe(10_000_000n - BigInt(exact.amount));
  });
});

describe("bad upto payments: a 4xx with a reason, nothing charged, the model never runs", () => {
  const stranger = () => privateKeyToAccount(generatePrivateKey()).address;
  const cases: Array<[string, (r: PaymentRequirements) => Parameters<typeof signUpto>[2], string]> = [
    ["a Permit2 signature for another spender", () => ({ spender: stranger() }), "invalid_permit2_spender"],
    ["another witness recipient", () => ({ witness: { to: stranger() } }), "invalid_permit2_recipient_mismatch"],
    ["another witness facilitator", () => ({ witness: { facilitator: stranger() } }), "upto_facilitator_mismatch"],
    ["another token", () => ({ permitted: { token: stranger() } }), "permit2_token_mismatch"],
    [
      "another amount (above the maximum)",
      (r) => ({ permitted: { amount: (BigInt(r.amount) + 1n).toString() } }),
      "permit2_amount_mismatch",
    ],
    ["a deadline already past", () => ({ deadline: String(Math.floor(Date.now() / 1000) - 60) }), "permit2_deadline_expired"],
  ];
  for (const [what, overrides, reason] of cases) {
    it(what, async () => {
      const wallet = await payer(10_000_000n, { approvePermit2: true });
      const required = await challenge();
      const payload = await signUpto(wallet, required, overrides(required));
      const calls = upstream.calls;
      const res = await post(fetch, chatBody(), { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) });
      expect(res.status).toBe(402);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(reason);
      expect(upstream.calls).toBe(calls);
      expect(await balanceOf(wallet.account.address)).toBe(10_000_000n);
    });
  }

  it("a reused Permit2 nonce", async () => {
    const wallet = await payer(10_000_000n, { approvePermit2: true });
    const required = await challenge();
    const nonce = BigInt(`0x${"ab".repeat(16)}`).toString();
    const first = await post(fetch, chatBody(), {
      "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(await signUpto(wallet, required, { nonce })),
    });
    expect(first.status).toBe(200);
    const paid = 10_000_000n - (await balanceOf(wallet.account.address));
    const calls = upstream.calls;
    // A new signature over the same nonce (another deadline): the nonce is spent.
    const again = await signUpto(wallet, required, { nonce, deadline: String(Math.floor(Date.now() / 1000) + 200) });
    const res = await post(fetch, chatBody(), { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(again) });
    expect([402, 409]).toContain(res.status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/nonce|replayed/);
    expect(upstream.calls).toBe(calls);
    expect(await balanceOf(wallet.account.address)).toBe(10_000_000n - paid);
  });
});

/** Reads the `data:` events of a server-sent event stream as they arrive. */
async function* events(res: Response): AsyncGenerator<any> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const data = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      yield data === "[DONE]" ? data : JSON.parse(data);
    }
  }
}

const streamBody = () =>
  JSON.stringify({
    model: MODEL,
    max_tokens: MAX_TOKENS,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "Tell me about Austin." }],
  });
const priceOf = (promptTokens: number, completionTokens: number) =>
  PRICE.perRequest + PRICE.perPromptToken * BigInt(promptTokens) + PRICE.perOutputToken * BigInt(completionTokens);

describe("streaming with upto", () => {
  it("tokens arrive before the upstream finishes; the last event carries the receipt of the metered price", async () => {
    const wallet = await payer(10_000_000n);
    const streamedBefore = upstream.streamedPieces; // the scripted upstream counts across requests
    const res = await post(uptoFetch(wallet), streamBody());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    let text = "";
    let piecesWhenFirstArrived = -1;
    const all: any[] = [];
    for await (const event of events(res)) {
      all.push(event);
      const piece = event?.choices?.[0]?.delta?.content;
      if (piece && piecesWhenFirstArrived < 0) piecesWhenFirstArrived = upstream.streamedPieces - streamedBefore;
      if (piece) text += piece;
    }
    expect(piecesWhenFirstArrived).toBeGreaterThanOrEqual(0); // a piece arrived…
    expect(piecesWhenFirstArrived).toBeLessThan(PIECES.length); // …before the upstream had sent them all
    expect(text).toBe(PIECES.join(""));
    expect(all.at(-1)).toBe("[DONE]");
    const usage = all.at(-2).usage;
    expect(usage.completion_tokens).toBe(40);
    const last = all.at(-3);
    const charged = priceOf(usage.prompt_tokens, 40);
    expect(last.x402).toMatchObject({ status: "settled", settlement: { success: true, amount: charged.toString() } });
    expect(last.x402.settlement.extra.outputId).toBe(last.attribution.outputId);
    expect(last.attribution.recordUrl).toContain(last.attribution.outputId);
    expect(await balanceOf(wallet.account.address)).toBe(10_000_000n - charged);
  });

  it("through the OpenAI SDK with a paying fetch: chunks arrive while the upstream is still generating", async () => {
    const wallet = await payer(10_000_000n);
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused: x402 pays", fetch: uptoFetch(wallet), maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: MODEL,
      max_tokens: MAX_TOKENS,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Tell me about Austin." }],
    });
    let text = "";
    let piecesWhenFirstArrived = -1;
    let completionTokens = -1;
    const streamedBefore = upstream.streamedPieces; // the scripted upstream counts across requests
    let receipt: { status: string; settlement: { amount: string } } | undefined;
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta?.content;
      if (piece && piecesWhenFirstArrived < 0) piecesWhenFirstArrived = upstream.streamedPieces - streamedBefore;
      if (piece) text += piece;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
      receipt ??= (chunk as unknown as { x402?: typeof receipt }).x402;
    }
    expect(piecesWhenFirstArrived).toBeGreaterThanOrEqual(0); // a piece arrived…
    expect(piecesWhenFirstArrived).toBeLessThan(PIECES.length); // …before the upstream had sent them all
    expect(text).toBe(PIECES.join(""));
    expect(completionTokens).toBe(40);
    const charged = priceOf(tokenize("Tell me about Austin.").length, 40);
    expect(receipt).toMatchObject({ status: "settled", settlement: { amount: charged.toString() } });
    expect(await balanceOf(wallet.account.address)).toBe(10_000_000n - charged);
  });

  it("a client leaving mid-stream is charged for exactly the text generated, which the record covers", async () => {
    const wallet = await payer(10_000_000n, { approvePermit2: true });
    const payload = await signUpto(wallet, await challenge());
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) },
      body: streamBody(),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    let received = "";
    let pieces = 0;
    try {
      for await (const event of events(res)) {
        const piece = event?.choices?.[0]?.delta?.content;
        if (piece) received += piece;
        if (piece && ++pieces === 5) controller.abort();
      }
    } catch {
      // aborted
    }
    const payerKey = wallet.account.address.toLowerCase();
    let row: Awaited<ReturnType<typeof server.context.ledger.listPayments>>[number] | undefined;
    for (let i = 0; i < 100 && row?.status !== "settled"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      row = (await server.context.ledger.listPayments({ modelId: MODEL, limit: 1000 })).find((p) => p.payer === payerKey);
    }
    expect(row).toMatchObject({ status: "settled" });
    const recorded = (await server.context.texts!.load(row!.outputId!))!.output;
    expect(recorded.startsWith(received)).toBe(true);
    expect(PIECES.join("").startsWith(recorded)).toBe(true);
    expect(recorded.length).toBeLessThan(PIECES.join("").length);
    const charged = priceOf(tokenize("Tell me about Austin.").length, tokenize(recorded).length);
    expect(row!.amount).toBe(charged.toString());
    expect(await balanceOf(wallet.account.address)).toBe(10_000_000n - charged);
    const output = await server.context.ledger.getOutput(row!.outputId!);
    expect(JSON.parse(output!.record).outputTokens).toBe(tokenize(recorded).length);
  });

  it("with exact, a stream still settles before its first byte and charges the maximum", async () => {
    const required = decodePaymentRequiredHeader((await post(fetch)).headers.get("payment-required")!);
    const { registerExactEvmScheme } = await import("@x402/evm/exact/client");
    const wallet = await payer(10_000_000n);
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: wallet.account });
    const res = await post(wrapFetchWithPayment(fetch, allowTestToken(client)), streamBody());
    expect(res.status).toBe(200);
    const exact = required.accepts.find((a) => a.scheme === "exact")!;
    expect(decodePaymentResponseHeader(res.headers.get("payment-response")!)).toMatchObject({ success: true, amount: exact.amount });
    const all: any[] = [];
    for await (const event of events(res)) all.push(event);
    expect(all.some((e) => e?.x402)).toBe(false);
  });
});
