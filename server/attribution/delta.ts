// The delta index: contributions registered since the main index was built, indexed on their own
// (milliseconds for a few documents) and read together with the main index (segmented.ts), so a
// new contribution is attributable at once; a background merge later folds it into a new main
// index. The delta's own root and surprisal are never used: the segmented index derives both from
// the whole list.
import { performance } from "node:perf_hooks";
import type { Contribution } from "../datanets/datanet.ts";
import { buildIndexFromTokens } from "./build.ts";
import { SegmentedIndex, wordSourceOf, type AttributionIndex } from "./segmented.ts";
import type { SuffixIndex } from "./suffix-index.ts";
import { tokenize } from "./tokenizer.ts";

export interface DeltaStats {
  contributions: number;
  tokens: number;
  /** Tokenize, index and prepare the delta's word view; derive the combined tables and root. */
  buildMs: number;
}

/**
 * The index of `main` plus `added` (registration order, every seq above main's), ready to answer:
 * the word views are built here, not by the first request. No contributions added: `main` itself.
 * `tokensOf` may hand back the tokens of a contribution tokenized by an earlier delta.
 */
export function withDelta(
  main: SuffixIndex,
  added: readonly Contribution[],
  tokensOf: (c: Contribution) => Uint32Array = (c) => tokenize(c.text),
): { index: AttributionIndex; stats: DeltaStats } {
  const started = performance.now();
  if (added.length === 0) return { index: main, stats: { contributions: 0, tokens: 0, buildMs: 0 } };
  const items = added.map((c) => ({ contribution: c, tokens: tokensOf(c) }));
  const delta = buildIndexFromTokens(items, { minCopyTokens: main.params.minCopyTokens }).index;
  const index = new SegmentedIndex([main, delta]);
  wordSourceOf(index);
  const stats = { contributions: added.length, tokens: delta.corpusTokens, buildMs: performance.now() - started };
  return { index, stats };
}
