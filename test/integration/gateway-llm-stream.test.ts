// Streaming passes through unbuffered: each piece reaches the agent's SDK when the provider
// sends it, not when the reply ends; and the time to first byte through the gateway stays
// within 5 ms of going to the provider directly. Loopback only (see llm-world.ts).
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { LlmWorld, REAL } from "../support/llm-world.js";

const PIECES = ["one ", "two ", "three ", "four ", "five ", "six"];
const GAP_MS = 80;

// How late each piece arrived after the fake wrote it.
function lateness(sent: number[], arrived: number[]): number[] {
  assert.equal(arrived.length, sent.length, "every piece arrives once");
  return arrived.map((t, i) => t - (sent[i] as number));
}

describe("streaming through the llm routes", () => {
  const world = new LlmWorld({ pieces: PIECES, pieceDelayMs: GAP_MS });
  before(() => world.start());
  after(() => world.stop());

  test("OpenAI SDK: pieces arrive as they are sent", async (t) => {
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "count" }],
      stream: true,
    });
    const arrived: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrived.push(performance.now());
    const sent = world.fake.sent.at(-1) as number[];
    const late = lateness(sent, arrived);
    t.diagnostic(`lateness per piece (ms): ${late.map((l) => l.toFixed(2)).join(", ")}`);
    assert.ok(Math.max(...late) < 20, `a piece was held back: ${late}`);
    assert.ok(
      (arrived[0] as number) < (sent.at(-1) as number) - 4 * GAP_MS,
      "the first piece waited for the rest",
    );
  });

  test("Anthropic SDK: pieces arrive as they are sent", async (t) => {
    const client = new Anthropic({
      apiKey: world.placeholder("claude"),
      baseURL: world.route("claude"),
      maxRetries: 0,
    });
    const stream = client.messages.stream({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: "count" }],
    });
    const arrived: number[] = [];
    stream.on("text", () => arrived.push(performance.now()));
    await stream.finalMessage();
    const late = lateness(world.fake.sent.at(-1) as number[], arrived);
    t.diagnostic(`lateness per piece (ms): ${late.map((l) => l.toFixed(2)).join(", ")}`);
    assert.ok(Math.max(...late) < 20, `a piece was held back: ${late}`);
    assert.equal(world.audit.at(-1)?.outputTokens, 7, "usage still read from the passing stream");
  });
});

describe("an agent that hangs up mid-stream", () => {
  const world = new LlmWorld({ pieces: PIECES, pieceDelayMs: 30 });
  before(() => world.start());
  after(() => world.stop());

  test("is still charged: the gateway reads the reply to its usage report", async () => {
    const client = new OpenAI({
      apiKey: world.placeholder("gpt"),
      baseURL: world.route("gpt"),
      maxRetries: 0,
    });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "count" }],
      stream: true,
    });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) {
        stream.controller.abort();
        break;
      }
    }
    const deadline = Date.now() + 5000;
    while (!world.audit.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const rec = world.audit.at(-1);
    assert.equal(rec?.outcome, "client_closed");
    assert.deepEqual([rec?.inputTokens, rec?.outputTokens], [11, 7]);
    assert.ok(world.routes.budget.spent("gpt") > 0);
    assert.equal(world.fake.sent.at(-1)?.length, PIECES.length, "the reply was read to its end");
  });
});

describe("time to first byte, gateway vs direct", () => {
  const world = new LlmWorld({ pieces: ["a", "b"], pieceDelayMs: 0 });
  before(() => world.start());
  after(() => world.stop());

  // One streamed chat completion; ms from sending the request to its first body byte.
  function firstByte(
    mod: typeof http | typeof https,
    options: https.RequestOptions,
    body: string,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = mod.request(options, (res) => {
        res.once("data", () => {
          const ms = performance.now() - started;
          res.resume();
          res.on("end", () => resolve(ms));
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  test("through the gateway within 5 ms of direct (median)", async (t) => {
    const body = JSON.stringify({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const directAgent = new https.Agent({ keepAlive: true, ca: world.pki.ca });
    const gatewayAgent = new http.Agent({ keepAlive: true });
    const direct = () =>
      firstByte(
        https,
        {
          agent: directAgent,
          host: "127.0.0.1",
          servername: "openai.fake.test",
          port: world.fakePort,
          method: "POST",
          path: "/v1/chat/completions",
          headers: { ...headers, host: "openai.fake.test", authorization: `Bearer ${REAL.openai}` },
        },
        body,
      );
    const viaGateway = () =>
      firstByte(
        http,
        {
          agent: gatewayAgent,
          host: "127.0.0.1",
          port: world.gatewayPort,
          method: "POST",
          path: "/llm/gpt/chat/completions",
          headers: { ...headers, authorization: `Bearer ${world.placeholder("gpt")}` },
        },
        body,
      );
    for (let i = 0; i < 10; i++) {
      await direct();
      await viaGateway();
    }
    const d: number[] = [];
    const g: number[] = [];
    for (let i = 0; i < 60; i++) {
      d.push(await direct());
      g.push(await viaGateway());
    }
    directAgent.destroy();
    gatewayAgent.destroy();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number;
    const added = median(g) - median(d);
    t.diagnostic(
      `TTFB direct median ${median(d).toFixed(2)} ms p90 ${p90(d).toFixed(2)} ms; ` +
        `via gateway median ${median(g).toFixed(2)} ms p90 ${p90(g).toFixed(2)} ms; added ${added.toFixed(2)} ms`,
    );
    assert.ok(added < 5, `the gateway adds ${added.toFixed(2)} ms to the first byte`);
  });
});
