// A model's price per token, in the payment token's atomic units: a base per request, plus a price
// per prompt token and per output token, clamped to [min, max]. `exact` charges the most a request
// can cost (every max_tokens token generated); `upto` signs that maximum and settles the metered
// price of what was generated, never above what was signed.
import type { ModelPrice } from "../config/index.ts";

function clamp(price: ModelPrice, amount: bigint): bigint {
  if (price.max !== null && amount > price.max) amount = price.max;
  if (price.min !== null && amount < price.min) amount = price.min;
  return amount;
}

function priceOf(price: ModelPrice, promptTokens: number, outputTokens: number): bigint {
  return clamp(price, price.perRequest + price.perPromptToken * BigInt(promptTokens) + price.perOutputToken * BigInt(outputTokens));
}

/** What a request may cost at most: its prompt and max_tokens output tokens (the `exact` price, the `upto` maximum). */
export function maximumPrice(price: ModelPrice, promptTokens: number, maxTokens: number): bigint {
  return priceOf(price, promptTokens, maxTokens);
}

/** What a request's real usage costs, never above the signed maximum (a backend may count prompt tokens differently). */
export function meteredPrice(price: ModelPrice, usage: { promptTokens: number; completionTokens: number }, maximum: bigint): bigint {
  const metered = priceOf(price, usage.promptTokens, usage.completionTokens);
  return metered < maximum ? metered : maximum;
}

/** The price as /v1/models shows it (decimal strings). */
export function priceListing(price: ModelPrice) {
  return {
    perRequest: price.perRequest.toString(),
    perPromptToken: price.perPromptToken.toString(),
    perOutputToken: price.perOutputToken.toString(),
    ...(price.min !== null ? { min: price.min.toString() } : {}),
    ...(price.max !== null ? { max: price.max.toString() } : {}),
  };
}
