// Verification of a published epoch: recompute it from the document's own inputs (payments,
// records, previous totals, fee split), optionally recompute every record from the datanet
// index and the published output texts, and compare the roots with what the splitter emitted,
// including each channel link's ChannelOutputsPaid root over the outputs it paid for.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Provider } from "ethers";
import { reattribute } from "../attribution/attribute.ts";
import { canonicalJson, textHash } from "../attribution/canonical.ts";
import { hashRecord } from "../attribution/record.ts";
import type { SuffixIndex } from "../attribution/suffix-index.ts";
import { ACCESS_ALGORITHM, recomputeAccess } from "../datanets/access.ts";
import { buildEpoch, epochInputOf, EPOCH_FORMAT, type EpochDocument } from "./build.ts";
import { readPostedEpoch, type PostedEpoch } from "./chain.ts";
import { checkLinkLeaves, checkLinksOnChain } from "./verify-links.ts";

interface VerifyCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface EpochVerification {
  ok: boolean;
  checks: VerifyCheck[];
  recordsRecomputed: number;
  posted: PostedEpoch | null;
}

export interface VerifyOptions {
  /** The datanet index: records are recomputed for every output whose text is available. */
  index?: SuffixIndex;
  /** More indexes (e.g. rebuilt from a datanet's export): each record is recomputed with the one of its indexRoot. */
  indexes?: readonly SuffixIndex[];
  /** Output texts by outputId (defaults to the document's own `texts`). */
  texts?: Readonly<Record<string, { output: string; prompt?: string | null }>>;
  /** With an index: fail if some record cannot be recomputed for lack of its text. */
  requireAllRecords?: boolean;
  /** Chain access: compare with the splitter's EpochPosted event. */
  provider?: Provider;
  splitter?: string;
  fromBlock?: number;
}

export async function verifyEpoch(doc: EpochDocument, options: VerifyOptions = {}): Promise<EpochVerification> {
  const checks: VerifyCheck[] = [];
  const check = (name: string, ok: boolean, detail?: string) => checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
  let recordsRecomputed = 0;
  let posted: PostedEpoch | null = null;

  const wellFormed =
    doc?.format === EPOCH_FORMAT &&
    Array.isArray(doc.payments) &&
    Array.isArray(doc.claims?.leaves) &&
    Array.isArray(doc.records?.leaves) &&
    doc.payments.every((p) => p !== null && typeof p === "object" && p.record !== null && typeof p.record === "object");
  check("format", wellFormed, String(doc?.format));
  if (!wellFormed) return { ok: false, checks, recordsRecomputed, posted };

  // 1. Record hashes as published.
  const badHashes = doc.payments.filter((p) => hashRecord(p.record) !== p.recordHash).map((p) => p.outputId);
  check("record hashes", badHashes.length === 0, badHashes.length ? `mismatch for ${badHashes.join(", ")}` : undefined);

  // 2. Recompute the whole epoch from its inputs and compare every derived field.
  try {
    const again = buildEpoch(epochInputOf(doc));
    const differing = (Object.keys(again) as Array<keyof EpochDocument>).filter(
      (k) => canonicalJson({ v: again[k] }) !== canonicalJson({ v: doc[k] }),
    );
    check(
      "recomputed epoch",
      differing.length === 0,
      differing.length ? `differs in ${differing.join(", ")}` : `claimsRoot ${again.claims.root}`,
    );
  } catch (e) {
    check("recomputed epoch", false, (e as Error).message);
  }

  // 3. Every published proof verifies against its root.
  const badClaims = doc.claims.leaves.filter(
    (l) => !StandardMerkleTree.verify(doc.claims.root, doc.claims.leafEncoding, [l.account, l.cumulativeAmount], l.proof),
  );
  const badRecords = doc.records.leaves.filter(
    (l) => !StandardMerkleTree.verify(doc.records.root, doc.records.leafEncoding, [l.outputId, l.recordHash], l.proof),
  );
  check(
    "proofs",
    badClaims.length === 0 && badRecords.length === 0,
    `${badClaims.length} claim and ${badRecords.length} record proofs fail`,
  );

  // 4. Records recomputed from the datanet.
  const indexes = new Map<string, SuffixIndex>();
  for (const i of [...(options.indexes ?? []), ...(options.index ? [options.index] : [])]) indexes.set(i.indexRoot.toLowerCase(), i);
  if (indexes.size > 0) {
    const texts: Record<string, { output: string; prompt?: string | null }> = {};
    for (const [id, t] of Object.entries(options.texts ?? doc.texts ?? {})) texts[id.toLowerCase()] = t;
    const problems: string[] = [];
    let missing = 0;
    for (const p of doc.payments) {
      const index = indexes.get(String(p.record.indexRoot).toLowerCase());
      if (index === undefined) {
        problems.push(`${p.outputId}: record indexRoot ${p.record.indexRoot} is not the given index (${[...indexes.keys()].join(", ")})`);
        continue;
      }
      const t = texts[p.outputId.toLowerCase()];
      if (!t) {
        missing++;
        continue;
      }
      if (textHash(t.output) !== p.record.outputHash) {
        problems.push(`${p.outputId}: output text does not match outputHash`);
        continue;
      }
      if ((t.prompt == null ? null : textHash(t.prompt)) !== p.record.promptHash) {
        problems.push(`${p.outputId}: prompt does not match promptHash`);
        continue;
      }
      try {
        // Paid data access (a search or a document) is recomputed from its query; model outputs by attribution.
        const again =
          p.record.algorithm === ACCESS_ALGORITHM
            ? recomputeAccess(index, p.record, t.prompt ?? null)
            : reattribute(index, p.record, t.output, t.prompt ?? null);
        recordsRecomputed++;
        if (hashRecord(again) !== p.recordHash) problems.push(`${p.outputId}: recomputed record differs`);
      } catch (e) {
        problems.push(`${p.outputId}: ${(e as Error).message}`);
      }
    }
    if (options.requireAllRecords && missing > 0) problems.push(`${missing} outputs have no text to recompute from`);
    check(
      "records recomputed",
      problems.length === 0,
      problems.length ? problems.slice(0, 5).join("; ") : `${recordsRecomputed} of ${doc.payments.length}`,
    );
  }

  // 5. Channel-paid outputs: each link's leaves are the epoch's payments (and, on-chain, hash to its root).
  if (doc.channelLinks !== undefined) {
    const problems = checkLinkLeaves(doc);
    if (options.provider && problems.length === 0)
      problems.push(...(await checkLinksOnChain(doc, options.provider, options.splitter ?? doc.splitter)));
    const outputs = doc.channelLinks.reduce((n, l) => n + l.leaves.length, 0);
    check(
      "channel links",
      problems.length === 0,
      problems.length ? problems.slice(0, 5).join("; ") : `${doc.channelLinks.length} links, ${outputs} outputs`,
    );
  }

  // 6. What the splitter says was posted.
  if (options.provider) {
    const splitter = options.splitter ?? doc.splitter;
    if (!splitter) {
      check("on-chain epoch", false, "no splitter address");
    } else {
      try {
        posted = await readPostedEpoch(options.provider, splitter, doc.epoch, options.fromBlock ?? 0);
        const same =
          posted.claimsRoot === doc.claims.root &&
          posted.recordsRoot === doc.records.root &&
          posted.cumulativeAllocated === BigInt(doc.cumulativeAllocated);
        check(
          "on-chain roots",
          same,
          `posted claimsRoot ${posted.claimsRoot}, recordsRoot ${posted.recordsRoot}, cumulativeAllocated ${posted.cumulativeAllocated}`,
        );
        check("on-chain status", posted.status !== "vetoed", posted.status);
      } catch (e) {
        check("on-chain roots", false, (e as Error).message);
      }
    }
  }
  return { ok: checks.every((c) => c.ok), checks, recordsRecomputed, posted };
}
