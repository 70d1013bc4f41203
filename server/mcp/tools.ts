// The MCP tools of the model host: one per paid model, listed from the registry on each request
// (models registered at runtime appear at once). A tool's input is a prompt and an optional
// max_tokens; its output the text, the attribution summary and the record URL.
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { AppContext } from "../api/context.ts";
import type { ServedModel } from "../models/index.ts";
import { maximumPrice } from "../models/pricing.ts";

/** MCP tool names allow [A-Za-z0-9_.-]; model ids may also hold ":". */
export function toolName(modelId: string): string {
  return modelId.replace(/[^A-Za-z0-9_.-]/g, "_");
}

/** The resource URL of a tool in its PaymentRequired (the x402 MCP transport's convention). */
export const toolResource = (name: string) => `mcp://tool/${name}`;

/** The model a tool sells, or undefined. */
export function modelOfTool(ctx: AppContext, name: string): ServedModel | undefined {
  return ctx.models.get(name) ?? ctx.models.list().find((m) => toolName(m.id) === name);
}

/** Shapes only: limits that depend on the model (max_tokens) are the paid route's to refuse, with its reason codes. */
export const toolArguments = z
  .object({
    prompt: z.string().min(1, "prompt must not be empty"),
    max_tokens: z.number().int().positive().optional(),
  })
  .strict();

export type ToolArguments = z.infer<typeof toolArguments>;

// No outputSchema: the SDK's client checks structuredContent against it even on isError results,
// where the x402 transport puts the PaymentRequired. The description names the fields instead.
const OUTPUT_FIELDS =
  "A paid result's structuredContent (also content[1] as JSON; content[0] is the text): model, text, finishReason, " +
  "outputId, recordUrl (the attribution record), outputUrl, attribution {contributors [{address, ppm}], " +
  "contributorCount, unattributedPpm, recordHash}; redelivered: true when a retried payment got its first answer again.";

function priceText(ctx: AppContext, m: ServedModel): string {
  const c = m.config;
  const atomic = (n: bigint) => `${n} (${Number(n) / 10 ** ctx.token.decimals} ${ctx.token.symbol})`;
  const { perRequest, perPromptToken, perOutputToken } = c.price;
  const perPrompt = perPromptToken > 0n ? ` + ${perPromptToken} per prompt token` : "";
  const perToken = perOutputToken > 0n ? ` + ${perOutputToken} per max_tokens` : "";
  const byDefault = maximumPrice(c.price, 0, c.defaultMaxTokens);
  return `${atomic(perRequest)}${perPrompt}${perToken}; ${atomic(byDefault)} at the default max_tokens and an empty prompt`;
}

function toolOf(ctx: AppContext, m: ServedModel): Tool {
  const c = m.config;
  return {
    name: toolName(m.id),
    title: `${m.id} (paid with x402)`,
    description:
      `${c.description ? `${c.description}. ` : ""}Continues a prompt with model ${m.id} (datanet ${c.datanet}); ` +
      `the answer carries its attribution to the datanet's contributors. Paid per call with x402 on ${ctx.network}, ` +
      `price in ${ctx.token.symbol} atomic units: ${priceText(ctx, m)}. Call without payment to get the requirements ` +
      `(isError, PaymentRequired in structuredContent), then retry with the payment in _meta["x402/payment"]. ` +
      OUTPUT_FIELDS,
    inputSchema: {
      type: "object",
      properties: {
        prompt: { type: "string", minLength: 1, description: "the text to continue" },
        max_tokens: {
          type: "integer",
          minimum: 1,
          maximum: c.maxTokensLimit,
          description: `most tokens to generate (default ${c.defaultMaxTokens}); the price depends on it`,
        },
      },
      required: ["prompt"],
      additionalProperties: false,
    },
  };
}

export function listTools(ctx: AppContext): Tool[] {
  return ctx.models.list().map((m) => toolOf(ctx, m));
}
