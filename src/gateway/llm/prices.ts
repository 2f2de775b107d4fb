// What a call may cost and what it did cost. USD per million tokens, list prices as the
// providers publish them, and each model's largest reply (the reservation's ceiling when a request
// names no limit). Exact model ids only: a dated snapshot, a "-pro" variant or a router's
// "vendor/model" is a different price, so it is unknown here, and an unknown model is refused
// unless `llm[].prices` names it. Prices move; the owner's `llm[].prices` wins over this table.
//
// Checked 2026-12-03 against:
//   Anthropic  https://platform.claude.com/docs/en/about-claude/pricing
//              https://platform.claude.com/docs/en/about-claude/models/overview
//   OpenAI     https://developers.openai.com/api/docs/pricing
//              https://developers.openai.com/api/docs/models/gpt-5.4 (and each model's page)
//   Google     https://ai.google.dev/gemini-api/docs/pricing
//              https://ai.google.dev/gemini-api/docs/models
// Not modelled: long-context surcharges (Gemini 2.5 Pro above 200K input tokens, GPT-5.4 above
// 272K) and Anthropic's 1-hour cache writes (2x input; priced here as 5-minute writes, 1.25x).
import type { Usage } from "./usage.js";

export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
  // The model's largest reply in tokens; what a request without a token limit may cost.
  maxOutputTokens?: number;
}

export const PRICE_TABLE: Readonly<Record<string, Required<Price>>> = {
  // Anthropic
  "claude-opus-4-6": { inputPerMTok: 5, outputPerMTok: 25, maxOutputTokens: 128_000 },
  "claude-opus-4-5": { inputPerMTok: 5, outputPerMTok: 25, maxOutputTokens: 64_000 },
  "claude-sonnet-4-6": { inputPerMTok: 3, outputPerMTok: 15, maxOutputTokens: 128_000 },
  "claude-sonnet-4-5": { inputPerMTok: 3, outputPerMTok: 15, maxOutputTokens: 64_000 },
  "claude-haiku-4-5": { inputPerMTok: 1, outputPerMTok: 5, maxOutputTokens: 64_000 },
  // OpenAI
  "gpt-5.4": { inputPerMTok: 2.5, outputPerMTok: 15, maxOutputTokens: 128_000 },
  "gpt-5": { inputPerMTok: 1.25, outputPerMTok: 10, maxOutputTokens: 128_000 },
  "gpt-5-mini": { inputPerMTok: 0.25, outputPerMTok: 2, maxOutputTokens: 128_000 },
  "gpt-5-nano": { inputPerMTok: 0.05, outputPerMTok: 0.4, maxOutputTokens: 128_000 },
  "gpt-4.1": { inputPerMTok: 2, outputPerMTok: 8, maxOutputTokens: 32_768 },
  "gpt-4.1-mini": { inputPerMTok: 0.4, outputPerMTok: 1.6, maxOutputTokens: 32_768 },
  "gpt-4.1-nano": { inputPerMTok: 0.1, outputPerMTok: 0.4, maxOutputTokens: 32_768 },
  "gpt-4o": { inputPerMTok: 2.5, outputPerMTok: 10, maxOutputTokens: 16_384 },
  "gpt-4o-mini": { inputPerMTok: 0.15, outputPerMTok: 0.6, maxOutputTokens: 16_384 },
  o3: { inputPerMTok: 2, outputPerMTok: 8, maxOutputTokens: 100_000 },
  "o4-mini": { inputPerMTok: 1.1, outputPerMTok: 4.4, maxOutputTokens: 100_000 },
  // Google
  "gemini-2.5-pro": { inputPerMTok: 1.25, outputPerMTok: 10, maxOutputTokens: 65_536 },
  "gemini-2.5-flash": { inputPerMTok: 0.3, outputPerMTok: 2.5, maxOutputTokens: 65_536 },
  "gemini-2.5-flash-lite": { inputPerMTok: 0.1, outputPerMTok: 0.4, maxOutputTokens: 65_536 },
};

// A priced model with no ceiling of its own (an owner's price for a local model) may answer
// this much; the request's own limit, when it names one, is used instead.
export const DEFAULT_MAX_OUTPUT_TOKENS = 128_000;

// Anthropic prompt caching: writes cost 1.25x input, reads 0.1x.
const CACHE_WRITE_FACTOR = 1.25;
const CACHE_READ_FACTOR = 0.1;

export type PriceSource = "override" | "table";

// The owner's price wins; its ceiling falls back to the table's when it names none.
export function priceFor(
  model: string,
  overrides: Readonly<Record<string, Price>> = {},
): { price: Price; source: PriceSource } | undefined {
  const listed = Object.hasOwn(PRICE_TABLE, model) ? PRICE_TABLE[model] : undefined;
  const own = Object.hasOwn(overrides, model) ? overrides[model] : undefined;
  if (own) return { price: { maxOutputTokens: listed?.maxOutputTokens, ...own }, source: "override" };
  if (listed) return { price: listed, source: "table" };
  return undefined;
}

export function costOf(usage: Usage, price: Price): number {
  const input =
    usage.inputTokens +
    usage.cacheWriteTokens * CACHE_WRITE_FACTOR +
    usage.cacheReadTokens * CACHE_READ_FACTOR;
  return (input * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1_000_000;
}

// The most a call can cost before its usage is known: every input byte a token (a byte-level
// tokenizer never makes more tokens than bytes), cache writes at their surcharge, and the whole
// output allowance.
export function worstCaseCost(inputBytes: number, outputTokens: number, price: Price): number {
  return (
    (inputBytes * CACHE_WRITE_FACTOR * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1_000_000
  );
}
