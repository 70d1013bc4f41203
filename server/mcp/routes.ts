// The MCP server at /mcp (Streamable HTTP, the official SDK), stateless: one long-lived SDK Server
// answers every POST through a transport that multiplexes the requests onto it (transport.ts), each
// answered as one JSON body; there is no session, so GET (a server-sent stream) and DELETE (ending a
// session) are 405, as the transport specification allows. Tools are the paid models (tools.ts); a
// call is paid per the x402 MCP transport (paid-call.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
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
import { StatelessHttpTransport } from "./transport.ts";

const MCP_PATH = "/mcp";
const SERVER_INFO = { name: "royalty402", version: "0.1.0" };
const INSTRUCTIONS =
  "Each tool is a model paid per call with x402 (tool-result binding of the x402 MCP transport): a call without " +
  '_meta["x402/payment"] returns isError with the PaymentRequired object; sign one of its `accepts` and call again ' +
  'with the PaymentPayload in _meta["x402/payment"]. The result carries the settlement in _meta["x402/payment-response"] ' +
  "and the output's attribution to the datanet contributors who are paid from it.";

/** The SDK server: the tools as the registry holds them now, calls paid through the HTTP route carrying them. */
function mcpServer(app: FastifyInstance, ctx: AppContext, transport: StatelessHttpTransport<FastifyRequest>): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listTools(ctx) }));
  server.setRequestHandler(CallToolRequestSchema, async ({ params }, extra): Promise<CallToolResult> => {
    const request = transport.origin(extra.requestId);
    if (!request) throw new McpError(ErrorCode.InternalError, "the HTTP request of this call is gone");
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

// No body: the SDK client leaves a 405's body unread, and the socket it holds would be cut when it closes.
const notAllowed = (_request: FastifyRequest, reply: FastifyReply) => reply.code(405).header("Allow", "POST").send();

export async function mcpRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const transport = new StatelessHttpTransport<FastifyRequest>();
  const server = mcpServer(app, ctx, transport);
  await server.connect(transport);
  app.addHook("onClose", () => server.close());
  const schema = { summary: "MCP server (Streamable HTTP, stateless): one tool per paid model, paid with x402", tags: ["mcp"] };
  app.post(MCP_PATH, { schema }, async (request, reply) => {
    const answer = await transport.handlePost({ headers: request.headers, body: request.body, origin: request });
    reply.code(answer.status);
    return answer.body === null ? reply.send() : reply.type("application/json").send(answer.body);
  });
  app.get(MCP_PATH, { schema }, notAllowed);
  app.delete(MCP_PATH, { schema }, notAllowed);
}
