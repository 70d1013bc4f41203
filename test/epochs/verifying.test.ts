// docs/VERIFYING.md is enough to recompute every epoch: after a run with two models (different
// fee splits), claims paid out and a plain transfer into a splitter, an outsider's verifier
// (independent-verifier.ts: viem and @openzeppelin/merkle-tree only, written from that page)
// recomputes each published epoch from public data and matches what the chain holds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Contract, Wallet } from "ethers";
import { createPublicClient, custom, getAddress, type Address, type PublicClient } from "viem";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { SPLITTER_ABI } from "../../server/chain/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";
import { postedEpoch, recompute, recordHash, settledPayments } from "./independent-verifier.ts";

const ADMIN = "verifying-test-admin-token-012345";
const dataDir = mkdtempSync(join(tmpdir(), "r402-verifying-"));
const PROMPTS = ["The jury said", "The city of Atlanta", "Mrs. Smith was", "In the morning the", "He said that the", "It was not"];
let chain: Chain;
let server: RoyaltyServer;
let token: Contract;
let client: PublicClient;
let base = "";

async function payOnce(model: string, prompt: string) {
  const payer = new Wallet(Wallet.createRandom().privateKey);
  await (await (token.getFunction("mint") as any)(payer.address, 1_000_000n)).wait();
  const init = (headers: Record<string, string> = {}) => ({
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, prompt, max_tokens: 24 }),
  });
  const challenge = await fetch(`${base}/v1/completions`, init());
  const requirements = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0] as PaymentRequirements;
  const res = await fetch(
    `${base}/v1/completions`,
    init({ "payment-signature": encodePaymentSignatureHeader(await pay(payer, requirements)) }),
  );
  expect(res.status).toBe(200);
}

async function closeAll() {
  const res = await fetch(`${base}/admin/epochs/close`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
    body: "{}",
  });
  const { results } = (await res.json()) as { results: Array<{ status: string }> };
  await chain.connection.provider.request({ method: "evm_increaseTime", params: [5] }); // past the challenge period
  await chain.connection.provider.request({ method: "evm_mine", params: [] });
  return results;
}

const getJson = async (path: string) => (await (await fetch(`${base}${path}`)).json()) as any;

beforeAll(async () => {
  const host = await hostChain(1);
  ({ chain, token } = host);
  server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false, publishTexts: true },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 8, contributors: 5 } }],
      models: [
        {
          id: "a",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: "10007",
          pricePerMaxToken: "13",
          ownerBps: 1000,
          protocolBps: 250,
          owner: host.owner.address,
          challengePeriod: 1,
        },
        {
          id: "b",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: "7919",
          ownerBps: 333,
          protocolBps: 77,
          owner: host.owner.address,
          challengePeriod: 1,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
  client = createPublicClient({ transport: custom(chain.connection.provider as never) }) as PublicClient;
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("docs/VERIFYING.md recomputes every epoch", () => {
  it("matches the chain after two models, claims and a plain transfer", async () => {
    const splitterOf = (id: string) => server.context.models.get(id)!.splitter as Address;
    for (const [i, prompt] of PROMPTS.entries()) await payOnce(i % 3 === 2 ? "b" : "a", prompt);
    // A plain transfer into model a's splitter: money without an output.
    const [, , , , , stranger] = chain.signers;
    await (await (token.getFunction("mint") as any)(stranger.address, 123_457n)).wait();
    await (await (token.connect(stranger) as Contract).getFunction("transfer")(splitterOf("a"), 123_457n)).wait();
    expect((await closeAll()).map((r) => r.status)).toEqual(["closed", "closed"]);

    // Claims from epoch 1 are paid out before epoch 2.
    const keeper = chain.signers[6];
    for (const id of ["a", "b"]) {
      const doc = await getJson(`/epochs/${splitterOf(id)}/1`);
      const splitter = new Contract(splitterOf(id), SPLITTER_ABI, keeper);
      for (const leaf of doc.claims.leaves.slice(0, 2))
        await (await splitter.getFunction("claim")(leaf.account, leaf.cumulativeAmount, leaf.proof)).wait();
    }
    for (const prompt of PROMPTS.slice(0, 3)) await payOnce("a", `${prompt} again`);
    expect((await closeAll()).map((r) => r.status)).toEqual(["closed", "skipped"]);

    let verified = 0;
    for (const id of ["a", "b"]) {
      const splitter = splitterOf(id);
      const settled = await settledPayments(client, splitter);
      const seen = new Set<string>();
      let previous: any = null;
      for (let n = 1; ; n++) {
        const doc = (await fetch(`${base}/epochs/${splitter}/${n}`)).status === 200 ? await getJson(`/epochs/${splitter}/${n}`) : null;
        if (!doc) break;
        const posted = await postedEpoch(client, splitter, n);
        expect(posted, `${id} epoch ${n} posted`).not.toBeNull();
        // Section 2: every payment was settled on-chain with its record's hash, in one epoch only.
        for (const p of doc.payments) {
          expect(settled.get(p.outputId)).toEqual({ amount: BigInt(p.amount), attributionRoot: recordHash(p.record) });
          expect(seen.has(p.outputId)).toBe(false);
          seen.add(p.outputId);
        }
        const totalReceived = await client.readContract({
          address: splitter,
          abi: [{ type: "function", name: "totalReceived", inputs: [], outputs: [{ type: "uint256" }], stateMutability: "view" }],
          functionName: "totalReceived",
          blockNumber: posted!.blockNumber!,
        });
        expect(BigInt(doc.cumulativeReceived)).toBeLessThanOrEqual(totalReceived);
        // Sections 4–7: the roots and the allocation the chain holds.
        const mine = recompute(doc, previous);
        expect({ claimsRoot: mine.claimsRoot, recordsRoot: mine.recordsRoot, cumulativeAllocated: mine.cumulativeAllocated }).toEqual({
          claimsRoot: posted!.claimsRoot,
          recordsRoot: posted!.recordsRoot,
          cumulativeAllocated: posted!.cumulativeAllocated,
        });
        expect(mine.epochPool.toString()).toBe(doc.epochPool);
        expect(doc.allocations.map((a: any) => [a.account, a.amount])).toEqual(
          [...mine.amounts].map(([a, v]) => [getAddress(a), v.toString()]).sort(([x], [y]) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1)),
        );
        previous = doc;
        verified++;
      }
    }
    expect(verified).toBe(3); // a: 2 epochs, b: 1
  });
});
