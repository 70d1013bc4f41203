// JSON schemas: request validation (OpenAI request shapes; unknown fields are accepted, as
// OpenAI clients send many) and response descriptions for the OpenAPI document.
const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: "null" }] });

const stop = { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 4 }, { type: "null" }] };

const sampling = {
  max_tokens: nullable({ type: "integer", minimum: 1 }),
  temperature: nullable({ type: "number", minimum: 0, maximum: 2 }),
  top_p: nullable({ type: "number", exclusiveMinimum: 0, maximum: 1 }),
  n: nullable({ type: "integer", minimum: 1 }),
  stream: nullable({ type: "boolean" }),
  stream_options: nullable({ type: "object", properties: { include_usage: { type: "boolean" } } }),
  stop,
  seed: nullable({ type: "integer" }),
  user: { type: "string" },
};

export const chatBodySchema = {
  type: "object",
  required: ["model", "messages"],
  properties: {
    model: { type: "string", minLength: 1, maxLength: 256 },
    messages: {
      type: "array",
      minItems: 1,
      maxItems: 1000,
      items: {
        type: "object",
        required: ["role"],
        properties: {
          role: { type: "string", enum: ["system", "developer", "user", "assistant", "tool", "function"] },
          content: {
            anyOf: [
              { type: "string" },
              {
                type: "array",
                items: { type: "object", required: ["type"], properties: { type: { type: "string" }, text: { type: "string" } } },
              },
              { type: "null" },
            ],
          },
          name: { type: "string" },
        },
      },
    },
    max_completion_tokens: nullable({ type: "integer", minimum: 1 }),
    ...sampling,
  },
} as const;

export const completionBodySchema = {
  type: "object",
  required: ["model", "prompt"],
  properties: {
    model: { type: "string", minLength: 1, maxLength: 256 },
    prompt: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1, maxItems: 1 }] },
    ...sampling,
  },
} as const;

export const errorSchema = {
  description: "Error: on /v1 routes {error: {message, type, param, code}}; elsewhere {error: code, message}",
  type: "object",
  additionalProperties: true,
} as const;

export const modelSchema = {
  description: "A paid model: price, network, asset, payTo (its splitter) and datanet",
  type: "object",
  additionalProperties: true,
  properties: {
    id: { type: "string" },
    object: { type: "string" },
    created: { type: "integer" },
    owned_by: { type: "string" },
    backend: { type: "string" },
    datanet: { type: "string" },
    network: { type: "string" },
    asset: { type: "string" },
    payTo: { type: "string" },
    splitterDeployed: { type: "boolean" },
  },
} as const;

export const modelListSchema = {
  description: "OpenAI model list",
  type: "object",
  additionalProperties: true,
  properties: { object: { type: "string" }, data: { type: "array", items: modelSchema } },
} as const;

export const anyObject = (description: string) => ({ description, type: "object", additionalProperties: true }) as const;

export const addressParams = {
  type: "object",
  required: ["address"],
  properties: { address: { type: "string", description: "0x-prefixed 20-byte address" } },
} as const;

export const paymentRequiredSchema = {
  description:
    "Payment required (x402 v2): the PAYMENT-REQUIRED header (base64 " +
    "JSON) holds the requirements (scheme exact, network, asset, " +
    "amount, payTo = the model's splitter); pay and retry with PAYMENT-SIGNATURE. Also a refused or failed payment (reason code " +
    "in error.code). x402 v1 clients read `x402Version: 1` and `accepts` (network by v1 name) from this body and pay with X-PAYMENT.",
  type: "object",
  additionalProperties: true,
} as const;
