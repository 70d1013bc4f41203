// End to end on real text and real contracts: a Brown-corpus datanet with 62 contributors,
// outputs that quote known passages (including a passage a later contributor copied), payments
// settled into a RoyaltySplitter on the in-process chain, two epochs posted, verified against
// the chain, and every contributor claiming exactly the computed amount.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { id as keccakId } from "ethers";
import { attribute } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { saveIndex } from "../../server/attribution/store.ts";
import { postEpoch, readPostedEpoch, splitterContract } from "../../server/epochs/chain.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { buildEpoch, nextPreviousState, type EpochDocument, type EpochPayment } from "../../server/epochs/build.ts";
import { hashRecord, PPM, type AttributionRecord } from "../../server/attribution/record.ts";
import type { SuffixIndex } from "../../server/attribution/suffix-index.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";
import { deployStack, settlementOf, signAuthorization, tokenDomain, type Stack } from "../../scripts/shared/stack.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const CONTRIBUTORS = 60;
const COPIER = 60; // registers after everyone, copying 150 tokens of docs[11] (contributor 11)
const DUPLICATOR = 61; // registers an exact duplicate of docs[30] (contributor 30)

interface Output {
  id: string;
  output: string;
  prompt: string | null;
  record: AttributionRecord;
  amount: bigint;
}

describe("attribution end to end: Brown datanet, splitter, epochs, claims", () => {
  const docs = brownDocs();
  let index: SuffixIndex;
  let stack: Stack;
  let splitterAddress: string;
  const outputs: Output[] = [];
  let lastDoc: EpochDocument | null = null;
  const tmp = mkdtempSync(join(tmpdir(), "attr-e2e-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const copied = passage(docs[11].text, 600, 150);
  const novel = "Quantum gardening relies on moss sensors, tidal spreadsheets and a lot of patient humming by volunteers in wet boots.";

  beforeAll(async () => {
    const d = new Datanet();
    for (let j = 0; j < 2 * CONTRIBUTORS; j++) d.add({ contributor: addressOf(j % CONTRIBUTORS), text: docs[j].text });
    d.add({ contributor: addressOf(COPIER), text: `Some notes of mine. ${copied} That was a good read.` });
    d.add({ contributor: addressOf(DUPLICATOR), text: docs[30].text });
    index = buildIndex(d).index;
    stack = await deployStack(undefined, {}, { payers: 2 });
    splitterAddress = await stack.splitter.getAddress();
  });

  function attributeOutput(name: string, output: string, prompt: string | null, amount: bigint): Output {
    const o = { id: keccakId(name), output, prompt, record: attribute(index, output, prompt), amount };
    outputs.push(o);
    return o;
  }

  const share = (r: AttributionRecord, who: number) => r.contributors.find((c) => c.address === addressOf(who))?.ppm ?? 0;

  it("attributes quoted passages to the contributors who registered them first", () => {
    const o0 = attributeOutput("o0", `${novel} ${passage(docs[5].text, 200, 200)}`, null, 1_000_000n);
    expect(share(o0.record, 5)).toBeGreaterThan(800_000);
    expect(o0.record.contributors).toHaveLength(1);

    // the copier's text is quoted, but the copied tokens belong to contributor 11
    const o1 = attributeOutput("o1", `Here it is: Some notes of mine. ${copied.slice(0, 500)}`, null, 2_500_000n);
    expect(share(o1.record, 11)).toBeGreaterThan(700_000);
    expect(share(o1.record, COPIER)).toBeLessThan(share(o1.record, 11) / 4);

    const o2 = attributeOutput("o2", passage(docs[30].text, 1000, 120), null, 750_001n);
    expect(o2.record.contributors.map((c) => c.address)).toEqual([addressOf(30)]);

    const o3 = attributeOutput("o3", `${passage(docs[40].text, 300, 100)} ${novel} ${passage(docs[101].text, 300, 100)}`, null, 3_333_333n);
    expect(share(o3.record, 40)).toBeGreaterThan(300_000);
    expect(share(o3.record, 41)).toBeGreaterThan(300_000); // docs[101] belongs to contributor 41

    const o4 = attributeOutput("o4", novel, null, 123_457n);
    expect(o4.record.unattributedPpm).toBe(PPM);

    const quote = passage(docs[7].text, 100, 80);
    const o5 = attributeOutput("o5", quote, `Please repeat: ${quote}`, 999_999n);
    expect(o5.record.unattributedPpm).toBe(PPM);
    expect(o5.record.masked.length).toBeGreaterThan(0);

    // many more contributors earn in the second epoch
    for (let k = 0; k < 24; k++) {
      const j = 2 * k + 61; // docs 61..107: contributors 1..47 (odd)
      const o = attributeOutput(`more-${k}`, `${passage(docs[j].text, 150 + 10 * k, 60 + k)} ${novel}`, null, BigInt(10_000 + 7_919 * k));
      expect(share(o.record, j % CONTRIBUTORS)).toBeGreaterThan(400_000);
    }
  });

  async function settleOutputs(list: Output[]) {
    const payer = stack.payers[0];
    const domain = await tokenDomain(stack.token, stack.chainId);
    const now = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp);
    const items = [];
    for (const o of list) {
      const signed = await signAuthorization(payer, domain, { to: splitterAddress, value: o.amount }, now);
      items.push(settlementOf(signed, o.id, hashRecord(o.record)));
    }
    const receipt = await (await stack.splitter.connect(stack.roles.facilitator).settleBatch(items)).wait();
    // The "ledger": settled payments as the chain reports them, joined with our records by output id.
    const settled: EpochPayment[] = [];
    for (const log of receipt!.logs) {
      const ev = stack.splitter.interface.parseLog(log);
      if (ev?.name !== "PaymentSettled") continue;
      const o = list.find((x) => x.id === ev.args.outputId)!;
      expect(ev.args.attributionRoot).toBe(hashRecord(o.record));
      settled.push({ outputId: o.id, amount: ev.args.amount, record: o.record });
    }
    expect(settled).toHaveLength(list.length);
    return settled;
  }

  async function postAndVerify(doc: EpochDocument) {
    await postEpoch(splitterContract(splitterAddress, stack.roles.oracle), doc, `ipfs://epoch-${doc.epoch}`);
    await stack.connection.networkHelpers.mine(); // past the one-second challenge period
    const published = JSON.parse(JSON.stringify(doc)) as EpochDocument;
    const v = await verifyEpoch(published, { index, provider: stack.ethers.provider, requireAllRecords: true });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.recordsRecomputed).toBe(doc.payments.length);
    expect(v.posted?.status).toBe("active");
  }

  async function claimAll(doc: EpochDocument) {
    const keeper = stack.splitter.connect(stack.roles.keeper);
    for (const leaf of doc.claims.leaves) {
      const before = await stack.splitter.claimed(leaf.account);
      const balanceBefore = await stack.token.balanceOf(leaf.account);
      if (BigInt(leaf.cumulativeAmount) > before) await (await keeper.claim(leaf.account, leaf.cumulativeAmount, leaf.proof)).wait();
      expect(await stack.splitter.claimed(leaf.account)).toBe(BigInt(leaf.cumulativeAmount));
      expect((await stack.token.balanceOf(leaf.account)) - balanceBefore).toBe(BigInt(leaf.cumulativeAmount) - before);
    }
  }

  it("settles, posts two epochs, verifies them against the chain, and every contributor claims exactly its amount", async () => {
    const { config } = stack;
    const texts = (list: Output[]) => Object.fromEntries(list.map((o) => [o.id, { output: o.output, prompt: o.prompt }]));

    const first = outputs.slice(0, 4);
    const doc1 = buildEpoch({
      epoch: 1,
      ownerBps: config.ownerBps,
      protocolBps: config.protocolBps,
      modelOwner: config.owner,
      payments: await settleOutputs(first),
      chainId: stack.chainId,
      splitter: splitterAddress,
      texts: texts(first),
    });
    expect(BigInt(doc1.cumulativeAllocated)).toBe(await stack.splitter.contributorPool());
    await postAndVerify(doc1);
    await claimAll(doc1);

    // A forged document (one leaf inflated) no longer matches what the chain holds.
    const forged = JSON.parse(JSON.stringify(doc1));
    forged.claims.leaves[0].cumulativeAmount = "1";
    expect((await verifyEpoch(forged, { provider: stack.ethers.provider })).ok).toBe(false);

    const rest = outputs.slice(4);
    const doc2 = buildEpoch({
      epoch: 2,
      ownerBps: config.ownerBps,
      protocolBps: config.protocolBps,
      modelOwner: config.owner,
      payments: await settleOutputs(rest),
      previous: nextPreviousState(doc1),
      chainId: stack.chainId,
      splitter: splitterAddress,
      texts: texts(rest),
    });
    expect(BigInt(doc2.cumulativeAllocated)).toBe(await stack.splitter.contributorPool());
    await postAndVerify(doc2);
    await claimAll(doc2);

    // Contributors' on-chain balances equal their computed entitlements to the unit.
    for (const leaf of doc2.claims.leaves) {
      if (leaf.account === config.owner) continue; // the owner also has its fixed cut to withdraw
      expect(await stack.token.balanceOf(leaf.account)).toBe(BigInt(leaf.cumulativeAmount));
    }
    // The duplicator earned nothing, the copier only for its own few words around the copy;
    // the owner's leaf carries the unattributed outputs.
    const accounts = doc2.claims.leaves.map((l) => l.account);
    const amountOf = (who: number) => BigInt(doc2.claims.leaves.find((l) => l.account === addressOf(who))?.cumulativeAmount ?? "0");
    expect(accounts).not.toContain(addressOf(DUPLICATOR));
    expect(amountOf(COPIER) * 10n).toBeLessThan(amountOf(11));
    expect(amountOf(30)).toBeGreaterThan(0n);
    expect(accounts).toContain(config.owner);
    expect(accounts.length).toBeGreaterThanOrEqual(24);
    expect(await stack.splitter.totalClaimed()).toBe(BigInt(doc2.cumulativeAllocated));
    const posted = await readPostedEpoch(stack.ethers.provider, splitterAddress, 2);
    expect(posted.uri).toBe("ipfs://epoch-2");
    lastDoc = doc2;
  });

  it("verifies the published document and its records with `royalty402 epoch verify --doc`", async () => {
    expect(lastDoc).not.toBeNull();
    saveIndex(index, join(tmp, "index"));
    writeFileSync(join(tmp, "epoch-2.json"), JSON.stringify(lastDoc));
    const forged = JSON.parse(JSON.stringify(lastDoc));
    forged.texts[forged.payments[0].outputId].output += " (edited)";
    writeFileSync(join(tmp, "forged.json"), JSON.stringify(forged));
    const runScript = (doc: string) =>
      promisify(execFile)(
        process.execPath,
        ["bin/royalty402.js", "epoch", "verify", "--doc", join(tmp, doc), "--index", join(tmp, "index"), "--require-records"],
        { cwd: process.cwd() },
      ).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e) => ({ code: e.code as number, out: String(e.stdout) }),
      );
    const [good, bad] = await Promise.all([runScript("epoch-2.json"), runScript("forged.json")]);
    expect(good.out).toMatch(/epoch 2 of 0x[0-9a-fA-F]{40} verified/);
    expect(good.out).toContain(`records recomputed: ${lastDoc!.payments.length} of ${lastDoc!.payments.length}`);
    expect(good.code).toBe(0);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("output text does not match outputHash");
  });
});
