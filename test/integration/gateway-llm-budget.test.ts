// Budgets through the real SDKs: a call whose worst case no longer fits in the day's budget is
// answered 429 in that provider's error shape (and the SDK does not retry), the spend survives a
// gateway restart, a new UTC day opens the route again, and the spend is in the metrics.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { LlmWorld } from "../support/llm-world.js";

class Clock {
  now = new Date("2026-06-01T12:00:00Z");
  read = () => this.now;
}

// 11 input + 7 output tokens at $10 and $1000 per million: $0.00711 a call. Before forwarding,
// the gateway reserves every body byte (~80) as an input token plus the 7 output tokens asked
// for, about $0.0080: two calls fit in $0.016, the third's worst case does not.
const EXTRA = `, budget: { dailyUsd: 0.016 }, prices: { "claude-sonnet-4-5": { inputPerMTok: 10, outputPerMTok: 1000 }, "gpt-4o-mini": { inputPerMTok: 10, outputPerMTok: 1000 } }`;
const CALL_USD = (11 * 10 + 7 * 1000) / 1e6;

describe("daily budgets", () => {
  const clock = new Clock();
  const world = new LlmWorld();
  before(() => world.start(EXTRA, { clock: clock.read }));
  after(() => world.stop());

  const claude = () =>
    new Anthropic({ apiKey: world.placeholder("claude"), baseURL: world.route("claude") }).messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 7,
      messages: [{ role: "user", content: "hi" }],
    });

  test("calls that fit go through, the next one whose worst case does not gets a 429 in Anthropic's shape", async () => {
    await claude();
    await claude();
    assert.ok(Math.abs(world.routes.budget.spent("claude") - 2 * CALL_USD) < 1e-12);
    const before = world.fake.calls.length;
    const started = world.audit.length;
    const err = await claude().then(
      () => assert.fail("over budget, yet answered"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Anthropic.RateLimitError, String(err));
    assert.equal(err.status, 429);
    assert.equal((err.error as { type: string; error: { type: string } }).error.type, "rate_limit_error");
    assert.match(
      err.message,
      /this call may cost up to \$0\.00\d+ \(claude-sonnet-4-5.*\$0\.00\d+ of claude's \$0\.016 daily budget is left; it resets at 2026-06-02T00:00:00.000Z/,
    );
    assert.equal(world.fake.calls.length, before, "the provider was called over budget");
    // x-should-retry: false — the SDK (2 retries by default) asked exactly once.
    assert.deepEqual(
      world.audit.slice(started).map((r) => r.outcome),
      ["over_budget"],
    );
    assert.equal(err.headers?.get("x-should-retry"), "false");
  });

  test("another provider's budget is its own; OpenAI gets its own error shape", async () => {
    const gpt = new OpenAI({ apiKey: world.placeholder("gpt"), baseURL: world.route("gpt") });
    const ask = () =>
      gpt.chat.completions.create({
        model: "gpt-4o-mini",
        max_tokens: 7,
        messages: [{ role: "user", content: "hi" }],
      });
    await ask();
    await ask();
    const err = await ask().then(
      () => assert.fail("over budget, yet answered"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, "insufficient_quota");
    assert.equal(err.type, "insufficient_quota");
  });

  test("the spend survives a gateway restart", async () => {
    const spent = world.routes.budget.spent("claude");
    await world.stopGateway();
    await world.startGateway({ clock: clock.read });
    assert.equal(world.routes.budget.spent("claude"), spent);
    await assert.rejects(claude(), Anthropic.RateLimitError);
  });

  test("a new UTC day opens the route again", async () => {
    clock.now = new Date("2026-06-02T00:00:01Z");
    const msg = await claude();
    assert.equal(msg.type, "message");
    assert.ok(Math.abs(world.routes.budget.spent("claude") - CALL_USD) < 1e-12);
  });

  test("spend and budget are in the metrics", async () => {
    const text = await world.registry.metrics();
    assert.match(text, /moat_llm_spend_today_usd\{provider="claude"\} 0\.0071/);
    assert.match(text, /moat_llm_budget_daily_usd\{provider="claude"\} 0\.016/);
    assert.match(text, /moat_llm_requests_total\{provider="claude",outcome="over_budget"\} 2/);
    assert.match(text, /moat_llm_tokens_total\{provider="gpt",kind="output"\} 14/);
    assert.match(text, /moat_llm_spend_usd_total\{provider="gpt"\} 0\.0142/);
  });
});
