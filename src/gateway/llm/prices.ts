// What a call cost, from its usage and a small price table the owner can override in moat.yaml
// (`llm[].prices`). USD per million tokens, list prices as published by the providers; checked
// 2025-11. Prices move: an unknown model is priced as the most expensive row, so a stale table
// makes the budget cut in early rather than late.
import type { Usage } from "./usage.js";

export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

export const PRICE_TABLE: Readonly<Record<string, Price>> = {
  // Anthropic
  "claude-opus-4-5": { inputPerMTok: 5, outputPerMTok: 25 },
  "claude-opus-4-1": { inputPerMTok: 15, outputPerMTok: 75 },
  "claude-opus-4": { inputPerMTok: 15, outputPerMTok: 75 },
  "claude-sonnet-4": { inputPerMTok: 3, outputPerMTok: 15 },
  "claude-3-7-sonnet": { inputPerMTok: 3, outputPerMTok: 15 },
  "claude-haiku-4-5": { inputPerMTok: 1, outputPerMTok: 5 },
  "claude-3-5-haiku": { inputPerMTok: 0.8, outputPerMTok: 4 },
  // OpenAI
  "gpt-5": { inputPerMTok: 1.25, outputPerMTok: 10 },
  "gpt-5-mini": { inputPerMTok: 0.25, outputPerMTok: 2 },
  "gpt-5-nano": { inputPerMTok: 0.05, outputPerMTok: 0.4 },
  "gpt-4.1": { inputPerMTok: 2, outputPerMTok: 8 },
  "gpt-4.1-mini": { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  "gpt-4.1-nano": { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  "gpt-4o": { inputPerMTok: 2.5, outputPerMTok: 10 },
  "gpt-4o-mini": { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  o3: { inputPerMTok: 2, outputPerMTok: 8 },
  "o4-mini": { inputPerMTok: 1.1, outputPerMTok: 4.4 },
  // Google
  "gemini-2.5-pro": { inputPerMTok: 1.25, outputPerMTok: 10 },
  "gemini-2.5-flash": { inputPerMTok: 0.3, outputPerMTok: 2.5 },
  "gemini-2.5-flash-lite": { inputPerMTok: 0.1, outputPerMTok: 0.4 },
};

export const FALLBACK_PRICE: Price = Object.values(PRICE_TABLE).reduce((a, b) =>
  b.inputPerMTok + b.outputPerMTok > a.inputPerMTok + a.outputPerMTok ? b : a,
);

// Anthropic prompt caching: writes cost 1.25x input, reads 0.1x.
const CACHE_WRITE_FACTOR = 1.25;
const CACHE_READ_FACTOR = 0.1;

// "models/gemini-2.5-flash" and OpenRouter's "anthropic/claude-sonnet-4" name the same models.
const bareModel = (model: string) => model.toLowerCase().replace(/^.*\//, "");

// Exact id, else the longest table key followed by "-" (dated and minor versions:
// claude-sonnet-4-5-20250929 → claude-sonnet-4, gpt-5-mini-2025-08-07 → gpt-5-mini).
function lookup(table: Readonly<Record<string, Price>>, model: string): Price | undefined {
  const bare = bareModel(model);
  const entries = Object.entries(table).map(([k, p]) => [bareModel(k), p] as const);
  const exact = entries.find(([k]) => k === bare);
  if (exact) return exact[1];
  let best: readonly [string, Price] | undefined;
  for (const e of entries) {
    if (bare.startsWith(`${e[0]}-`) && (!best || e[0].length > best[0].length)) best = e;
  }
  return best?.[1];
}

export type PriceSource = "override" | "table" | "fallback";

export function priceFor(
  model: string | undefined,
  overrides: Readonly<Record<string, Price>> = {},
): { price: Price; source: PriceSource } {
  if (model) {
    const own = lookup(overrides, model);
    if (own) return { price: own, source: "override" };
    const listed = lookup(PRICE_TABLE, model);
    if (listed) return { price: listed, source: "table" };
  }
  return { price: FALLBACK_PRICE, source: "fallback" };
}

export function costOf(usage: Usage, price: Price): number {
  const input =
    usage.inputTokens +
    usage.cacheWriteTokens * CACHE_WRITE_FACTOR +
    usage.cacheReadTokens * CACHE_READ_FACTOR;
  return (input * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1_000_000;
}
