// Index files: a directory of little-endian binary arrays plus contributions.json and a small
// manifest.json listing every file's sha256. indexRoot (segmented-root.ts) commits to the
// contribution list and the params: the same contributions always give the same bytes and the
// same root, and a loaded index is checked against both.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import { canonicalHash, canonicalJson } from "./canonical.ts";
import { AttributionError } from "./errors.ts";
import { bitsFor, PackedInts } from "./packed-ints.ts";
import {
  INDEX_FORMAT,
  SuffixIndex,
  suffixBits,
  type ContributionMeta,
  type IndexArrays,
  type IndexParams,
  type IndexSource,
} from "./suffix-index.ts";
import { contributionsDigest, indexRootFromDigest } from "./segmented-root.ts";
import { TokenArray, tokenCodes } from "./token-array.ts";
import { SEPARATOR_TOKEN, TOKENIZER_ID } from "./tokenizer.ts";
import { WordArray } from "./word-array.ts";
import { adoptWordIndex, heldWordIndex, WordIndex } from "./word-index.ts";

type Words = Uint32Array | Int32Array;
/** The bytes of one file, produced piece by piece (a packed array is unpacked a slice at a time). */
type Chunks = () => Iterable<Uint8Array>;
const UNPACK_SLICE = 1 << 22;

interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface IndexManifest {
  format: string;
  params: IndexParams;
  tokenCount: number;
  contributionCount: number;
  files: Record<string, FileEntry>;
  indexRoot: string;
}

function assertLittleEndian(): void {
  if (endianness() !== "LE") throw new AttributionError("index_corrupt", "index files are little-endian; this machine is not");
}

function bytesOf(a: Words): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A packed array as index files hold it: 32-bit words. */
type Unpackable = PackedInts | TokenArray | WordArray;

function* unpacked(a: Unpackable): Iterable<Uint8Array> {
  for (let s = 0; s < a.length; s += UNPACK_SLICE) yield bytesOf(a.subarray(s, Math.min(a.length, s + UNPACK_SLICE)));
}

const wordsOrPacked = (a: Words | Unpackable): Chunks =>
  a instanceof Uint32Array || a instanceof Int32Array ? () => [bytesOf(a)] : () => unpacked(a);

/** The binary files of an index: 32-bit little-endian words whatever the in-memory packing. */
function fileChunks(arrays: IndexSource, contributions: readonly ContributionMeta[]): Record<string, Chunks> {
  return {
    "tokens.u32": wordsOrPacked(arrays.tokens),
    "sa.u32": wordsOrPacked(arrays.sa),
    "offsets.u32": () => [bytesOf(arrays.offsets)],
    // struct of arrays: all starts, then all lengths, then all sources
    "owner-runs.u32": () => [bytesOf(arrays.runStarts), bytesOf(arrays.runLengths), bytesOf(arrays.runSources)],
    "unigram.u32": () => [bytesOf(arrays.unigram)],
    "surprisal.u32": () => [bytesOf(arrays.surprisal)],
    "contributions.json": () => [Buffer.from(canonicalJson(contributions), "utf8")],
  };
}

/**
 * The v2 word view's files, so a load need not derive it again from the tokens (minutes at 1 GB).
 * Derived data: outside the root, like every array but contributions.json; the manifest's sha256
 * still covers them. The vocabulary is its keys in id order, one a line (a key has no whitespace).
 */
function wordViewChunks(view: WordIndex): Record<string, Chunks> {
  return {
    [WORD_FILES.words]: wordsOrPacked(view.words),
    [WORD_FILES.sa]: wordsOrPacked(view.sa),
    [WORD_FILES.offsets]: () => [bytesOf(view.offsets)],
    [WORD_FILES.buckets]: () => [bytesOf(view.bucketStart)],
    [WORD_FILES.vocabulary]: () => [Buffer.from([...view.vocabulary.keys()].join("\n"), "utf8")],
  };
}

const WORD_FILES = {
  words: "words.u32",
  sa: "word-sa.u32",
  offsets: "word-offsets.u32",
  buckets: "word-buckets.u32",
  vocabulary: "word-vocabulary.txt",
} as const;

function describe(chunks: Record<string, Chunks>): Record<string, FileEntry> {
  const files: Record<string, FileEntry> = {};
  for (const name of Object.keys(chunks).sort()) {
    const h = createHash("sha256");
    let bytes = 0;
    for (const c of chunks[name]()) {
      h.update(c);
      bytes += c.byteLength;
    }
    files[name] = { bytes, sha256: h.digest("hex") };
  }
  return files;
}

// The root commits to the contribution list only (segmented-root.ts); the files' sha256 in the
// manifest catch a damaged file.
function rootOf(params: IndexParams, tokenCount: number, contributionCount: number, files: Record<string, FileEntry>): string {
  const list = files["contributions.json"];
  if (!list) throw new AttributionError("index_corrupt", "manifest lists no contributions.json");
  return indexRootFromDigest(params, contributionCount, tokenCount, list.sha256);
}

export function computeIndexRoot(arrays: IndexArrays, contributions: readonly ContributionMeta[], params: IndexParams): string {
  assertLittleEndian();
  return indexRootFromDigest(params, contributions.length, arrays.tokens.length, contributionsDigest(contributions));
}

/**
 * The root this index had before the root named the contribution list only (format v1: the sha256
 * of every file), so records made then can still be matched to an index rebuilt from the export.
 */
export function legacyIndexRoot(index: SuffixIndex): string {
  assertLittleEndian();
  const files = describe(fileChunks(index, index.contributions));
  const { params } = index;
  return canonicalHash({
    format: INDEX_FORMAT,
    params,
    tokenCount: index.tokens.length,
    contributionCount: index.contributions.length,
    files,
  });
}

/** Writes the index into `dir` (created if needed) and returns its manifest. */
export function saveIndex(index: SuffixIndex, dir: string): IndexManifest {
  assertLittleEndian();
  mkdirSync(dir, { recursive: true });
  const arrays: IndexSource = index;
  const view = heldWordIndex(index);
  const chunks = { ...fileChunks(arrays, index.contributions), ...(view ? wordViewChunks(view) : {}) };
  const files = describe(chunks);
  const indexRoot = rootOf(index.params, index.tokens.length, index.contributions.length, files);
  if (indexRoot !== index.indexRoot) throw new AttributionError("index_corrupt", "in-memory arrays no longer match the index root");
  for (const [name, parts] of Object.entries(chunks)) {
    const tmp = join(dir, `${name}.tmp`);
    const fd = openSync(tmp, "w");
    try {
      for (const part of parts()) writeSync(fd, part);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  }
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    params: index.params,
    tokenCount: index.tokens.length,
    contributionCount: index.contributions.length,
    files,
    indexRoot,
  };
  writeFileSync(join(dir, "manifest.json"), canonicalJson(manifest));
  return manifest;
}

/** A whole file, checked against its manifest entry (size; sha256 when `verify`). */
function readChecked(dir: string, name: string, entry: FileEntry | undefined, verify: boolean): Buffer {
  if (!entry) throw new AttributionError("index_corrupt", `manifest lists no ${name}`);
  let buf: Buffer;
  try {
    buf = readFileSync(join(dir, name));
  } catch (e) {
    throw new AttributionError("index_corrupt", `cannot read ${name}: ${(e as Error).message}`);
  }
  if (buf.byteLength !== entry.bytes)
    throw new AttributionError("index_corrupt", `${name} has ${buf.byteLength} bytes, expected ${entry.bytes}`);
  if (verify && createHash("sha256").update(buf).digest("hex") !== entry.sha256) {
    throw new AttributionError("index_corrupt", `${name} does not match its sha256 in the manifest`);
  }
  return buf;
}

function readWords(dir: string, name: string, entry: FileEntry | undefined, verify: boolean): Uint32Array {
  const buf = readChecked(dir, name, entry, verify);
  if (buf.byteLength % 4 !== 0) throw new AttributionError("index_corrupt", `${name} is not a list of 32-bit words`);
  if (buf.byteOffset % 4 === 0) return new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new Uint32Array(new Uint8Array(buf).buffer);
}

/** A large file of 32-bit words read a slice at a time (no file-sized buffer) and packed by `pack`. */
function readPacked<T>(
  dir: string,
  name: string,
  entry: FileEntry | undefined,
  verify: boolean,
  length: number,
  pack: (pieces: Iterable<Uint32Array>) => T,
): T {
  if (!entry) throw new AttributionError("index_corrupt", `manifest lists no ${name}`);
  let fd: number;
  try {
    fd = openSync(join(dir, name), "r");
  } catch (e) {
    throw new AttributionError("index_corrupt", `cannot read ${name}: ${(e as Error).message}`);
  }
  try {
    const bytes = fstatSync(fd).size;
    if (bytes !== entry.bytes || bytes !== length * 4) {
      throw new AttributionError("index_corrupt", `${name} has ${bytes} bytes, expected ${entry.bytes} (${length} words)`);
    }
    const h = verify ? createHash("sha256") : null;
    const slice = new Uint32Array(UNPACK_SLICE);
    const sliceBytes = new Uint8Array(slice.buffer);
    function* pieces(): Iterable<Uint32Array> {
      for (let at = 0; at < bytes; ) {
        const want = Math.min(sliceBytes.length, bytes - at);
        let got = 0;
        while (got < want) {
          const r = readSync(fd, sliceBytes, got, want - got, at + got);
          if (r === 0) throw new AttributionError("index_corrupt", `${name} ended early`);
          got += r;
        }
        h?.update(sliceBytes.subarray(0, want));
        at += want;
        yield slice.subarray(0, want / 4);
      }
    }
    let packed: T;
    try {
      packed = pack(pieces());
    } catch (e) {
      if (e instanceof AttributionError) throw e;
      throw new AttributionError("index_corrupt", `${name}: ${(e as Error).message}`);
    }
    if (h && h.digest("hex") !== entry.sha256)
      throw new AttributionError("index_corrupt", `${name} does not match its sha256 in the manifest`);
    return packed;
  } finally {
    closeSync(fd);
  }
}

export interface LoadOptions {
  /** Check every file against its sha256 (default true; ~1 s per GB). */
  verify?: boolean;
  /** Load the saved word view too, if the index has one (default true; otherwise it is derived on first use). */
  words?: boolean;
}

export function readManifest(dir: string): IndexManifest {
  let manifest: IndexManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  } catch (e) {
    throw new AttributionError("index_corrupt", `cannot read manifest.json: ${(e as Error).message}`);
  }
  if (manifest?.format !== INDEX_FORMAT) throw new AttributionError("index_mismatch", `unknown index format ${String(manifest?.format)}`);
  return manifest;
}

/** Loads an index written by saveIndex. */
export function loadIndex(dir: string, options: LoadOptions = {}): SuffixIndex {
  assertLittleEndian();
  const verify = options.verify ?? true;
  const manifest = readManifest(dir);
  if (manifest.params?.tokenizer !== TOKENIZER_ID) {
    throw new AttributionError("index_mismatch", `index was built with ${manifest.params?.tokenizer}, this build uses ${TOKENIZER_ID}`);
  }
  const root = rootOf(manifest.params, manifest.tokenCount, manifest.contributionCount, manifest.files);
  if (root !== manifest.indexRoot) throw new AttributionError("index_corrupt", "manifest indexRoot does not match its contents");
  const f = manifest.files;
  const n = manifest.tokenCount;
  if (!Number.isSafeInteger(n) || n < 1 || n >= 2 ** 31)
    throw new AttributionError("index_corrupt", `tokenCount ${String(n)} is out of range`);
  const unigram = readWords(dir, "unigram.u32", f["unigram.u32"], verify);
  if (unigram.length !== SEPARATOR_TOKEN) throw new AttributionError("index_corrupt", "unigram table has the wrong size");
  const codes = tokenCodes(unigram);
  const tokens = readPacked(dir, "tokens.u32", f["tokens.u32"], verify, n, (p) => TokenArray.fromPieces(n, codes, p));
  const sa = readPacked(dir, "sa.u32", f["sa.u32"], verify, n, (p) => PackedInts.fromPieces(n, suffixBits(n), p));
  const offsets = readWords(dir, "offsets.u32", f["offsets.u32"], verify);
  const runs = readWords(dir, "owner-runs.u32", f["owner-runs.u32"], verify);
  if (runs.length % 3 !== 0) throw new AttributionError("index_corrupt", "owner-runs.u32 is not a list of triples");
  const r = runs.length / 3;
  const surprisal = readWords(dir, "surprisal.u32", f["surprisal.u32"], verify);
  const contributionsText = readFileSync(join(dir, "contributions.json"));
  if (contributionsText.byteLength !== f["contributions.json"]?.bytes)
    throw new AttributionError("index_corrupt", "contributions.json has the wrong size");
  if (verify && createHash("sha256").update(contributionsText).digest("hex") !== f["contributions.json"].sha256) {
    throw new AttributionError("index_corrupt", "contributions.json does not match its sha256 in the manifest");
  }
  let contributions: ContributionMeta[];
  try {
    contributions = JSON.parse(contributionsText.toString("utf8"));
  } catch (e) {
    throw new AttributionError("index_corrupt", `contributions.json is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(contributions)) throw new AttributionError("index_corrupt", "contributions.json is not a list");
  if (tokens.length !== manifest.tokenCount || contributions.length !== manifest.contributionCount) {
    throw new AttributionError("index_corrupt", "counts in the manifest do not match the files");
  }
  const arrays: IndexSource = {
    tokens,
    sa,
    offsets,
    runStarts: runs.subarray(0, r),
    runLengths: runs.subarray(r, 2 * r),
    runSources: runs.subarray(2 * r, 3 * r),
    unigram,
    surprisal,
  };
  const index = new SuffixIndex(arrays, contributions, manifest.params, manifest.indexRoot);
  if (options.words ?? true) loadWordView(index, dir, { verify, manifest });
  return index;
}

/**
 * Reads the word view saved with `index` (saveIndex of an index holding one) and keeps it with the
 * index; false if the folder has none (the view is then derived from the tokens on first use).
 */
export function loadWordView(index: SuffixIndex, dir: string, options: { verify?: boolean; manifest?: IndexManifest } = {}): boolean {
  const verify = options.verify ?? true;
  const manifest = options.manifest ?? readManifest(dir);
  const f = manifest.files;
  if (!f[WORD_FILES.words]) return false;
  if (manifest.indexRoot !== index.indexRoot) throw new AttributionError("index_mismatch", "word view of another index");
  const offsets = readWords(dir, WORD_FILES.offsets, f[WORD_FILES.offsets], verify);
  const bucketStart = readWords(dir, WORD_FILES.buckets, f[WORD_FILES.buckets], verify);
  const keys = readChecked(dir, WORD_FILES.vocabulary, f[WORD_FILES.vocabulary], verify).toString("utf8");
  const vocabulary = new Map<string, number>();
  if (keys !== "") for (const k of keys.split("\n")) vocabulary.set(k, vocabulary.size);
  const C = index.contributions.length;
  const n = offsets[C];
  if (offsets.length !== C + 1 || bucketStart.length !== vocabulary.size + 2 || bucketStart[vocabulary.size + 1] !== n) {
    throw new AttributionError("index_corrupt", "word view files disagree with the index");
  }
  const words = readPacked(dir, WORD_FILES.words, f[WORD_FILES.words], verify, n, (p) => WordArray.fromPieces(n, vocabulary.size, p));
  const sa = readPacked(dir, WORD_FILES.sa, f[WORD_FILES.sa], verify, n, (p) => PackedInts.fromPieces(n, bitsFor(n - 1), p));
  adoptWordIndex(index, new WordIndex(words, sa, offsets, vocabulary, bucketStart));
  return true;
}
