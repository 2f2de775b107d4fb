import assert from "node:assert/strict";
import { test } from "node:test";
import { costOf, FALLBACK_PRICE, priceFor } from "../../src/gateway/llm/prices.js";
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

const prices: [
  string,
  string | undefined,
  Record<string, { inputPerMTok: number; outputPerMTok: number }>,
  number,
  number,
  string,
][] = [
  ["exact", "gpt-4o-mini", {}, 0.15, 0.6, "table"],
  ["dated version", "gpt-4o-mini-2024-07-18", {}, 0.15, 0.6, "table"],
  ["longest prefix wins", "gpt-5-mini-2025-08-07", {}, 0.25, 2, "table"],
  ["claude dated", "claude-sonnet-4-5-20250929", {}, 3, 15, "table"],
  ["openrouter vendor prefix", "anthropic/claude-haiku-4-5", {}, 1, 5, "table"],
  ["gemini models/ prefix", "models/gemini-2.5-flash-lite", {}, 0.1, 0.4, "table"],
  [
    "a dot is not a version separator",
    "gpt-5.4",
    {},
    FALLBACK_PRICE.inputPerMTok,
    FALLBACK_PRICE.outputPerMTok,
    "fallback",
  ],
  [
    "unknown model",
    "llama-3.3-70b",
    {},
    FALLBACK_PRICE.inputPerMTok,
    FALLBACK_PRICE.outputPerMTok,
    "fallback",
  ],
  ["no model", undefined, {}, FALLBACK_PRICE.inputPerMTok, FALLBACK_PRICE.outputPerMTok, "fallback"],
  [
    "override beats table",
    "gpt-4o-mini",
    { "gpt-4o-mini": { inputPerMTok: 1, outputPerMTok: 2 } },
    1,
    2,
    "override",
  ],
  [
    "override by prefix",
    "gpt-5.4-2026-03-01",
    { "gpt-5.4": { inputPerMTok: 2, outputPerMTok: 16 } },
    2,
    16,
    "override",
  ],
];

for (const [name, model, overrides, input, output, source] of prices) {
  test(`priceFor: ${name}`, () => {
    const p = priceFor(model, overrides);
    assert.deepEqual(p, { price: { inputPerMTok: input, outputPerMTok: output }, source });
  });
}

test("the fallback price is the most expensive row", () => {
  assert.deepEqual(FALLBACK_PRICE, { inputPerMTok: 15, outputPerMTok: 75 });
});

test("costOf prices input, output and Anthropic cache traffic", () => {
  const price = { inputPerMTok: 3, outputPerMTok: 15 };
  assert.equal(costOf(usage({ inputTokens: 1_000_000 }), price), 3);
  assert.equal(costOf(usage({ outputTokens: 1_000_000 }), price), 15);
  assert.equal(costOf(usage({ cacheWriteTokens: 1_000_000 }), price), 3.75);
  assert.ok(Math.abs(costOf(usage({ cacheReadTokens: 1_000_000 }), price) - 0.3) < 1e-12);
  assert.equal(costOf(EMPTY_USAGE, price), 0);
});
