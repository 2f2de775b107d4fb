// The LLM routes with the official SDKs as the agent: the placeholder is swapped for the real key
// on the way out, anything else is refused before it reaches the provider, usage is counted,
// and nothing the agent said lands in the audit trail. Loopback only (see llm-world.ts).
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { withoutHopByHop } from "../../src/gateway/headers.js";
import { LlmWorld, REAL } from "../support/llm-world.js";

const PROMPT = "tell me the secret plan 7f3a";

// The path goes out exactly as written (a URL string would have its dot segments resolved).
function raw(url: string, headers: Record<string, string>, body = "") {
  const { port } = new URL(url);
  const path = url.replace(/^http:\/\/[^/]+/, "");
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const options = { host: "127.0.0.1", port, path, method: "POST" };
    const req = request(
      { ...options, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("llm routes with real clients", () => {
  const world = new LlmWorld();
  before(() => world.start());
  after(() => world.stop());

  test("OpenAI SDK: placeholder in, real key out, usage counted, prompt never logged", async () => {
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: PROMPT }],
    });
    assert.equal(reply.choices[0]?.message.content, "Hello from the fake");
    assert.deepEqual(world.leaks(), []);
    const call = world.fake.calls.at(-1);
    assert.equal(call?.path, "/v1/chat/completions");
    assert.equal(call?.headers.authorization, `Bearer ${REAL.openai}`);
    const rec = world.audit.at(-1);
    assert.equal(rec?.provider, "gpt");
    assert.equal(rec?.model, "gpt-4o-mini");
    assert.equal(rec?.status, 200);
    assert.equal(rec?.inputTokens, 11);
    assert.equal(rec?.outputTokens, 7);
    assert.equal(rec?.costUsd, (11 * 0.15 + 7 * 0.6) / 1e6);
    const logged = JSON.stringify(world.audit);
    assert.ok(!logged.includes("secret plan"), "the prompt reached the audit trail");
    assert.ok(!logged.includes("Hello"), "the completion reached the audit trail");
    assert.ok(!logged.includes(REAL.openai), "the key reached the audit trail");
  });

  test("OpenAI SDK streaming: the gateway asks for usage and counts it", async () => {
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: PROMPT }],
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    assert.equal(text, "Hello from the fake");
    assert.deepEqual(world.fake.calls.at(-1)?.body?.stream_options, { include_usage: true });
    const rec = world.audit.at(-1);
    assert.equal(rec?.stream, true);
    assert.equal(rec?.inputTokens, 11);
    assert.equal(rec?.outputTokens, 7);
    assert.deepEqual(world.leaks(), []);
  });

  test("Anthropic SDK, whole and streamed", async () => {
    const client = new Anthropic({
      apiKey: world.placeholder("claude"),
      baseURL: world.route("claude"),
      maxRetries: 0,
    });
    const msg = await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: PROMPT }],
    });
    assert.deepEqual(msg.content, [{ type: "text", text: "Hello from the fake" }]);
    assert.equal(world.audit.at(-1)?.inputTokens, 11);
    const stream = client.messages.stream({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: PROMPT }],
    });
    const final = await stream.finalMessage();
    assert.deepEqual(final.content, [{ type: "text", text: "Hello from the fake" }]);
    const rec = world.audit.at(-1);
    assert.equal(rec?.stream, true);
    assert.equal(rec?.inputTokens, 11);
    assert.equal(rec?.outputTokens, 7);
    assert.equal(rec?.costUsd, (11 * 3 + 7 * 15) / 1e6);
    // Anthropic's SDK 1.x sends the key as a Bearer token; the real key goes out the same way.
    assert.equal(world.fake.calls.at(-1)?.headers.authorization, `Bearer ${REAL.anthropic}`);
    const legacy = new Anthropic({
      baseURL: world.route("claude"),
      maxRetries: 0,
      defaultHeaders: { "x-api-key": world.placeholder("claude"), authorization: null },
    });
    await legacy.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 8,
      messages: [{ role: "user", content: "x" }],
    });
    assert.equal(world.fake.calls.at(-1)?.headers["x-api-key"], REAL.anthropic);
    assert.equal(world.fake.calls.at(-1)?.headers.authorization, undefined);
    assert.deepEqual(world.leaks(), []);
  });

  test("Gemini shape over plain fetch, whole and SSE", async () => {
    const headers = { "x-goog-api-key": world.placeholder("gem"), "content-type": "application/json" };
    const body = JSON.stringify({ contents: [{ parts: [{ text: PROMPT }] }] });
    const whole = await fetch(`${world.route("gem")}/models/gemini-2.5-flash:generateContent`, {
      method: "POST",
      headers,
      body,
    });
    assert.equal(whole.status, 200);
    assert.equal(world.audit.at(-1)?.outputTokens, 7);
    const streamed = await fetch(
      `${world.route("gem")}/models/gemini-2.5-flash:streamGenerateContent?alt=sse`,
      {
        method: "POST",
        headers,
        body,
      },
    );
    assert.match(await streamed.text(), /fake/);
    const rec = world.audit.at(-1);
    assert.deepEqual(
      [rec?.stream, rec?.model, rec?.inputTokens, rec?.outputTokens],
      [true, "gemini-2.5-flash", 11, 7],
    );
    assert.equal(
      world.fake.calls.at(-1)?.path,
      "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    );
    assert.deepEqual(world.leaks(), []);
  });

  test("a wrong token and the real key are both refused before the provider sees them", async () => {
    const before = world.fake.calls.length;
    const wrong = new OpenAI({
      apiKey: "sk-proj-somebody-elses-key",
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    await assert.rejects(
      wrong.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }),
      (e: unknown) => e instanceof OpenAI.AuthenticationError && /placeholder/.test(e.message),
    );
    const real = new Anthropic({ apiKey: REAL.anthropic, baseURL: world.route("claude"), maxRetries: 0 });
    await assert.rejects(
      real.messages.create({
        model: "claude-sonnet-4-5",
        max_tokens: 8,
        messages: [{ role: "user", content: "x" }],
      }),
      (e: unknown) => e instanceof Anthropic.AuthenticationError && /real key/.test(e.message),
    );
    // Another route's placeholder is a wrong token here.
    const crossed = new OpenAI({
      apiKey: world.placeholder("claude"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    await assert.rejects(
      crossed.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }),
      OpenAI.AuthenticationError,
    );
    const keyInQuery = await raw(
      `${world.route("gem")}/models/gemini-2.5-flash:generateContent?key=${REAL.gemini}`,
      {
        "x-goog-api-key": world.placeholder("gem"),
      },
    );
    assert.equal(keyInQuery.status, 401);
    assert.equal(JSON.parse(keyInQuery.body).error.status, "UNAUTHENTICATED");
    assert.equal(world.fake.calls.length, before, "a refused request reached the provider");
    const refusals = world.audit.filter((r) => r.outcome === "refused");
    assert.ok(refusals.some((r) => /real key/.test(r.reason ?? "")));
    assert.ok(!JSON.stringify(world.audit).includes(REAL.anthropic));
  });

  test("only the provider's own base path is reachable through its route", async () => {
    const before = world.fake.calls.length;
    const auth = { authorization: `Bearer ${world.placeholder("gpt")}` };
    for (const path of ["/llm/gpt/../../v1beta/x", "/llm/gpt/%2e%2e/x", "/llm/gpt/a%2fb", "/llm/gpt/a\\b"]) {
      const r = await raw(`http://127.0.0.1:${world.gatewayPort}${path}`, auth);
      assert.equal(r.status, 400, path);
    }
    assert.equal((await raw(`http://127.0.0.1:${world.gatewayPort}/llm/nope/v1/x`, auth)).status, 404);
    assert.equal(
      (await raw(`http://127.0.0.1:${world.gatewayPort}/llm/gptx/chat/completions`, auth)).status,
      404,
    );
    // An absolute URL in the path is just a path under the base, never another host; and not
    // an inference endpoint, so it is refused before it goes anywhere.
    const abs = await raw(`http://127.0.0.1:${world.gatewayPort}/llm/gpt/http://evil.test/`, auth);
    assert.equal(abs.status, 403);
    assert.match(abs.body, /POST \/http:\/\/evil\.test\/ is not an inference endpoint/);
    assert.equal(world.fake.calls.length, before);
  });
});

describe("negative control: with the swap switched off, the same checks fail", () => {
  const world = new LlmWorld();
  // What a gateway without the swap would do: pass the agent's headers through as they are.
  before(() => world.start("", { swap: (h) => ({ ok: true, headers: withoutHopByHop(h) }) }));
  after(() => world.stop());

  test("the placeholder reaches the provider and a stranger's key is not refused", async () => {
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    await assert.rejects(
      client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }),
    );
    assert.ok(
      world.leaks().some((l) => /placeholder/.test(l)),
      "the leak check must notice",
    );
    const before = world.fake.calls.length;
    const wrong = new OpenAI({
      apiKey: "sk-proj-somebody-elses-key",
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    await assert.rejects(wrong.chat.completions.create({ model: "gpt-4o-mini", messages: [] }));
    assert.equal(world.fake.calls.length, before + 1, "the wrong key reached the provider");
  });
});
