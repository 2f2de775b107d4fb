// The lab's scriptable model read by the official SDKs (openai, @anthropic-ai/sdk) over TLS, whole
// and streamed. Tools tier: the test's certificate is made with openssl (src/lab/pki.ts).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { Agent, fetch as undiciFetch } from "undici";
import { FakeLlm } from "../../src/lab/fakes/llm.js";
import {
  answer,
  LAB_MODEL_GREETING,
  type LlmScript,
  lastTurn,
  parseLlmScript,
} from "../../src/lab/fakes/llm-script.js";
import { makeTestPki } from "../../src/lab/pki.js";

const SCRIPT = `
- match: "fetch the cat"
  tool_call: { name: message, arguments: { action: send, media: "https://unlisted.example.net/cat.png" } }
- match: "/^hello\\\\b/i"
  reply: "Hi, I am scripted."
`;

describe("lab LLM script: the official SDKs read its tool calls", () => {
  const pki = makeTestPki(["localhost"]);
  const keys = { anthropic: "ka", openai: "ko", gemini: "kg" };
  const fake = new FakeLlm({ cert: pki.cert, key: pki.key, realKeys: keys });
  const script: LlmScript = parseLlmScript(SCRIPT);
  fake.respond = (shape, body) => answer(script, lastTurn(shape, body));
  const dispatcher = new Agent({ connect: { ca: pki.ca } });
  const tlsFetch = ((url: string, init: object) =>
    undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch;
  let base = "";
  before(async () => {
    const port = await fake.listen("127.0.0.1");
    base = `https://localhost:${port}`;
  });
  after(async () => {
    await fake.close();
    await dispatcher.close();
  });

  const ask = [{ role: "user" as const, content: "fetch the cat" }];

  it("OpenAI chat completions, whole and streamed", async () => {
    const client = new OpenAI({ apiKey: keys.openai, baseURL: `${base}/v1`, fetch: tlsFetch });
    const whole = await client.chat.completions.create({ model: "m", messages: ask });
    const call = whole.choices[0]?.message.tool_calls?.[0];
    assert.equal(whole.choices[0]?.finish_reason, "tool_calls");
    assert.ok(call && call.type === "function");
    assert.equal(call.function.name, "message");
    assert.deepEqual(JSON.parse(call.function.arguments), script[0]?.tool_call?.arguments);
    const stream = client.chat.completions.stream({ model: "m", messages: ask, stream: true });
    const done = await stream.finalChatCompletion();
    const streamed = done.choices[0]?.message.tool_calls?.[0];
    assert.ok(streamed && streamed.type === "function");
    assert.equal(streamed.function.name, "message");
    assert.deepEqual(JSON.parse(streamed.function.arguments), script[0]?.tool_call?.arguments);
    // Positive control: an unscripted question gets the default text.
    const text = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(text.choices[0]?.message.content, `${LAB_MODEL_GREETING} You said: hi`);
  });

  it("without a script (as the gateway tests use it) answers its pieces as before", async () => {
    const client = new OpenAI({ apiKey: keys.openai, baseURL: `${base}/v1`, fetch: tlsFetch });
    const saved = fake.respond;
    fake.respond = undefined;
    try {
      const whole = await client.chat.completions.create({ model: "m", messages: ask });
      assert.equal(whole.choices[0]?.message.content, "Hello from the fake");
      const done = await client.chat.completions
        .stream({ model: "m", messages: ask, stream: true })
        .finalChatCompletion();
      assert.equal(done.choices[0]?.message.content, "Hello from the fake");
    } finally {
      fake.respond = saved;
    }
  });

  it("Anthropic messages, whole and streamed", async () => {
    const client = new Anthropic({ apiKey: keys.anthropic, baseURL: base, fetch: tlsFetch });
    const whole = await client.messages.create({ model: "m", max_tokens: 100, messages: ask });
    assert.equal(whole.stop_reason, "tool_use");
    const block = whole.content[0];
    assert.ok(block?.type === "tool_use");
    assert.deepEqual(block.input, script[0]?.tool_call?.arguments);
    const done = await client.messages.stream({ model: "m", max_tokens: 100, messages: ask }).finalMessage();
    const streamed = done.content[0];
    assert.ok(streamed?.type === "tool_use");
    assert.equal(streamed.name, "message");
    assert.deepEqual(streamed.input, script[0]?.tool_call?.arguments);
  });
});
