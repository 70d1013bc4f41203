// Retrieval-grounded attribution and the `rag` backend on real Brown-corpus text. The upstream
// is a TEST DOUBLE: a scripted "paraphraser" behind a real OpenAI-compatible HTTP endpoint that
// rewrites the first context passage it is given (adjacent words swapped, so no 4 words stay in
// a row and verbatim matching finds nothing). Everything else is real: BM25 retrieval, the proxy
// client, attribution, record hashing and recomputation.
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attribute, reattribute } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { hashRecord, PPM, type AttributionRecord } from "../../server/attribution/record.ts";
import { RETRIEVAL_ALGORITHM, retrievePassages } from "../../server/attribution/retrieval.ts";
import { modelConfig } from "../../server/config/validate.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { RagBackend } from "../../server/models/rag.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const docs = brownDocs();
const ppmOf = (r: AttributionRecord, a: string) => r.contributors.find((c) => c.address === a)?.ppm ?? 0;

/** The scripted paraphrase: words of a passage with each adjacent pair swapped. */
function paraphrase(text: string): string {
  const w = text.split(/\s+/).filter((x) => x !== "");
  for (let i = 0; i + 1 < w.length; i += 2) [w[i], w[i + 1]] = [w[i + 1], w[i]];
  return w.join(" ");
}

const d = new Datanet();
for (let i = 0; i < 30; i++) d.add({ contributor: addressOf(i), text: docs[100 + i].text });
const { index } = buildIndex(d);

describe("retrieval-grounded attribution", () => {
  const prompt = `Tell me about this: ${passage(docs[107].text, 900, 25)}`;
  const hits = retrievePassages(index, prompt, 4);
  const source = hits[0].passage;
  const output = paraphrase(source.text);
  const author = addressOf(source.contribution);

  it("retrieves the passage the prompt came from first", () => {
    expect(source.contribution).toBe(7);
    expect(hits.length).toBe(4);
  });

  it("credits the retrieved passage a paraphrase came from, where near-verbatim matching credits nothing", () => {
    const r = attribute(index, output, prompt, { algorithm: RETRIEVAL_ALGORITHM });
    const v2 = attribute(index, output, prompt);
    expect(ppmOf(v2, author)).toBeLessThan(50_000);
    expect(ppmOf(r, author)).toBeGreaterThan(500_000);
    expect(PPM - r.unattributedPpm - ppmOf(r, author)).toBeLessThan(20_000);
    expect(r.retrieved?.map((p) => p.contribution)).toEqual(hits.map((h) => index.contributions[h.passage.contribution].seq));
    expect(r.retrieved?.every((p) => Number.isSafeInteger(p.scoreMicros) && p.scoreMicros > 0)).toBe(true);
  });

  it("recomputes the same record from the index, output and prompt, and catches a changed retrieval list", () => {
    const r = attribute(index, output, prompt, { algorithm: RETRIEVAL_ALGORITHM });
    const again = reattribute(index, JSON.parse(JSON.stringify(r)), output, prompt);
    expect(hashRecord(again)).toBe(hashRecord(r));
    const forged = { ...r, retrieved: r.retrieved?.slice(1) };
    expect(hashRecord(reattribute(index, forged, output, prompt))).not.toBe(hashRecord(forged));
  });

  it("credits nothing for generic English unrelated to the retrieved passages", () => {
    const generic = passage(docs[400].text, 300, 120);
    const r = attribute(index, generic, prompt, { algorithm: RETRIEVAL_ALGORITHM });
    expect(PPM - r.unattributedPpm).toBeLessThan(50_000);
  });
});

describe("the rag backend", () => {
  const upstream = Fastify();
  const seen: Array<{ role: string; content: string }[]> = [];
  let url = "";

  beforeAll(async () => {
    upstream.post("/v1/chat/completions", async (request) => {
      const body = request.body as { messages: Array<{ role: string; content: string }> };
      seen.push(body.messages);
      const context = body.messages.find((m) => m.role === "system")?.content ?? "";
      const first = /\[1\] ([\s\S]*?)(?:\n\n\[2\]|$)/.exec(context)?.[1] ?? "nothing retrieved";
      return { choices: [{ message: { role: "assistant", content: paraphrase(first) }, finish_reason: "stop" }] };
    });
    await upstream.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => upstream.close());

  it("sends the retrieved passages as context and its output pays the passage's author", async () => {
    const backend = new RagBackend({ url, model: "scripted-paraphraser", apiKeyEnv: null, timeoutMs: 10_000 }, null, 3);
    const prompt = `What happened here? ${passage(docs[112].text, 600, 25)}`;
    const result = await backend.complete(
      {
        kind: "chat",
        prompt,
        messages: [{ role: "user", content: prompt }],
        maxTokens: 200,
        temperature: 0,
        topP: 1,
        stop: [],
        seed: null,
      },
      { index },
    );
    const sent = seen[seen.length - 1];
    const hits = retrievePassages(index, prompt, 3);
    expect(sent[0].role).toBe("system");
    for (const h of hits) expect(sent[0].content).toContain(h.passage.text);
    expect(sent[1]).toEqual({ role: "user", content: prompt });
    expect(result.text).toBe(paraphrase(hits[0].passage.text));
    const r = attribute(index, result.text, prompt, backend.attribution);
    expect(r.algorithm).toBe(RETRIEVAL_ALGORITHM);
    expect(r.params.topK).toBe(3);
    const author = addressOf(hits[0].passage.contribution);
    expect(ppmOf(r, author)).toBeGreaterThan(200_000);
    expect(r.contributors.every((c) => c.address === author || c.ppm < ppmOf(r, author) / 10)).toBe(true);
  });
});

describe("rag model configuration", () => {
  const ctx = { chain: { guardian: null, protocolRecipient: null }, datanets: new Set(["brown"]) };
  const base = { id: "rag-1", backend: "rag", datanet: "brown", pricePerRequest: "1000", owner: addressOf(1) };

  it("takes an upstream and ragPassages (default 4), and refuses a rag model without an upstream", () => {
    const m = modelConfig("models[0]", { ...base, upstream: { url: "http://127.0.0.1:9/v1", model: "m" }, ragPassages: 6 }, ctx);
    expect(m).toMatchObject({ backend: "rag", ragPassages: 6, upstream: { model: "m" } });
    expect(modelConfig("models[0]", { ...base, upstream: { url: "http://127.0.0.1:9/v1", model: "m" } }, ctx).ragPassages).toBe(4);
    expect(() => modelConfig("models[0]", base, ctx)).toThrowError(/models\[0\]\.upstream/);
    expect(() => modelConfig("models[0]", { ...base, upstream: { url: "http://x/v1", model: "m" }, ragPassages: 0 }, ctx)).toThrowError(
      /ragPassages/,
    );
  });
});
