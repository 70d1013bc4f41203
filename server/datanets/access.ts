// Paid data access over a datanet's served index: a search (ranked passages) or a document (a
// contribution's full text), each with its access record crediting the contributors of what was
// returned. The record is an attribution record of algorithm ACCESS_ALGORITHM: it goes through
// the same ledger, on-chain link and epochs as a model output's, and anyone holding the index
// recomputes it from the query (the record's prompt) with recomputeAccess.
import { sharesInPpm } from "../attribution/apportion.ts";
import { canonicalJson, textHash } from "../attribution/canonical.ts";
import type { AttributionRecord, AttributionSpan, ContributorShare } from "../attribution/record.ts";
import type { SuffixIndex } from "../attribution/suffix-index.ts";
import { isWellFormedText, normalizeText } from "../attribution/tokenizer.ts";
import { SEARCH_PARAMS, passageIndex, termsOf, type SearchHit } from "./search.ts";
import { DatanetError } from "./service.ts";

export const ACCESS_ALGORITHM = "royalty402/access-v1";
export const MAX_QUERY_CHARS = 512;
const MAX_QUERY_TERMS = 32;
const TITLE_CHARS = 80;

/** Control characters other than tab and line breaks, or U+FFFD (what undecodable bytes become): not a text query. */
function looksBinary(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}

/** What a paid access returns and records: `output` and `prompt` are the texts the record hashes. */
export interface AccessResult<T> {
  body: T;
  record: AttributionRecord;
  output: string;
  prompt: string;
}

export interface SearchResultItem {
  rank: number;
  /** BM25 score in millionths (integers only: the results are hashed as canonical JSON). */
  scoreMicros: number;
  contentHash: string;
  contributor: string;
  passage: { wordStart: number; wordEnd: number };
  text: string;
}

/** The query of a search as the route receives it: refused (400, with a reason code) unless it has words to search for. */
export function checkQuery(q: unknown): string {
  const refuse = (code: string, message: string): never => {
    throw new DatanetError(400, code, message);
  };
  if (typeof q !== "string") return refuse("missing_query", "q is required once: GET /datanets/<id>/search?q=<words>");
  if (q.length > MAX_QUERY_CHARS) refuse("query_too_long", `q has ${q.length} characters; at most ${MAX_QUERY_CHARS} are searched`);
  if (!isWellFormedText(q) || looksBinary(q)) refuse("binary_query", "q contains control characters or invalid text; send words");
  const query = normalizeText(q).trim();
  const terms = termsOf(query);
  if (terms.length === 0) refuse("empty_query", "q has no words (letters or digits) to search for");
  if (terms.length > MAX_QUERY_TERMS) refuse("query_too_long", `q has ${terms.length} words; at most ${MAX_QUERY_TERMS} are searched`);
  return query;
}

/** Ranks the index's passages for `query`; the record credits each passage's contributor by its score. */
export function searchAccess(
  index: SuffixIndex,
  query: string,
  limit: number,
): AccessResult<{ query: string; results: SearchResultItem[] }> {
  const hits = passageIndex(index).search(query, limit);
  const results = hits.map((h, i) => resultItem(index, h, i));
  const output = canonicalJson({ query, limit, results });
  const record = searchRecord(index, { query, limit, hits, output });
  return { body: { query, results }, record, output, prompt: query };
}

/** The first contribution (registration order) whose content hash is `hash`, or -1. */
export function findDocument(index: SuffixIndex, hash: string): number {
  const h = hash.toLowerCase();
  return index.contributions.findIndex((c) => c.contentHash.toLowerCase() === h);
}

/** A contribution's full text; the record credits its author with the whole payment. */
export function documentAccess(index: SuffixIndex, contribution: number): AccessResult<{ contentHash: string; text: string }> {
  const meta = index.contributions[contribution];
  const text = passageIndex(index).texts[contribution];
  const share: ContributorShare = { address: meta.contributor, ppm: 0, weight: meta.tokens, tokens: meta.tokens };
  const span = spanOf(0, meta.tokens, meta.seq, meta.contributor, 0, meta.tokens);
  const record = accessRecord(index, {
    params: { kind: "document", weighting: "whole-document" },
    output: text,
    prompt: meta.contentHash,
    units: meta.tokens,
    shares: [share],
    spans: [span],
  });
  return { body: { contentHash: meta.contentHash, text }, record, output: text, prompt: meta.contentHash };
}

/** Recomputes an access record from the index and its prompt (the query, or the document's hash). */
export function recomputeAccess(index: SuffixIndex, record: AttributionRecord, prompt: string | null): AttributionRecord {
  if (prompt === null) throw new Error("an access record needs its prompt (the query or the document hash) to be recomputed");
  if (record.params.kind === "search") {
    const limit = record.params.limit;
    if (typeof limit !== "number") throw new Error("the search record has no limit");
    return searchAccess(index, prompt, limit).record;
  }
  const c = findDocument(index, prompt);
  if (c < 0) throw new Error(`no contribution ${prompt} in this index`);
  return documentAccess(index, c).record;
}

/** Free metadata of every document of the index: hash, author, a title (its first line, cut), sizes. */
export function catalog(index: SuffixIndex) {
  const texts = passageIndex(index).texts;
  return index.contributions.map((c, i) => ({
    contentHash: c.contentHash,
    contributor: c.contributor,
    title: titleOf(texts[i]),
    tokens: c.tokens,
    characters: texts[i].length,
  }));
}

function titleOf(text: string): string {
  const line = text.trim().split("\n", 1)[0].replace(/\s+/g, " ");
  if (line.length <= TITLE_CHARS) return line;
  const cut = line.slice(0, TITLE_CHARS);
  return `${cut.slice(0, cut.lastIndexOf(" ") > 0 ? cut.lastIndexOf(" ") : TITLE_CHARS)}…`;
}

function resultItem(index: SuffixIndex, hit: SearchHit, i: number): SearchResultItem {
  const meta = index.contributions[hit.passage.contribution];
  return {
    rank: i + 1,
    scoreMicros: Math.round(hit.score * 1e6),
    contentHash: meta.contentHash,
    contributor: meta.contributor,
    passage: { wordStart: hit.passage.wordStart, wordEnd: hit.passage.wordEnd },
    text: hit.passage.text,
  };
}

interface SearchInput {
  query: string;
  limit: number;
  hits: SearchHit[];
  output: string;
}

/** Passage i of the results is output unit [i, i+1); its weight is its score in thousandths (at least 1). */
function searchRecord(index: SuffixIndex, s: SearchInput): AttributionRecord {
  const shares = new Map<string, ContributorShare>();
  const spans = s.hits.map((h, i) => {
    const meta = index.contributions[h.passage.contribution];
    const share = shares.get(meta.contributor) ?? { address: meta.contributor, ppm: 0, weight: 0, tokens: 0 };
    share.weight += Math.max(1, Math.round(h.score * 1000));
    share.tokens += h.passage.wordEnd - h.passage.wordStart;
    shares.set(meta.contributor, share);
    return spanOf(i, i + 1, meta.seq, meta.contributor, h.passage.wordStart, h.passage.wordEnd);
  });
  const { ranking, k1, b, passageWords, terms } = SEARCH_PARAMS;
  // Canonical JSON holds integers only: k1 and b in thousandths.
  const bm25 = { ranking, k1Millis: Math.round(k1 * 1000), bMillis: Math.round(b * 1000), passageWords, terms };
  return accessRecord(index, {
    params: { kind: "search", weighting: "bm25-score-millis", ...bm25, limit: s.limit },
    output: s.output,
    prompt: s.query,
    units: s.hits.length,
    shares: [...shares.values()],
    spans,
  });
}

interface RecordParts {
  params: Record<string, string | number>;
  output: string;
  prompt: string;
  units: number;
  shares: ContributorShare[];
  spans: AttributionSpan[];
}

function accessRecord(index: SuffixIndex, p: RecordParts): AttributionRecord {
  const totalWeight = p.shares.reduce((sum, s) => sum + s.weight, 0);
  const { contributors, unattributedPpm } = sharesInPpm(p.shares, totalWeight, totalWeight);
  return {
    algorithm: ACCESS_ALGORITHM,
    params: { tokenizer: index.params.tokenizer, weighting: String(p.params.weighting), ...p.params },
    indexRoot: index.indexRoot,
    outputHash: textHash(p.output),
    promptHash: textHash(p.prompt),
    outputTokens: p.units,
    totalWeight,
    contributors,
    unattributedPpm,
    unattributedWeight: 0,
    unattributedTokens: 0,
    masked: [],
    spans: p.spans,
  };
}

function spanOf(start: number, end: number, seq: number, contributor: string, from: number, to: number): AttributionSpan {
  const segment = { start, end, contribution: seq, contributor, contributionStart: from, contributionEnd: to };
  return { start, end, contributions: 1, common: false, segments: [segment] };
}
