// The MCP server at /mcp (Streamable HTTP, the official SDK), stateless: every POST gets its own
// SDK Server and transport, answered as one JSON body; there is no session, so GET (a server-sent
// stream) and DELETE (ending a session) are 405, as the transport specification allows. Tools are
// the paid models (tools.ts); a call is paid per the x402 MCP transport (paid-call.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv-provider.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import type { AppContext } from "../api/context.ts";
import { PAYMENT_META_KEY, callPaidTool } from "./paid-call.ts";
import { listTools, modelOfTool, toolArguments } from "./tools.ts";

const MCP_PATH = "/mcp";
const SERVER_INFO = { name: "royalty402", version: "0.1.0" };
const INSTRUCTIONS =
  "Each tool is a model paid per call with x402 (tool-result binding of the x402 MCP transport): a call without " +
  '_meta["x402/payment"] returns isError with the PaymentRequired object; sign one of its `accepts` and call again ' +
  'with the PaymentPayload in _meta["x402/payment"]. The result carries the settlement in _meta["x402/payment-response"] ' +
  "and the output's attribution to the datanet contributors who are paid from it.";

// A Server would build its own Ajv instance (~1 ms) for elicitation, which these tools never use: share one.
const jsonSchemaValidator = new AjvJsonSchemaValidator();

/** One request's SDK server: the tools as the registry holds them now, calls paid through the HTTP route. */
function mcpServer(app: FastifyInstance, ctx: AppContext, request: FastifyRequest): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS, jsonSchemaValidator });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listTools(ctx) }));
  server.setRequestHandler(CallToolRequestSchema, async ({ params }): Promise<CallToolResult> => {
    const model = modelOfTool(ctx, params.name);
    if (!model) throw new McpError(ErrorCode.InvalidParams, `no tool named ${JSON.stringify(params.name)}; tools/list lists them`);
    const parsed = toolArguments.safeParse(params.arguments ?? {});
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`).join("; ");
      const refusal = { status: 400, error: "invalid_arguments", message };
      return { isError: true, structuredContent: refusal, content: [{ type: "text", text: JSON.stringify(refusal) }] };
    }
    return callPaidTool({ app, request, model, args: parsed.data, payment: params._meta?.[PAYMENT_META_KEY] });
  });
  return server;
}

/** The headers the SDK transport reads (content negotiation, protocol version, session). */
const TRANSPORT_HEADERS = ["accept", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id", "host", "origin"];

/** The fastify request as the web-standard Request the SDK transport reads (the body is passed parsed). */
function webRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const name of TRANSPORT_HEADERS) {
    const value = request.headers[name];
    if (typeof value === "string") headers.set(name, value);
  }
  return new Request(`http://${request.host}${request.url}`, { method: request.method, headers });
}

async function answer(app: FastifyInstance, ctx: AppContext, request: FastifyRequest, reply: FastifyReply) {
  const server = mcpServer(app, ctx, request);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    const response = await transport.handleRequest(webRequest(request), { parsedBody: request.body });
    reply.code(response.status);
    response.headers.forEach((value, name) => void reply.header(name, value));
    return reply.send(await response.text());
  } finally {
    await server.close();
  }
}

// No body: the SDK client leaves a 405's body unread, and the socket it holds would be cut when it closes.
const notAllowed = (_request: FastifyRequest, reply: FastifyReply) => reply.code(405).header("Allow", "POST").send();

export async function mcpRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const schema = { summary: "MCP server (Streamable HTTP, stateless): one tool per paid model, paid with x402", tags: ["mcp"] };
  app.post(MCP_PATH, { schema }, (request, reply) => answer(app, ctx, request, reply));
  app.get(MCP_PATH, { schema }, notAllowed);
  app.delete(MCP_PATH, { schema }, notAllowed);
}
