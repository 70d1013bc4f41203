// The agent's side of a paid MCP tool: the SDK's client over Streamable HTTP and an x402 client
// (@x402/core with the schemes the agent registered, its spend controls and hooks) that signs
// what the tool asks for. Used by `royalty402 pay --mcp` and the demo.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { x402Client } from "@x402/core/client";
import type { PaymentRequired, SettleResponse } from "@x402/core/types";
import { PAYMENT_META_KEY, PAYMENT_RESPONSE_META_KEY } from "./paid-call.ts";

export async function connectMcp(url: string, name = "royalty402-agent"): Promise<Client> {
  const client = new Client({ name, version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** The PaymentRequired of a tool result, if it is one: structuredContent first, else content[0].text. */
export function paymentRequiredOf(result: CallToolResult): PaymentRequired | null {
  if (!result.isError) return null;
  const isRequired = (v: unknown): v is PaymentRequired =>
    typeof v === "object" && v !== null && "x402Version" in v && Array.isArray((v as { accepts?: unknown }).accepts);
  if (isRequired(result.structuredContent)) return result.structuredContent;
  const first = result.content[0];
  if (first?.type !== "text") return null;
  try {
    const parsed: unknown = JSON.parse(first.text);
    return isRequired(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function settlementOf(result: CallToolResult): SettleResponse | null {
  return (result._meta?.[PAYMENT_RESPONSE_META_KEY] as SettleResponse | undefined) ?? null;
}

export interface PaidToolCall {
  result: CallToolResult;
  /** What the tool asked for (null if it answered without payment). */
  required: PaymentRequired | null;
  settlement: SettleResponse | null;
}

export async function callTool(mcp: Client, name: string, args: Record<string, unknown>, payment?: unknown): Promise<CallToolResult> {
  const params = { name, arguments: args, ...(payment === undefined ? {} : { _meta: { [PAYMENT_META_KEY]: payment } }) };
  return (await mcp.callTool(params, CallToolResultSchema)) as CallToolResult;
}

/** Calls a tool; if it asks for payment, signs one of its offers (x402 client rules) and calls again. */
export async function payTool(mcp: Client, payer: x402Client, name: string, args: Record<string, unknown>): Promise<PaidToolCall> {
  const first = await callTool(mcp, name, args);
  const required = paymentRequiredOf(first);
  if (!required) return { result: first, required: null, settlement: settlementOf(first) };
  const payload = await payer.createPaymentPayload(required);
  const result = await callTool(mcp, name, args, payload);
  return { result, required, settlement: settlementOf(result) };
}
