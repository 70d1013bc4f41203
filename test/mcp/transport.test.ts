// The stateless transport that multiplexes POST /mcp onto one SDK Server: the SDK transport's wire
// answers (406, 415, 400, 202, one JSON body), and concurrent HTTP requests reusing the same JSON-RPC
// id each get their own answer with their own id. A real SDK Server; its tool handler is ours.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, LATEST_PROTOCOL_VERSION, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { StatelessHttpTransport } from "../../server/mcp/transport.ts";

const JSON_HEADERS = { accept: "application/json, text/event-stream", "content-type": "application/json" };
const transport = new StatelessHttpTransport<string>();
const server = new Server({ name: "t", version: "1" }, { capabilities: { tools: {} } });
/** Resolves a waiting tool call: lets a test answer calls out of order. */
const gates = new Map<string, () => void>();

beforeAll(async () => {
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async ({ params }, extra) => {
    const origin = transport.origin(extra.requestId);
    if (params.name === "wait") await new Promise<void>((resolve) => gates.set(String(origin), resolve));
    return { content: [{ type: "text", text: `${params.name} from ${origin}` }] };
  });
  await server.connect(transport);
});
afterAll(() => server.close());

const call = (id: number | string, name: string) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } });
const post = (body: unknown, origin = "a", headers: Record<string, string> = JSON_HEADERS) =>
  transport.handlePost({ headers, body, origin });
const parsed = async (answer: ReturnType<typeof post>) => {
  const { status, body } = await answer;
  return { status, body: body === null ? null : JSON.parse(body) };
};

describe("stateless MCP transport", () => {
  it("answers a tools/call with one JSON body under the caller's id, the handler seeing its HTTP request", async () => {
    const { status, body } = await parsed(post(call("req-7", "echo"), "client-1"));
    expect(status).toBe(200);
    expect(body).toEqual({ jsonrpc: "2.0", id: "req-7", result: { content: [{ type: "text", text: "echo from client-1" }] } });
  });

  it("keeps concurrent requests with the same id apart, however their answers are ordered", async () => {
    const first = parsed(post(call(1, "wait"), "slow"));
    const second = await parsed(post(call(1, "echo"), "fast"));
    expect(second.body).toMatchObject({ id: 1, result: { content: [{ text: "echo from fast" }] } });
    gates.get("slow")?.();
    expect((await first).body).toMatchObject({ id: 1, result: { content: [{ text: "wait from slow" }] } });
  });

  it("ignores cancellations: the ids the Server sees are not the callers' to name", async () => {
    const waiting = parsed(post(call(3, "wait"), "victim"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (let requestId = 0; requestId < 100; requestId++) {
      const cancel = { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId } };
      expect(await post(cancel, "attacker")).toEqual({ status: 202, body: null });
    }
    gates.get("victim")?.();
    expect((await waiting).body).toMatchObject({ id: 3, result: { content: [{ text: "wait from victim" }] } });
  });

  it("answers a batch in the order asked, and a notification alone with 202 and no body", async () => {
    const batch = parsed(post([call(1, "wait"), { jsonrpc: "2.0", method: "notifications/initialized" }, call(2, "echo")], "b"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    gates.get("b")?.();
    const { body } = await batch;
    expect(body.map((r: { id: number }) => r.id)).toEqual([1, 2]);
    expect(await post({ jsonrpc: "2.0", method: "notifications/initialized" })).toEqual({ status: 202, body: null });
  });

  it("answers an initialize with the server's capabilities and the negotiated version", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "c", version: "1" } },
    };
    const { body } = await parsed(post(init));
    expect(body).toMatchObject({ id: 0, result: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: { tools: {} } } });
  });

  it("refuses what the SDK's transport refuses, with the same statuses and JSON-RPC codes", async () => {
    const refusal = async (body: unknown, headers: Record<string, string> = JSON_HEADERS) => {
      const { status, body: error } = await parsed(post(body, "x", headers));
      return [status, error.error.code, error.id];
    };
    expect(await refusal(call(1, "echo"), { ...JSON_HEADERS, accept: "application/json" })).toEqual([406, -32000, null]);
    expect(await refusal(call(1, "echo"), { ...JSON_HEADERS, "content-type": "text/plain" })).toEqual([415, -32000, null]);
    expect(await refusal({ jsonrpc: "1.0", id: 1, method: "tools/call" })).toEqual([400, -32700, null]);
    expect(await refusal({ jsonrpc: "2.0", id: null, method: "tools/call" })).toEqual([400, -32700, null]);
    expect(await refusal("not a message")).toEqual([400, -32700, null]);
    expect(await refusal(Array.from({ length: 101 }, (_, i) => call(i, "echo")))).toEqual([400, -32600, null]);
    expect(await refusal(call(1, "echo"), { ...JSON_HEADERS, "mcp-protocol-version": "1999-01-01" })).toEqual([400, -32000, null]);
  });

  it("answers an unknown method with the SDK's JSON-RPC error, under the caller's id", async () => {
    const { status, body } = await parsed(post({ jsonrpc: "2.0", id: 9, method: "no/such" }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 9, error: { code: -32601 } });
  });
});
