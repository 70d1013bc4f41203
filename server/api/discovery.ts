// What bazaar discovery says about the paid routes: how to call them (an example body or query
// and its schema), what they answer, and one listing per model (its price for the default
// max_tokens, paid to its splitter) or per datanet selling searches (its price, paid to the
// datanet's splitter). The listing itself, GET /discovery/resources, is served by the x402
// plugin from these declarations. (Documents are not listed: one item per document would be a
// catalogue of its own; GET /datanets/:id/documents is that catalogue.)
import type { RouteDiscovery } from "@royalty402/fastify-x402";
import { accessPayeeId, type ServedModel } from "../models/index.ts";
import type { AppContext } from "./context.ts";

type Kind = "chat" | "text";

const INPUT_SCHEMA: Record<Kind, Record<string, unknown>> = {
  chat: {
    properties: {
      model: { type: "string" },
      messages: { type: "array", items: { type: "object", properties: { role: { type: "string" }, content: { type: "string" } } } },
      max_tokens: { type: "integer", minimum: 1 },
      stream: { type: "boolean" },
    },
    required: ["model", "messages"],
  },
  text: {
    properties: {
      model: { type: "string" },
      prompt: { type: "string" },
      max_tokens: { type: "integer", minimum: 1 },
      stream: { type: "boolean" },
    },
    required: ["model", "prompt"],
  },
};

function exampleBody(kind: Kind, model: string, maxTokens: number): Record<string, unknown> {
  return kind === "chat"
    ? { model, messages: [{ role: "user", content: "Tell me a story." }], max_tokens: maxTokens }
    : { model, prompt: "Once upon a time", max_tokens: maxTokens };
}

const OUTPUT_EXAMPLE: Record<Kind, unknown> = {
  chat: { object: "chat.completion", choices: [{ message: { role: "assistant", content: "…" } }], attribution: { outputId: "0x…" } },
  text: { object: "text_completion", choices: [{ text: "…" }], attribution: { outputId: "0x…" } },
};

/** The discovery declaration of a completion route: one listing per served model. */
export function completionDiscovery(ctx: AppContext, kind: Kind, defaultPrice: (model: ServedModel) => bigint): RouteDiscovery {
  const [first] = ctx.models.list();
  return {
    bodyType: "json",
    input: exampleBody(kind, first?.id ?? "model-id", first?.config.defaultMaxTokens ?? 64),
    inputSchema: INPUT_SCHEMA[kind],
    output: { example: OUTPUT_EXAMPLE[kind] },
    listings: () =>
      ctx.models.list().map((m) => ({
        resource: m.id,
        price: defaultPrice(m),
        description: `${kind === "chat" ? "Chat completion" : "Text completion"} by ${m.id}: ${m.config.description}`.trim(),
        input: exampleBody(kind, m.id, m.config.defaultMaxTokens),
      })),
  };
}

/** The search route's declaration (its query and schema) with one listing per datanet that sells searches. */
export function searchDiscovery(ctx: AppContext, declared: RouteDiscovery): RouteDiscovery {
  return {
    output: { example: { query: "jury election", results: [{ rank: 1, contributor: "0x…", passage: "…" }], attribution: {} } },
    ...declared,
    listings: () =>
      ctx.datanets.ids().flatMap((id) => {
        const price = ctx.datanets.config(id).access?.pricePerSearch;
        if (price === undefined || price === null || !ctx.models.payee(accessPayeeId(id))) return [];
        return [
          { resource: accessPayeeId(id), price, path: `/datanets/${encodeURIComponent(id)}/search`, description: `Search datanet ${id}` },
        ];
      }),
  };
}
