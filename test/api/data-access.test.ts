// Paid data access end to end on a local chain: the model host (createApp) serving three datanets
// (one selling searches and documents, one selling searches only, one selling nothing), paid by
// an agent on the reference x402 client (@x402/fetch + @x402/evm exact, viem account) over real
// HTTP. Each paid answer is linked on-chain to its access record; the datanet's epoch is closed,
// verified by `royalty402 epoch verify datanet:<id>` (records recomputed from the index), and
// the document's author claims on-chain what the records entitle it to. Refusals and bad queries
// cost nothing.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { toClientEvmSigner } from "@x402/evm";
import { UptoEvmScheme as UptoClientScheme } from "@x402/evm/upto/client";
import { Contract, getAddress } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { normalizeText } from "../../server/attribution/tokenizer.ts";
import { textHash, type AttributionRecord } from "../../server/attribution/index.ts";
import { verify as verifyCommand } from "../../server/cli/actions/epoch.ts";
import { loadBrownCorpus } from "../../server/datanets/index.ts";
import { seedContributor } from "../../server/datanets/service.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { exactPayer, hostChain, viemPayer } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";

const ADMIN = "data-access-admin-token-0123456789";
const NETWORK = "eip155:31337";
const SEARCH_PRICE = 2000n;
const DOCUMENT_PRICE = 5000n;
const docs = loadBrownCorpus(8);

let chain: Chain;
let server: RoyaltyServer;
let base = "";
let token: Contract;
const dataDir = mkdtempSync(join(tmpdir(), "r402-access-"));

beforeAll(async () => {
  const host = await hostChain(1);
  ({ chain, token } = host);
  const access = { owner: host.owner.address, ownerBps: 1000 };
  server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 20 },
      dataDir,
      epochs: { paymentCount: 1000, checkIntervalSeconds: 1, publishTexts: true },
      datanets: [
        {
          id: "shop",
          seed: { corpus: "brown", documents: 6, contributors: 3 },
          access: { ...access, pricePerSearch: SEARCH_PRICE.toString(), pricePerDocument: DOCUMENT_PRICE.toString(), sellDocuments: true },
        },
        {
          id: "search-only",
          seed: { corpus: "brown", documents: 2, contributors: 2, offset: 6 },
          access: { ...access, pricePerSearch: "1000" },
        },
        { id: "private", seed: { corpus: "brown", documents: 1, contributors: 1, offset: 7 } },
      ],
      models: [],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const getJson = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

const agent = () => exactPayer(token, 1_000_000n);

const balance = async (address: string) => BigInt(await token.getFunction("balanceOf")(address));

/** The PaymentSettled event of the settlement: what the chain links the payment to. */
async function settledEvent(txHash: string) {
  const receipt = await chain.ethers.provider.getTransactionReceipt(txHash);
  return receipt!.logs.map((l) => splitterInterface.parseLog(l)).find((e) => e?.name === "PaymentSettled")!;
}

const paid: Array<{ outputId: string; amount: bigint }> = [];
let payTo = "";

describe("paid data access", () => {
  it("lists a datanet's prices, payTo and documents (titles, sizes) for free", async () => {
    const { status, body } = await getJson("/datanets/shop/documents");
    expect(status).toBe(200);
    expect(body).toMatchObject({
      datanet: "shop",
      payee: "datanet:shop",
      network: NETWORK,
      price: { search: "2000", document: "5000" },
      sellsDocuments: true,
      maxResults: 5,
    });
    payTo = body.payTo;
    expect(body.documents).toHaveLength(6);
    expect(body.documents[0]).toMatchObject({
      contentHash: textHash(normalizeText(docs[0].text)),
      contributor: seedContributor("shop", 0),
    });
    expect(body.documents[0].title.length).toBeGreaterThan(10);
    expect((await getJson("/datanets/search-only/documents")).body).toMatchObject({ price: { search: "1000", document: null } });
    const { body: listed } = await getJson("/datanets");
    expect(listed.datanets.map((d: any) => [d.id, d.access?.pricePerSearch ?? null, d.access?.pricePerDocument ?? null])).toEqual([
      ["shop", "2000", "5000"],
      ["search-only", "1000", null],
      ["private", null, null],
    ]);
    // Each datanet sells into its own splitter.
    expect((await getJson("/datanets/search-only/documents")).body.payTo).not.toBe(payTo);
  });

  it("an unpaid search is answered 402 with the datanet's splitter as payTo and the search price", async () => {
    const res = await fetch(`${base}/datanets/shop/search?q=jury+election`);
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("PAYMENT-REQUIRED")!);
    // The schemes the model routes offer (upto settles the fixed price whole), each at the search price.
    const schemes = ["exact", "upto", ...(server.context.channels ? ["batch-settlement"] : [])];
    expect(required.accepts.map((a) => a.scheme)).toEqual(schemes);
    for (const offer of required.accepts) expect(offer).toMatchObject({ network: NETWORK, amount: "2000", payTo });
    // The bazaar extension tells an agent how to call it: a GET with the q (and limit) query parameters.
    expect((required.extensions as any)?.bazaar?.info?.input).toEqual({
      type: "http",
      method: "GET",
      queryParams: { q: "jury election", limit: "3" },
    });
  });

  it("a paid search returns ranked passages with contributors; the payment lands in the splitter linked to the record", async () => {
    const { wallet, fetchWithPayment } = await agent();
    const before = await balance(payTo);
    const res = await fetchWithPayment(`${base}/datanets/shop/search?q=${encodeURIComponent("jury election Fulton county")}&limit=3`);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as any;
    expect(body.results.length).toBeGreaterThan(0);
    expect(body.results.length).toBeLessThanOrEqual(3);
    expect(body.results[0]).toMatchObject({ rank: 1, contentHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(body.results[0].text.toLowerCase()).toMatch(/jury|election|fulton/);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({
      success: true,
      payer: wallet.address,
      amount: "2000",
      extra: { outputId: body.attribution.outputId },
    });
    expect(await balance(payTo)).toBe(before + SEARCH_PRICE);
    const event = await settledEvent(settlement.transaction);
    expect(event.args.attributionRoot).toBe(body.attribution.recordHash);
    const { body: stored } = await getJson(`/attributions/${body.attribution.outputId}`);
    expect(stored).toMatchObject({
      model: "datanet:shop",
      recordHash: body.attribution.recordHash,
      record: { algorithm: "royalty402/access-v1" },
    });
    const credited = (stored.record as AttributionRecord).contributors.map((c) => c.address);
    expect(credited.sort()).toEqual([...new Set(body.results.map((r: any) => r.contributor as string))].sort());
    paid.push({ outputId: body.attribution.outputId, amount: SEARCH_PRICE });
  });

  it("a paid document returns the contribution's full text and credits its author with all of it", async () => {
    const { fetchWithPayment } = await agent();
    const hash = textHash(normalizeText(docs[1].text));
    const res = await fetchWithPayment(`${base}/datanets/shop/contributions/${hash}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ datanet: "shop", contentHash: hash, text: normalizeText(docs[1].text) });
    expect(body.attribution.contributors).toEqual([{ address: seedContributor("shop", 1), ppm: 1_000_000 }]);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement.amount).toBe("5000");
    expect((await settledEvent(settlement.transaction)).args.attributionRoot).toBe(body.attribution.recordHash);
    paid.push({ outputId: body.attribution.outputId, amount: DOCUMENT_PRICE });
  });

  it("a document paid with upto (the reference client): the fixed price settles whole, in one transfer to the splitter", async () => {
    const wallet = await viemPayer(chain, token, 1_000_000n, { approvePermit2: true });
    const client = new x402Client();
    client.register(NETWORK, new UptoClientScheme(toClientEvmSigner(wallet.account, wallet)));
    client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: await token.getAddress() }] });
    const before = await balance(payTo);
    const hash = textHash(normalizeText(docs[2].text));
    const res = await wrapFetchWithPayment(fetch, client)(`${base}/datanets/shop/contributions/${hash}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as any;
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, amount: DOCUMENT_PRICE.toString() });
    expect(await balance(payTo)).toBe(before + DOCUMENT_PRICE);
    expect(await balance(wallet.account.address)).toBe(1_000_000n - DOCUMENT_PRICE);
    expect((await settledEvent(settlement.transaction)).args.attributionRoot).toBe(body.attribution.recordHash);
    paid.push({ outputId: body.attribution.outputId, amount: DOCUMENT_PRICE });
  });

  it("a replayed document payment is re-delivered: nothing is recorded or settled twice", async () => {
    const { wallet } = await agent();
    const url = `${base}/datanets/shop/contributions/${textHash(normalizeText(docs[2].text))}`;
    const unpaid = await fetch(url);
    const requirements = decodePaymentRequiredHeader(unpaid.headers.get("PAYMENT-REQUIRED")!).accepts[0] as PaymentRequirements;
    const header = encodePaymentSignatureHeader(await pay(wallet, requirements));
    const first = await fetch(url, { headers: { "payment-signature": header } });
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    const again = await fetch(url, { headers: { "payment-signature": header } });
    expect(again.status).toBe(200);
    expect(again.headers.get("x-royalty402-redelivered")).toBe("true");
    expect(await again.text()).toBe(firstBody);
    expect(await balance(wallet.address)).toBe(1_000_000n - DOCUMENT_PRICE);
    paid.push({ outputId: JSON.parse(firstBody).attribution.outputId, amount: DOCUMENT_PRICE });
  });

  it("refuses what is not for sale, unknown documents and bad queries with 4xx and a reason, charging nothing", async () => {
    const { wallet, fetchWithPayment } = await agent();
    const unknown = `0x${"ab".repeat(32)}`;
    const cases: Array<[string, number, string]> = [
      ["/datanets/private/search?q=jury", 403, "datanet_not_for_sale"],
      ["/datanets/private/documents", 403, "datanet_not_for_sale"],
      [`/datanets/search-only/contributions/${unknown}`, 403, "documents_not_sold"],
      ["/datanets/nowhere/search?q=jury", 404, "datanet_not_found"],
      [`/datanets/shop/contributions/${unknown}`, 404, "contribution_not_found"],
      ["/datanets/shop/contributions/0x1234", 400, "invalid_hash"],
      ["/datanets/shop/search?q=zzyzxqqq", 404, "no_matching_passages"],
      ["/datanets/shop/search", 400, "missing_query"],
      ["/datanets/shop/search?q=", 400, "empty_query"],
      ["/datanets/shop/search?q=%20%3F%21", 400, "empty_query"],
      [`/datanets/shop/search?q=${"jury%20".repeat(120)}`, 400, "query_too_long"],
      ["/datanets/shop/search?q=jury%00%01%02%FF", 400, "binary_query"],
      ["/datanets/shop/search?q=jury&q=vote", 400, "missing_query"],
      ["/datanets/shop/search?q=jury&limit=99", 400, "invalid_limit"],
    ];
    for (const [path, status, code] of cases) {
      const res = await fetchWithPayment(`${base}${path}`);
      const body = (await res.json()) as any;
      expect([path, res.status, body.error ?? body.code]).toEqual([path, status, code]);
      expect(body.message.length, path).toBeGreaterThan(20);
    }
    expect(await balance(wallet.address)).toBe(1_000_000n);
  });

  it("the datanet's epoch allocates the access payments; it verifies from the index; the author claims its entitlement", async () => {
    const close = await fetch(`${base}/admin/epochs/close`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ model: "datanet:shop" }),
    });
    const { results } = (await close.json()) as any;
    expect(results).toEqual([expect.objectContaining({ status: "closed", model: "datanet:shop", epoch: 1, outputs: paid.length })]);
    await untilActive(payTo);

    // `royalty402 epoch verify datanet:shop 1 --index <dir>`: every record recomputed from the index and the published query.
    const shopIndexes = join(dataDir, "indexes", "shop");
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    try {
      await verifyCommand("datanet:shop", "1", { server: base, index: join(shopIndexes, readdirSync(shopIndexes)[0]) });
    } finally {
      log.mockRestore();
    }
    expect(lines.join("\n")).toContain(`ok   records recomputed: ${paid.length} of ${paid.length}`);
    expect(lines.at(-1)).toBe(`epoch 1 of datanet:shop verified (${paid.length} records recomputed).`);

    // The author of the sold document: its whole payment's pool share, plus whatever the search credited it.
    const author = seedContributor("shop", 1);
    const records = await Promise.all(
      paid.map(async (p) => (await getJson(`/attributions/${p.outputId}`)).body.record as AttributionRecord),
    );
    const weight = (account: string) =>
      paid.reduce((sum, p, i) => sum + p.amount * BigInt(records[i].contributors.find((c) => c.address === account)?.ppm ?? 0), 0n);
    const received = paid.reduce((sum, p) => sum + p.amount, 0n);
    const pool = received - (received * 1000n) / 10_000n;
    const want = (pool * weight(author)) / (received * 1_000_000n);
    const { body: earnings } = await getJson(`/contributors/${author}`);
    const entry = earnings.models.find((m: any) => m.model === "datanet:shop");
    expect(BigInt(entry.claimable) - want).toBeGreaterThanOrEqual(0n);
    expect(BigInt(entry.claimable) - want).toBeLessThanOrEqual(1n);
    expect(BigInt(entry.claimable)).toBeGreaterThanOrEqual((pool * DOCUMENT_PRICE) / received);
    const keeper = chain.signers[6];
    const splitter = new Contract(payTo, ["function claim(address,uint256,bytes32[]) returns (uint256)"], keeper);
    await (await splitter.getFunction("claim")(author, entry.claim.cumulativeAmount, entry.claim.proof)).wait();
    expect(await balance(getAddress(author))).toBe(BigInt(entry.claimable));
  });
});

async function untilActive(splitter: string) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { body } = await getJson("/epochs?model=datanet:shop");
    if (body.epochs.some((e: any) => e.splitter === getAddress(splitter) && e.status === "active")) return;
    await chain.connection.networkHelpers.mine(); // time passes only with blocks: ends the one-second challenge period
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the datanet's epoch did not become active");
}
