// `moat lab chat`'s pure parts: who `--as` names against the allowlist, which recorded Bot API
// calls are the agent's replies to that chat, and how the gateway's refusals read.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conversationWith, formatAudit, isRefusal, resolveSender } from "../../src/lab/chat.js";
import { parseSpec } from "../../src/spec/load.js";

const spec = (telegram: string) => {
  const r = parseSpec(`version: 1
name: c
target: { kind: lab }
agent: { profile: openclaw }
${telegram}`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
};
const withTelegram = spec(`messengers:
  telegram: { botToken: { env: T }, allowFrom: [111111, 222222] }
`);

describe("lab chat: senders", () => {
  it("owner is the first allowlisted id; stranger is an id outside the allowlist", () => {
    assert.deepEqual(resolveSender(withTelegram, "owner"), { id: 111111, role: "owner", allowed: true });
    const stranger = resolveSender(withTelegram, "stranger");
    assert.equal(stranger.allowed, false);
    assert.equal(stranger.id, 222223, "skips an allowlisted id");
    assert.deepEqual(resolveSender(withTelegram, "222222"), { id: 222222, role: "listed", allowed: true });
    assert.deepEqual(resolveSender(withTelegram, "5"), { id: 5, role: "unlisted", allowed: false });
  });

  it("refuses what names nobody, and a spec without Telegram", () => {
    assert.throws(
      () => resolveSender(withTelegram, "alice"),
      /--as alice: expected owner, stranger or a numeric/,
    );
    assert.throws(() => resolveSender(withTelegram, "-5"), /--as -5: expected owner, stranger or a numeric/);
    assert.throws(() => resolveSender(spec(""), "owner"), /messengers\.telegram is not set/);
  });
});

describe("lab chat: replies and refusals", () => {
  it("takes what the bot said in this chat, edits applied, deleted messages gone", () => {
    const t = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
    const tg = (s: number, method: string, params: Record<string, unknown>, messageId?: number) => ({
      at: t(s),
      kind: "telegram",
      method,
      params,
      ...(messageId && { messageId }),
    });
    const events = [
      tg(1, "sendMessage", { chat_id: 111111, text: "<b>Working</b>" }, 7),
      tg(2, "sendMessage", { chat_id: 5, text: "to someone else" }, 8),
      tg(3, "sendMessage", { chat_id: "111111", text: "draft" }, 9),
      tg(4, "editMessageText", { chat_id: 111111, message_id: 9, text: "the answer" }),
      tg(5, "deleteMessage", { chat_id: 111111, message_id: 7 }),
      tg(6, "sendChatAction", { chat_id: 111111, action: "typing" }),
      { at: t(7), kind: "llm", method: "sendMessage", params: { chat_id: 111111 } },
    ];
    const c = conversationWith(events, 111111);
    assert.deepEqual(c.replies, [{ text: "the answer", at: Date.parse(t(4)) }]);
    assert.equal(c.lastActivity, Date.parse(t(6)), "typing counts as activity");
    assert.deepEqual(conversationWith(events, 5).replies, [
      { text: "to someone else", at: Date.parse(t(2)) },
    ]);
  });

  it("counts denials, drops and relay refusals as refusals, and prints them readably", () => {
    const deny = {
      time: 0,
      decision: "deny",
      method: "CONNECT",
      host: "unlisted.example.net",
      port: 443,
      code: "not-allowlisted",
      reason: "x",
    };
    const drop = {
      time: 0,
      event: "telegram.drop",
      updateId: 7,
      updateType: "message",
      senderId: 5,
      reason: "sender-not-allowed",
    };
    assert.ok(isRefusal(deny) && isRefusal(drop) && isRefusal({ event: "telegram.refuse" }));
    assert.equal(isRefusal({ decision: "allow" }), false);
    assert.equal(isRefusal({ event: "telegram.call" }), false);
    assert.equal(
      formatAudit(deny),
      "00:00:00.000 deny CONNECT unlisted.example.net:443: not-allowlisted (x)",
    );
    assert.equal(
      formatAudit(drop),
      "00:00:00.000 telegram.drop: update 7 (message) from 5: sender-not-allowed",
    );
  });
});

describe("lab chat: what the agent wrote cannot drive the owner's terminal", () => {
  it("an audit line's agent-chosen host is printed escaped", () => {
    const hostile = {
      decision: "deny",
      method: "CONNECT",
      host: "evil\u001b[2J.example",
      port: 443,
      code: "x",
    };
    const line = formatAudit(hostile);
    assert.ok(!line.includes("\u001b"), line);
    assert.match(line, /evil\\x1b\[2J\.example:443/);
  });
});
