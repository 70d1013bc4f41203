// A scripted OpenAI-compatible upstream (a test double for an LLM server, used by tests and
// benchmarks): it answers every completion with the same pieces of text, one per "token",
// streamed as server-sent events paced `paceMs` apart when asked for a stream, else in one JSON.
// It counts the calls it served (a refused payment must not reach it) and stops a stream when
// its client goes away.
import type { AddressInfo } from "node:net";
import Fastify from "fastify";

export interface ScriptedUpstream {
  /** Base URL, e.g. http://127.0.0.1:1234/v1 */
  url: string;
  /** Completions served (streamed or not). */
  calls: number;
  /** Pieces written by streams so far (all streams). */
  streamedPieces: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function scriptedUpstream(options: { pieces: readonly string[]; paceMs?: number }): Promise<ScriptedUpstream> {
  const { pieces, paceMs = 0 } = options;
  const app = Fastify({ logger: false });
  const state: ScriptedUpstream = { url: "", calls: 0, streamedPieces: 0, close: () => app.close() };
  const answer = (kind: "chat" | "text") => async (request: { body: unknown }, reply: import("fastify").FastifyReply) => {
    state.calls++;
    const body = request.body as { stream?: boolean };
    const choice = (text: string | null, finish: string | null) =>
      kind === "chat"
        ? { index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish }
        : { index: 0, text: text ?? "", finish_reason: finish };
    if (!body.stream) {
      const text = pieces.join("");
      const message = kind === "chat" ? { message: { role: "assistant", content: text } } : { text };
      return { choices: [{ index: 0, ...message, finish_reason: "stop" }] };
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    let gone = false;
    raw.on("close", () => (gone = true));
    for (const piece of pieces) {
      if (paceMs > 0) await sleep(paceMs);
      if (gone) return;
      raw.write(`data: ${JSON.stringify({ object: "chunk", choices: [choice(piece, null)] })}\n\n`);
      state.streamedPieces++;
    }
    raw.end(`data: ${JSON.stringify({ object: "chunk", choices: [choice(null, "stop")] })}\n\ndata: [DONE]\n\n`);
  };
  app.post("/v1/chat/completions", answer("chat"));
  app.post("/v1/completions", answer("text"));
  await app.listen({ host: "127.0.0.1", port: 0 });
  state.url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`;
  return state;
}
