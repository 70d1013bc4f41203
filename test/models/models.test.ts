// Model backends: the built-in ∞-gram model (seeded PRNG, temperature, top_p, max_tokens,
// stop; deterministic for a seed, also across processes) and the proxy backend's error
// handling against a small local stand-in upstream written here (not a real model server).
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attribute, buildIndex, longestContinuation, tokenize, type SuffixIndex } from "../../server/attribution/index.ts";
import { Datanet, loadBrownCorpus } from "../../server/datanets/index.ts";
import { type BackendError, Prng, ProxyBackend, generate, sampleNext, type CompletionRequest } from "../../server/models/index.ts";
import { InfiniGramBackend } from "../../server/models/infinigram.ts";

const DOCS = 8;
let index: SuffixIndex;
let opening: string; // the first words of a contributed document

const request = (over: Partial<CompletionRequest> = {}): CompletionRequest => ({
  kind: "text",
  prompt: opening,
  maxTokens: 40,
  temperature: 1,
  topP: 1,
  stop: [],
  seed: 7n,
  ...over,
});

beforeAll(() => {
  const docs = loadBrownCorpus(DOCS);
  const d = new Datanet();
  docs.forEach((doc, i) => d.add({ contributor: `0x${(i + 1).toString(16).padStart(40, "0")}`, text: doc.text }));
  index = buildIndex(d).index;
  opening = docs[3].text.split(" ").slice(0, 12).join(" ");
});

describe("Prng", () => {
  it("is xoshiro128** (reference vector) and a pure function of the seed (pinned vectors)", () => {
    // xoshiro128** from state {1, 2, 3, 4}: the reference implementation's first outputs.
    const ref = new Prng(1n);
    (ref as unknown as { s: Uint32Array }).s.set([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => ref.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    const a = new Prng(42n);
    const first = [a.nextU32(), a.nextU32(), a.nextU32()];
    expect(first).toEqual([204391854, 1829846404, 4021786942]);
    const b = new Prng(42);
    expect([b.nextU32(), b.nextU32(), b.nextU32()]).toEqual(first);
    expect(new Prng(43n).nextU32()).not.toBe(first[0]);
    expect(new Prng(-1n).nextU32()).toBe(new Prng((1n << 64n) - 1n).nextU32()); // seeds are taken mod 2^64
  });

  it("draws floats in [0,1) and unbiased integers below n", () => {
    const p = new Prng(1n);
    const counts = new Array(3).fill(0);
    for (let i = 0; i < 3000; i++) {
      const f = p.next();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      counts[p.below(3)]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(() => p.below(0)).toThrow(RangeError);
  });
});

describe("∞-gram sampling", () => {
  const cont = (tokens: number[], counts: number[], endCount = 0) => ({
    suffixLength: 3,
    occurrences: counts.reduce((a, b) => a + b, endCount),
    endCount,
    tokens: Uint32Array.from(tokens),
    counts: Uint32Array.from(counts),
  });

  it("greedy picks the most frequent continuation (ties: lowest token id), END when it dominates", () => {
    const p = new Prng(1n);
    expect(sampleNext(cont([5, 9, 12], [3, 7, 7]), 0, 1, p)).toBe(9);
    expect(sampleNext(cont([5], [2], 5), 0, 1, p)).toBe(-1);
  });

  it("samples in proportion to counts at temperature 1, and top_p keeps only the nucleus", () => {
    const p = new Prng(3n);
    const c = cont([1, 2], [1, 3]);
    let twos = 0;
    for (let i = 0; i < 4000; i++) if (sampleNext(c, 1, 1, p) === 2) twos++;
    expect(twos / 4000).toBeGreaterThan(0.7);
    expect(twos / 4000).toBeLessThan(0.8);
    for (let i = 0; i < 200; i++) expect(sampleNext(c, 1, 0.5, p)).toBe(2);
    // A low temperature sharpens: the frequent token almost always wins.
    let sharp = 0;
    for (let i = 0; i < 1000; i++) if (sampleNext(c, 0.2, 1, p) === 2) sharp++;
    expect(sharp).toBeGreaterThan(990);
  });
});

describe("∞-gram model", () => {
  it("is deterministic for a seed, and seeds matter at temperature 1", () => {
    const a = generate(index, request({ seed: 11n }));
    const b = generate(index, request({ seed: 11n }));
    expect(b).toEqual(a);
    // From an unseen prompt the model must branch somewhere: different seeds, different outputs.
    const wander = (seed: bigint) => generate(index, request({ prompt: "The", seed, maxTokens: 30 })).text;
    const outputs = new Set([1n, 2n, 3n, 4n, 5n, 6n].map(wander));
    expect(outputs.size).toBeGreaterThan(1);
  });

  it("is greedy and seed-independent at temperature 0, and continues the contributed text", () => {
    const g1 = generate(index, request({ temperature: 0, seed: 1n }));
    const g2 = generate(index, request({ temperature: 0, seed: 999n }));
    expect(g2.text).toBe(g1.text);
    expect(g1.fingerprint).toBe(`infinigram-${index.indexRoot.slice(2, 14)}`);
    const record = attribute(index, g1.text, opening);
    expect(record.contributors.map((c) => c.address)).toContain(`0x${(4).toString(16).padStart(40, "0")}`);
    expect(record.unattributedPpm).toBeLessThan(500_000);
  });

  it("respects max_tokens and stop sequences", () => {
    const long = generate(index, request({ temperature: 0, maxTokens: 25 }));
    expect(long.finishReason).toBe("length");
    expect(long.completionTokens).toBe(25);
    expect(tokenize(long.text).length).toBeLessThanOrEqual(26);
    expect(long.promptTokens).toBe(tokenize(opening).length);

    const word = long.text.trim().split(/\s+/)[3];
    const stopped = generate(index, request({ temperature: 0, maxTokens: 25, stop: [word, "zzzz-never"] }));
    expect(stopped.finishReason).toBe("stop");
    expect(stopped.text).not.toContain(word);
    expect(long.text.startsWith(stopped.text)).toBe(true);
    expect(long.text.slice(stopped.text.length).startsWith(word)).toBe(true);
    expect(stopped.completionTokens).toBe(tokenize(stopped.text).length);

    const none = generate(index, request({ temperature: 0, maxTokens: 25, stop: [long.text.slice(0, 1)] }));
    expect(none).toMatchObject({ text: "", finishReason: "stop", completionTokens: 0 });
  });

  it("streams token by token: pieces across event-loop turns, adding up to the same output; a stop sequence is never sent", async () => {
    const backend = new InfiniGramBackend();
    const long = generate(index, request({ temperature: 0, maxTokens: 25 }));
    const word = long.text.trim().split(/\s+/)[3];
    for (const over of [{ seed: 11n }, { temperature: 0, maxTokens: 25, stop: [word, "zzzz-never"] }]) {
      const pieces: string[] = [];
      let turns = 0; // event-loop turns, counted by a ticker that runs between the stream's tokens
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const streamed = await backend.stream(request(over), { index }, (piece) => pieces.push(`${turns}:${piece}`));
      ticking = false;
      expect(streamed).toEqual(generate(index, request(over)));
      expect(pieces.map((p) => p.slice(p.indexOf(":") + 1)).join("")).toBe(streamed.text);
      expect(new Set(pieces.map((p) => p.split(":")[0])).size).toBeGreaterThan(1); // not all at once
    }
  });

  it("a stream the client leaves ends there: the output is exactly the text sent", async () => {
    const controller = new AbortController();
    let sent = "";
    let pieces = 0;
    const out = await new InfiniGramBackend().stream(request({ maxTokens: 40 }), { index, signal: controller.signal }, (piece) => {
      sent += piece;
      if (++pieces === 5) controller.abort();
    });
    expect(out.text).toBe(sent);
    expect(out.completionTokens).toBe(tokenize(sent).length);
    expect(out.completionTokens).toBeLessThan(40);
  });

  it("falls back to unigram counts for an empty prompt", () => {
    const out = generate(index, request({ prompt: "", temperature: 0, maxTokens: 5 }));
    expect(out.promptTokens).toBe(0);
    expect(out.completionTokens).toBeGreaterThan(0);
    expect(longestContinuation(index, []).suffixLength).toBe(0);
  });

  it("gives the same output in another process", async () => {
    const dir = mkdtempSync(join(tmpdir(), "r402-infgram-"));
    const script = join(dir, "gen.ts");
    const root = process.cwd();
    writeFileSync(
      script,
      `import { buildIndex } from "${root}/server/attribution/index.ts";
import { Datanet, loadBrownCorpus } from "${root}/server/datanets/index.ts";
       import { generate } from "${root}/server/models/index.ts";
       const d = new Datanet();
       loadBrownCorpus(${DOCS}).forEach((doc, i) => d.add({ contributor: "0x" + (i + 1).toString(16).padStart(40, "0"), text: doc.text }));
       const index = buildIndex(d).index;
       const r = generate(index, {
         kind: "text", prompt: ${JSON.stringify(opening)}, maxTokens: 40, temperature: 0.8, topP: 0.95, stop: [], seed: 123456789n,
       });
       process.stdout.write(JSON.stringify(r));`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual(generate(index, request({ temperature: 0.8, topP: 0.95, seed: 123456789n })));
  });
});

describe("proxy backend (against a local stand-in upstream written in this test)", () => {
  const upstream = Fastify();
  let url = "";
  const seen: Array<{ path: string; body: any; auth?: string }> = [];

  beforeAll(async () => {
    upstream.post("/v1/chat/completions", async (req) => {
      seen.push({ path: "chat", body: req.body, auth: req.headers.authorization });
      const body = req.body as { messages: Array<{ content: string }> };
      return {
        choices: [{ message: { role: "assistant", content: `echo: ${body.messages.at(-1)!.content}` }, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 2 },
      };
    });
    upstream.post("/v1/completions", async (req, reply) => {
      seen.push({ path: "text", body: req.body });
      const prompt = (req.body as { prompt: string }).prompt;
      if (prompt === "refuse") return reply.code(429).send({ error: { message: "slow down" } });
      if (prompt === "garbage") return { choices: [] };
      if (prompt === "slow") await new Promise((r) => setTimeout(r, 500));
      return { choices: [{ text: "ok", finish_reason: "length" }] };
    });
    await upstream.listen({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => upstream.close());

  const backend = (timeoutMs = 5000) => new ProxyBackend({ url, model: "upstream-model", apiKeyEnv: "X", timeoutMs }, "sk-test");

  it("forwards chat and text requests with the upstream model name and key", async () => {
    const chat = await backend().complete(
      { ...request(), kind: "chat", messages: [{ role: "user", content: "hello" }], stop: ["\n"], seed: 5n },
      { index },
    );
    expect(chat).toMatchObject({ text: "echo: hello", finishReason: "stop", promptTokens: 3, completionTokens: 2 });
    expect(seen.at(-1)).toMatchObject({
      path: "chat",
      auth: "Bearer sk-test",
      body: { model: "upstream-model", max_tokens: 40, stop: ["\n"], seed: 5, stream: false },
    });
    const text = await backend().complete(request({ prompt: "hi" }), { index });
    expect(text).toMatchObject({ text: "ok", finishReason: "length", completionTokens: 1 });
  });

  it("maps upstream refusals, bad answers, timeouts and outages to reason-coded errors", async () => {
    const fail = (prompt: string, b = backend()) =>
      b.complete(request({ prompt }), { index }).then(
        () => null,
        (e: unknown) => e as BackendError,
      );
    expect(await fail("refuse")).toMatchObject({
      status: 502,
      code: "upstream_error",
      message: expect.stringContaining("HTTP 429 (slow down)"),
    });
    expect(await fail("garbage")).toMatchObject({ status: 502, code: "upstream_invalid_response" });
    expect(await fail("slow", backend(100))).toMatchObject({ status: 504, code: "upstream_timeout" });
    const dead = new ProxyBackend({ url: "http://127.0.0.1:9/v1", model: "m", apiKeyEnv: null, timeoutMs: 2000 });
    expect(await fail("x", dead)).toMatchObject({ status: 502, code: "upstream_unreachable" });
  });
});
