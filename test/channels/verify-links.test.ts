// `royalty402 epoch verify` on channel-paid outputs: the epoch document publishes each sweep's link (its
// ChannelOutputsPaid transaction and every (outputId, amount, recordHash) leaf), and verifyEpoch checks the
// leaves against the epoch's payments and recomputes the link's Merkle root against the event on-chain.
// One output's amount changed in the document makes it fail.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EpochDocument } from "../../server/epochs/build.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";
import { channelHost, type ChannelHost } from "./host.ts";

const PRICE = 2000n;
const N = 6;

let h: ChannelHost;
let doc: EpochDocument;
const channelOutputs: string[] = [];

beforeAll(async () => {
  h = await channelHost(PRICE);
  const payer = await h.payer(100_000n, 10);
  for (let i = 0; i < N; i++) {
    const res = await payer.complete(`The jury said ${i}`);
    expect(res.status).toBe(200);
    channelOutputs.push(((await res.json()) as { attribution: { outputId: string } }).attribution.outputId);
  }
  expect((await h.admin("channels/settle")).status).toBe(200);
  const closed = (await (await h.admin("epochs/close", { model: "m" })).json()) as { results: Array<{ status: string; epoch: number }> };
  expect(closed.results[0]).toMatchObject({ status: "closed", epoch: 1 });
  doc = (await (await fetch(`${h.base}/epochs/${h.splitter}/1`)).json()) as EpochDocument;
});

afterAll(async () => h?.close());

const verify = (d: EpochDocument, chain = true) => verifyEpoch(d, chain ? { provider: h.chain.ethers.provider } : {});
const linksCheck = (result: Awaited<ReturnType<typeof verify>>) => result.checks.find((c) => c.name === "channel links")!;
const tampered = () => structuredClone(doc);

describe("epoch verify of channel links", () => {
  it("the document publishes the sweep's link with every output it paid for, and verify recomputes its root", async () => {
    expect(doc.channelLinks).toHaveLength(1);
    expect(doc.channelLinks![0].leaves.map((l) => l.outputId).sort()).toEqual(channelOutputs.map((id) => id.toLowerCase()).sort());
    const result = await verify(doc);
    expect(linksCheck(result)).toMatchObject({ ok: true, detail: `1 links, ${N} outputs` });
    expect(result.ok).toBe(true);
  });

  it("one output's amount changed in the payments and its link leaf: the recomputed root is not the event's", async () => {
    const bad = tampered();
    const id = doc.channelLinks![0].leaves[0].outputId;
    const more = (PRICE + 1n).toString();
    bad.channelLinks![0].leaves[0].amount = more;
    bad.payments.find((p) => p.outputId === id)!.amount = more;
    const result = await verify(bad);
    expect(result.ok).toBe(false);
    expect(linksCheck(result)).toMatchObject({
      ok: false,
      detail: expect.stringContaining("no ChannelOutputsPaid with the recomputed root"),
    });
  });

  it("a payment whose amount is not its link leaf's fails without a chain", async () => {
    const bad = tampered();
    const id = doc.channelLinks![0].leaves[2].outputId;
    bad.payments.find((p) => p.outputId === id)!.amount = (PRICE - 1n).toString();
    const check = linksCheck(await verify(bad, false));
    expect(check).toMatchObject({ ok: false, detail: expect.stringContaining(`${id}: link`) });
  });
});
