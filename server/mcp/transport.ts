// The Streamable HTTP transport (stateless, JSON responses) for one long-lived SDK Server shared by
// every POST /mcp. The SDK's own transport serves one request and must be rebuilt with its Server
// for the next; building both, the web Request/Response around them and the zod union check of each
// message cost about a millisecond a call (profiled). This one answers the same wire format as the
// SDK's with enableJsonResponse (406, 415, 400 with the same JSON-RPC error codes, 202 for
// notifications, one JSON body for the responses) and multiplexes the HTTP requests onto the one
// Server: each incoming request id is replaced by a unique one, and restored in the response.
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type JSONRPCMessage, type RequestId, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";

/** The SDK transport's limit on a batch. */
const MAX_BATCH_SIZE = 100;

/** What the HTTP layer needs of a request: its headers and parsed body, and what handlers may look up by request id. */
export interface McpHttpRequest<Origin> {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** Handed to the Server's request handlers through `origin(extra.requestId)`. */
  origin: Origin;
}

export interface McpHttpAnswer {
  status: number;
  /** A JSON body (the JSON-RPC response, batch of responses, or error), or null (202). */
  body: string | null;
}

interface Pending<Origin> {
  originalId: RequestId;
  origin: Origin;
  exchange: Exchange;
  /** Its place among the exchange's responses (they are answered in the order they were asked). */
  index: number;
}

/** One HTTP request's JSON-RPC requests and the responses collected for them so far. */
interface Exchange {
  responses: Array<JSONRPCMessage | undefined>;
  missing: number;
  resolve: (answer: McpHttpAnswer) => void;
}

const jsonError = (status: number, code: number, message: string): McpHttpAnswer => ({
  status,
  body: JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
});

const header = (headers: McpHttpRequest<unknown>["headers"], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isId = (x: unknown): x is RequestId => typeof x === "string" || (typeof x === "number" && Number.isInteger(x));

/** The envelope of a JSON-RPC 2.0 message (the Server's handlers check the params with the SDK's schemas). */
function isMessage(x: unknown): x is JSONRPCMessage {
  if (!isObject(x) || x.jsonrpc !== "2.0") return false;
  if (x.params !== undefined && !isObject(x.params)) return false;
  if (typeof x.method === "string") return x.id === undefined || isId(x.id);
  return isId(x.id) && (isObject(x.result) || isObject(x.error));
}

const isRequest = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId; method: string } => "method" in m && "id" in m;

/** The media type of Content-Type is application/json (parameters such as charset allowed). */
const isJsonContentType = (value: string | undefined) => value?.split(";")[0].trim().toLowerCase() === "application/json";

export class StatelessHttpTransport<Origin> implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport["onmessage"];
  private readonly pending = new Map<RequestId, Pending<Origin>>();
  private nextId = 0;

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.onclose?.();
  }

  /** The origin of the HTTP request that carried the (rewritten) request id a handler got. */
  origin(requestId: RequestId): Origin | undefined {
    return this.pending.get(requestId)?.origin;
  }

  /** One POST: checks as the SDK's transport does, then the messages to the Server; resolves with every response. */
  handlePost(request: McpHttpRequest<Origin>): Promise<McpHttpAnswer> {
    const accept = header(request.headers, "accept");
    if (!accept?.includes("application/json") || !accept.includes("text/event-stream")) {
      return Promise.resolve(jsonError(406, -32000, "Not Acceptable: Client must accept both application/json and text/event-stream"));
    }
    if (!isJsonContentType(header(request.headers, "content-type"))) {
      return Promise.resolve(jsonError(415, -32000, "Unsupported Media Type: Content-Type must be application/json"));
    }
    const raw = request.body;
    if (Array.isArray(raw) && raw.length > MAX_BATCH_SIZE) {
      return Promise.resolve(jsonError(400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`));
    }
    const messages = Array.isArray(raw) ? raw : [raw];
    if (!messages.every(isMessage)) return Promise.resolve(jsonError(400, -32700, "Parse error: Invalid JSON-RPC message"));
    const refusal = this.headerRefusal(request, messages);
    if (refusal) return Promise.resolve(refusal);
    return this.dispatch(messages, request.origin);
  }

  private headerRefusal(request: McpHttpRequest<Origin>, messages: JSONRPCMessage[]): McpHttpAnswer | undefined {
    const initializing = messages.filter((m) => "method" in m && m.method === "initialize").length;
    if (initializing > 0) {
      if (messages.length > 1) return jsonError(400, -32600, "Invalid Request: Only one initialization request is allowed");
      return undefined;
    }
    const version = header(request.headers, "mcp-protocol-version");
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      const supported = SUPPORTED_PROTOCOL_VERSIONS.join(", ");
      return jsonError(400, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${supported})`);
    }
    return undefined;
  }

  private dispatch(messages: JSONRPCMessage[], origin: Origin): Promise<McpHttpAnswer> {
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      for (const m of messages) this.forward(m);
      return Promise.resolve({ status: 202, body: null });
    }
    return new Promise((resolve) => {
      const exchange: Exchange = { responses: [], missing: requests.length, resolve };
      for (const m of messages) {
        if (!isRequest(m)) {
          this.forward(m);
          continue;
        }
        const id = this.nextId++;
        this.pending.set(id, { originalId: m.id, origin, exchange, index: exchange.responses.push(undefined) - 1 });
        this.onmessage?.({ ...m, id });
      }
    });
  }

  /**
   * A notification, except a cancellation: the ids the Server knows are this transport's, and a client
   * naming one could stop another client's call and leave its answer hanging. Responses answer requests
   * this Server never sends (there is no stream for them): dropped too.
   */
  private forward(message: JSONRPCMessage): void {
    if ("method" in message && message.method !== "notifications/cancelled") this.onmessage?.(message);
  }

  /** The Server's responses are collected per HTTP request; what else it sends has no stream to go to (JSON mode). */
  async send(message: JSONRPCMessage): Promise<void> {
    if ("method" in message || !("id" in message) || !isId(message.id)) return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    const { exchange } = pending;
    exchange.responses[pending.index] = { ...message, id: pending.originalId };
    if (--exchange.missing > 0) return;
    // As the SDK's transport: one response is sent alone, even for a batch.
    const body = exchange.responses.length === 1 ? exchange.responses[0] : exchange.responses;
    exchange.resolve({ status: 200, body: JSON.stringify(body) });
  }
}
