// An output's text cut into pieces by what its attribution record says about each token: which
// contributor a token is credited to, or whether it was common knowledge, copied from the
// prompt, or found nowhere in the datanet. The dashboard colours the pieces.
import { detokenize, textHash, tokenize, type AttributionRecord } from "../attribution/index.ts";

type PieceKind = "credited" | "common" | "masked" | "plain";

interface TextPiece {
  text: string;
  kind: PieceKind;
  /** Credited pieces: the contributor (checksummed) and contribution seq. */
  contributor?: string;
  contribution?: number;
  /** Output token range [start, end). */
  start: number;
  end: number;
}

export interface HighlightedText {
  /** True when the text hashes to the record's outputHash and has its token count. */
  matchesRecord: boolean;
  pieces: TextPiece[];
}

export function highlightOutput(record: AttributionRecord, text: string): HighlightedText {
  const tokens = tokenize(text);
  const matchesRecord = textHash(text) === record.outputHash && tokens.length === record.outputTokens;
  const n = tokens.length;
  const kind = new Array<PieceKind>(n).fill("plain");
  const owner = new Array<string | null>(n).fill(null);
  const contribution = new Array<number>(n).fill(-1);
  const clamp = (x: number) => Math.max(0, Math.min(n, x));
  for (const span of record.spans ?? []) {
    if (!span.common) continue;
    for (let i = clamp(span.start); i < clamp(span.end); i++) kind[i] = "common";
  }
  for (const [a, b] of record.masked ?? []) for (let i = clamp(a); i < clamp(b); i++) kind[i] = "masked";
  for (const span of record.spans ?? []) {
    for (const seg of span.segments ?? []) {
      for (let i = clamp(seg.start); i < clamp(seg.end); i++) {
        kind[i] = "credited";
        owner[i] = seg.contributor;
        contribution[i] = seg.contribution;
      }
    }
  }
  const pieces: TextPiece[] = [];
  let start = 0;
  for (let i = 1; i <= n; i++) {
    const same = i < n && kind[i] === kind[start] && owner[i] === owner[start] && contribution[i] === contribution[start];
    if (same) continue;
    const piece: TextPiece = { text: detokenize(tokens.subarray(start, i)), kind: kind[start], start, end: i };
    if (owner[start] !== null) {
      piece.contributor = owner[start]!;
      piece.contribution = contribution[start];
    }
    pieces.push(piece);
    start = i;
  }
  return { matchesRecord, pieces };
}
