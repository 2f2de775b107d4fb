// The lab's scriptable model: scripts are validated with errors naming the rule and field, rules
// match the last user message (substring or /regex/), a tool's result is answered in words (so a
// scripted tool call cannot loop), and the official SDKs read its tool calls (test/tools/lab-llm-sdk.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  answer,
  LAB_MODEL_GREETING,
  LlmScriptError,
  lastTurn,
  parseLlmScript,
} from "../../src/lab/fakes/llm-script.js";

const SCRIPT = `
- match: "fetch the cat"
  tool_call: { name: message, arguments: { action: send, media: "https://unlisted.example.net/cat.png" } }
- match: "/^hello\\\\b/i"
  reply: "Hi, I am scripted."
`;

const refusal = (text: string) => {
  try {
    parseLlmScript(text, "s.yaml");
  } catch (err) {
    assert.ok(err instanceof LlmScriptError);
    return err.message;
  }
  assert.fail("the script was accepted");
};

describe("lab LLM script: parsing", () => {
  it("reads YAML and JSON lists of rules", () => {
    const yaml = parseLlmScript(SCRIPT);
    assert.equal(yaml.length, 2);
    assert.deepEqual(yaml[0]?.tool_call?.arguments, {
      action: "send",
      media: "https://unlisted.example.net/cat.png",
    });
    const json = parseLlmScript(JSON.stringify([{ match: "x", tool_call: { name: "t" } }]));
    assert.deepEqual(json[0]?.tool_call, { name: "t", arguments: {} });
  });

  it("names the rule and field of each mistake", () => {
    assert.match(refusal(`[{ match: x, tool_call: { arguments: {} } }]`), /\[0\]\.tool_call\.name/);
    assert.match(
      refusal(`[{ match: x, reply: a }, { match: y }]`),
      /\[1\]: needs exactly one of reply or tool_call/,
    );
    assert.match(refusal(`[{ match: x, reply: a, tool_call: { name: t } }]`), /\[0\]: needs exactly one/);
    assert.match(refusal(`[{ match: "", reply: a }]`), /\[0\]\.match/);
    assert.match(refusal(`[{ match: x, replly: a }]`), /replly/);
    assert.match(
      refusal(`[{ match: "/(/", reply: a }]`),
      /s\.yaml: \[0\]\.match: Invalid regular expression/,
    );
    assert.match(refusal(`{ match: x, reply: a }`), /\(top level\)/);
    assert.match(refusal(`[{ match: x, reply: [unclosed`), /s\.yaml: not JSON or YAML/);
  });
});

describe("lab LLM script: answers", () => {
  const script = parseLlmScript(SCRIPT);
  const user = (text: string) => ({ from: "user" as const, text });

  it("matches substrings case-insensitively and /regex/flags", () => {
    assert.deepEqual(answer(script, user("Please FETCH THE CAT now")), { toolCall: script[0]?.tool_call });
    assert.deepEqual(answer(script, user("hello there")), { text: "Hi, I am scripted." });
    // Negative control for the regex: anchored, so a later "hello" does not match.
    assert.match(JSON.stringify(answer(script, user("say hello"))), /You said: say hello/);
  });

  it("by default echoes the question and says it is the lab's model", () => {
    const a = answer([], user("what is 2+2?"));
    assert.deepEqual(a, { text: `${LAB_MODEL_GREETING} You said: what is 2+2?` });
  });

  it("answers a tool's result in words, whatever the user said before", () => {
    const a = answer(script, { from: "tool", text: "fetch the cat: refused by the gateway" });
    assert.ok("text" in a && a.text.includes("The tool answered: fetch the cat: refused"));
  });

  it("takes the user's turn from before OpenClaw's trailing context message, and echoes only their words", () => {
    const context =
      "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nConversation data: {}\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>";
    const asked =
      "[Thu 2026-12-03 16:40 UTC] Conversation info: x\n```json\n{}\n```\n\nplease fetch the cat\n\nRuntime: agent=main";
    const body = {
      messages: [
        { role: "system", content: "be nice" },
        { role: "user", content: asked },
        { role: "user", content: [{ type: "text", text: context }] },
      ],
    };
    const turn = lastTurn("openai", body);
    assert.deepEqual(answer(script, turn), { toolCall: script[0]?.tool_call });
    assert.deepEqual(answer([], turn), { text: `${LAB_MODEL_GREETING} You said: please fetch the cat` });
    // After the tool ran, the tool's result is the turn even with the context message after it.
    body.messages.splice(
      2,
      0,
      { role: "assistant", content: "" },
      { role: "tool", content: "403 from the proxy" },
    );
    assert.deepEqual(lastTurn("openai", body), { from: "tool", text: "403 from the proxy" });
  });

  it("finds the last turn in each provider's format", () => {
    const openai = {
      messages: [
        { role: "system", content: "be nice" },
        { role: "user", content: [{ type: "text", text: "fetch the cat" }] },
      ],
    };
    assert.deepEqual(lastTurn("openai", openai), user("fetch the cat"));
    openai.messages.push({ role: "tool", content: "403 denied" } as never);
    assert.deepEqual(lastTurn("openai", openai), { from: "tool", text: "403 denied" });
    const anthropic = {
      messages: [
        { role: "user", content: "fetch the cat" },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "message", input: {} }] },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "denied" }] }],
        },
      ],
    };
    assert.deepEqual(lastTurn("anthropic", anthropic), { from: "tool", text: "denied" });
    assert.deepEqual(
      lastTurn("anthropic", { messages: anthropic.messages.slice(0, 1) }),
      user("fetch the cat"),
    );
    const gemini = { contents: [{ role: "user", parts: [{ text: "hello" }] }] };
    assert.deepEqual(lastTurn("gemini", gemini), user("hello"));
    const geminiTool = {
      contents: [{ role: "user", parts: [{ functionResponse: { name: "m", response: { e: 1 } } }] }],
    };
    assert.equal(lastTurn("gemini", geminiTool).from, "tool");
  });
});
