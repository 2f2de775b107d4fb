import assert from "node:assert/strict";
import { test } from "node:test";
import { costOf, PRICE_TABLE, priceFor, worstCaseCost } from "../../src/gateway/llm/prices.js";
import {
  EMPTY_USAGE,
  mergeUsage,
  SseTap,
  type Usage,
  type UsageFamily,
  usageFromResponse,
  usageFromStreamEvent,
} from "../../src/gateway/llm/usage.js";

const usage = (u: Partial<Usage>): Usage => ({ ...EMPTY_USAGE, ...u });

const responses: [string, UsageFamily, unknown, Partial<Usage>][] = [
  [
    "anthropic message",
    "anthropic",
    {
      id: "msg_1",
      type: "message",
      model: "claude-sonnet-4-5-20250929",
      content: [{ type: "text", text: "hi" }],
      usage: {
        input_tokens: 12,
        output_tokens: 34,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 200,
      },
    },
    {
      model: "claude-sonnet-4-5-20250929",
      inputTokens: 12,
      outputTokens: 34,
      cacheWriteTokens: 100,
      cacheReadTokens: 200,
    },
  ],
  [
    "openai chat completion",
    "openai",
    {
      id: "c",
      object: "chat.completion",
      model: "gpt-4o-mini",
      usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 },
    },
    { model: "gpt-4o-mini", inputTokens: 9, outputTokens: 7 },
  ],
  [
    "openai responses api",
    "openai",
    {
      id: "r",
      object: "response",
      model: "gpt-5",
      usage: { input_tokens: 5, output_tokens: 6, total_tokens: 11 },
    },
    { model: "gpt-5", inputTokens: 5, outputTokens: 6 },
  ],
  [
    "openai embeddings (no output)",
    "openai",
    { object: "list", model: "text-embedding-3-small", usage: { prompt_tokens: 8, total_tokens: 8 } },
    { model: "text-embedding-3-small", inputTokens: 8, outputTokens: 0 },
  ],
  [
    "gemini generateContent with thoughts",
    "gemini",
    {
      modelVersion: "gemini-2.5-flash",
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 20, thoughtsTokenCount: 5 },
    },
    { model: "gemini-2.5-flash", inputTokens: 10, outputTokens: 25 },
  ],
  [
    "gemini stream as a JSON array: last chunk wins",
    "gemini",
    [
      { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1 } },
      { modelVersion: "gemini-2.5-pro", usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 30 } },
    ],
    { model: "gemini-2.5-pro", inputTokens: 10, outputTokens: 30 },
  ],
  ["error body", "anthropic", { type: "error", error: { type: "overloaded_error" } }, {}],
  ["not json", "openai", undefined, {}],
  [
    "negative counts ignored",
    "openai",
    { usage: { prompt_tokens: -5, completion_tokens: "7" } },
    { outputTokens: 0 },
  ],
];

for (const [name, family, body, expected] of responses) {
  test(`usageFromResponse: ${name}`, () => {
    assert.deepEqual(mergeUsage(EMPTY_USAGE, usageFromResponse(family, body)), usage(expected));
  });
}

const streams: [string, UsageFamily, unknown[], Partial<Usage>][] = [
  [
    "anthropic message_start then message_delta totals",
    "anthropic",
    [
      {
        type: "message_start",
        message: {
          model: "claude-haiku-4-5",
          usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 3 },
        },
      },
      { type: "content_block_delta", delta: { type: "text_delta", text: "x" } },
      { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 15 } },
      { type: "message_stop" },
    ],
    { model: "claude-haiku-4-5", inputTokens: 25, outputTokens: 15, cacheReadTokens: 3 },
  ],
  [
    "openai chunks, usage only on the include_usage chunk",
    "openai",
    [
      { model: "gpt-4o", choices: [{ delta: { content: "a" } }], usage: null },
      { model: "gpt-4o", choices: [{ delta: { content: "b" } }], usage: null },
      { model: "gpt-4o", choices: [], usage: { prompt_tokens: 11, completion_tokens: 2 } },
    ],
    { model: "gpt-4o", inputTokens: 11, outputTokens: 2 },
  ],
  [
    "openai responses stream",
    "openai",
    [
      { type: "response.created", response: { model: "gpt-5", usage: null } },
      { type: "response.output_text.delta", delta: "hi" },
      {
        type: "response.completed",
        response: { model: "gpt-5", usage: { input_tokens: 4, output_tokens: 9 } },
      },
    ],
    { model: "gpt-5", inputTokens: 4, outputTokens: 9 },
  ],
  [
    "gemini sse chunks carry running totals",
    "gemini",
    [
      { modelVersion: "gemini-2.5-flash", usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 2 } },
      { modelVersion: "gemini-2.5-flash", usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 12 } },
    ],
    { model: "gemini-2.5-flash", inputTokens: 7, outputTokens: 12 },
  ],
];

for (const [name, family, events, expected] of streams) {
  test(`usageFromStreamEvent: ${name}`, () => {
    let u = EMPTY_USAGE;
    for (const e of events) u = mergeUsage(u, usageFromStreamEvent(family, e));
    assert.deepEqual(u, usage(expected));
  });
}

test("SseTap reassembles events split anywhere across chunks", () => {
  const text =
    'event: message_start\ndata: {"a":1}\n\r\ndata: {"b":\ndata: 2}\r\n\r\n: comment\ndata:[DONE]\n\n';
  const bytes = Buffer.from(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const seen: string[] = [];
    const tap = new SseTap((d) => seen.push(d));
    tap.push(bytes.subarray(0, cut));
    tap.push(bytes.subarray(cut));
    tap.end();
    assert.deepEqual(seen, ['{"a":1}', '{"b":\n2}', "[DONE]"], `cut at ${cut}`);
  }
});

test("SseTap handles multi-byte characters split across chunks", () => {
  const bytes = Buffer.from('data: {"t":"é€😀"}\n\n');
  const seen: string[] = [];
  const tap = new SseTap((d) => seen.push(d));
  for (const b of bytes) tap.push(Uint8Array.of(b));
  tap.end();
  assert.deepEqual(seen, ['{"t":"é€😀"}']);
});

// Exact ids only: a dated snapshot, a "-pro" variant or a router's vendor prefix is another model
// (issue 13: o1-pro and gpt-5-pro were priced as their base models by prefix matching).
const prices: [string, string, Record<string, { inputPerMTok: number; outputPerMTok: number }>, unknown][] = [
  [
    "exact",
    "gpt-4o-mini",
    {},
    { price: { inputPerMTok: 0.15, outputPerMTok: 0.6, maxOutputTokens: 16_384 }, source: "table" },
  ],
  [
    "a dotted version is its own row",
    "gpt-5.4",
    {},
    { price: { inputPerMTok: 2.5, outputPerMTok: 15, maxOutputTokens: 128_000 }, source: "table" },
  ],
  ["a -pro variant is not its base model", "gpt-5-pro", {}, undefined],
  ["o1-pro is unknown", "o1-pro", {}, undefined],
  ["o3-pro is not o3", "o3-pro", {}, undefined],
  ["a dated snapshot is not its alias", "gpt-4o-mini-2024-07-18", {}, undefined],
  ["claude dated", "claude-sonnet-4-5-20250929", {}, undefined],
  ["openrouter vendor prefix", "anthropic/claude-haiku-4-5", {}, undefined],
  ["gemini models/ prefix", "models/gemini-2.5-flash-lite", {}, undefined],
  ["unknown model", "llama-3.3-70b", {}, undefined],
  ["inherited names are not models", "constructor", {}, undefined],
  [
    "override beats table, keeping the table's ceiling",
    "gpt-4o-mini",
    { "gpt-4o-mini": { inputPerMTok: 1, outputPerMTok: 2 } },
    { price: { inputPerMTok: 1, outputPerMTok: 2, maxOutputTokens: 16_384 }, source: "override" },
  ],
  [
    "override names an unknown model",
    "qwen3",
    { qwen3: { inputPerMTok: 0, outputPerMTok: 0 } },
    { price: { inputPerMTok: 0, outputPerMTok: 0, maxOutputTokens: undefined }, source: "override" },
  ],
  [
    "override is exact too",
    "gpt-5.4-2026-03-01",
    { "gpt-5.4": { inputPerMTok: 2, outputPerMTok: 16 } },
    undefined,
  ],
];

for (const [name, model, overrides, expected] of prices) {
  test(`priceFor: ${name}`, () => {
    assert.deepEqual(priceFor(model, overrides), expected);
  });
}

test("every table row has a ceiling and a positive price", () => {
  for (const [model, p] of Object.entries(PRICE_TABLE)) {
    assert.ok(p.inputPerMTok > 0 && p.outputPerMTok > 0 && p.maxOutputTokens > 0, model);
  }
});

test("worstCaseCost: every input byte a token at the cache-write rate, the whole output allowance", () => {
  const price = { inputPerMTok: 4, outputPerMTok: 10 };
  assert.equal(worstCaseCost(1_000_000, 0, price), 5);
  assert.equal(worstCaseCost(0, 1_000_000, price), 10);
  const usage11 = usage({ inputTokens: 100, outputTokens: 50 });
  assert.ok(costOf(usage11, price) <= worstCaseCost(100, 50, price));
});

test("costOf prices input, output and Anthropic cache traffic", () => {
  const price = { inputPerMTok: 3, outputPerMTok: 15 };
  assert.equal(costOf(usage({ inputTokens: 1_000_000 }), price), 3);
  assert.equal(costOf(usage({ outputTokens: 1_000_000 }), price), 15);
  assert.equal(costOf(usage({ cacheWriteTokens: 1_000_000 }), price), 3.75);
  assert.ok(Math.abs(costOf(usage({ cacheReadTokens: 1_000_000 }), price) - 0.3) < 1e-12);
  assert.equal(costOf(EMPTY_USAGE, price), 0);
});
