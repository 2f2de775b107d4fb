import assert from "node:assert/strict";
import { test } from "node:test";
import {
  allowlistOf,
  filterUpdates,
  judgeUpdate,
  KNOWN_UPDATE_TYPES,
  type Update,
} from "../../src/gateway/telegram/updates.js";
import {
  CHAT_ONLY,
  GROUP,
  NO_GROUP,
  OWNER,
  SENDERLESS,
  STRANGE_GROUP,
  STRANGER,
  updateOfType,
} from "../support/telegram-updates.js";

const allowlist = allowlistOf({ allowFrom: [OWNER], allowChats: [GROUP] });
const upd = (id: number, body: Record<string, unknown>) => ({ update_id: id, ...body }) as Update;

test("the samples cover every update type the filter knows", () => {
  for (const type of KNOWN_UPDATE_TYPES) assert.ok(updateOfType(type, OWNER, GROUP), type);
});

for (const type of KNOWN_UPDATE_TYPES) {
  test(`${type}: from a stranger in an allowlisted chat: dropped`, () => {
    const v = judgeUpdate(
      upd(1, updateOfType(type, STRANGER, CHAT_ONLY.has(type) ? STRANGE_GROUP : GROUP)),
      allowlist,
    );
    assert.ok(v, "delivered");
    assert.equal(v.type, type);
  });
  if (!NO_GROUP.has(type)) {
    test(`${type}: from the owner in a stranger's group: dropped`, () => {
      assert.ok(judgeUpdate(upd(1, updateOfType(type, OWNER, STRANGE_GROUP)), allowlist));
    });
  }
  test(`${type}: from the owner in an allowlisted chat: ${SENDERLESS.has(type) ? "dropped (no sender)" : "delivered"}`, () => {
    const v = judgeUpdate(upd(1, updateOfType(type, OWNER, GROUP)), allowlist);
    if (SENDERLESS.has(type)) assert.match(v?.reason ?? "", /sender cannot be determined/);
    else assert.equal(v, undefined, v?.reason);
  });
}

test("owner's private chat is allowed without listing it in allowChats", () => {
  assert.equal(judgeUpdate(upd(1, updateOfType("message", OWNER, OWNER)), allowlist), undefined);
});

test("a stranger's private chat is dropped, and the drop names sender, chat and type", () => {
  assert.deepEqual(judgeUpdate(upd(5, updateOfType("message", STRANGER, STRANGER)), allowlist), {
    updateId: 5,
    type: "message",
    senderId: STRANGER,
    chatId: STRANGER,
    reason: `user ${STRANGER} is not allowlisted`,
  });
});

const odd: [string, Record<string, unknown>, RegExp][] = [
  [
    "unknown future update type",
    { guest_message: { from: { id: OWNER }, chat: { id: OWNER, type: "private" } } },
    /unknown update type/,
  ],
  [
    "two payloads in one update",
    { ...updateOfType("message", OWNER, OWNER), ...updateOfType("poll", OWNER, GROUP) },
    /unknown update type/,
  ],
  ["no payload", {}, /unknown update type/],
  ["payload not an object", { message: "hi" }, /unknown update type/],
  [
    "message with no from and a group chat",
    { message: { message_id: 1, chat: { id: GROUP, type: "supergroup" } } },
    /sender cannot be determined/,
  ],
  [
    "sender id as a string",
    { message: { message_id: 1, from: { id: String(OWNER) }, chat: { id: GROUP, type: "supergroup" } } },
    /sender cannot be determined/,
  ],
  [
    "anonymous admin: stand-in from plus sender_chat",
    {
      message: {
        message_id: 1,
        from: { id: 1087968824 },
        sender_chat: { id: GROUP },
        chat: { id: GROUP, type: "supergroup" },
      },
    },
    /user 1087968824 is not allowlisted/,
  ],
  [
    "owner posting as a stranger channel",
    {
      message: {
        message_id: 1,
        from: { id: OWNER },
        sender_chat: { id: STRANGE_GROUP },
        chat: { id: GROUP, type: "supergroup" },
      },
    },
    new RegExp(`chat ${STRANGE_GROUP} is not allowlisted`),
  ],
  [
    "poll answer from a stranger's anonymous chat",
    { poll_answer: { poll_id: "p", voter_chat: { id: STRANGE_GROUP }, option_ids: [0] } },
    /not allowlisted/,
  ],
  [
    "reaction by an anonymous chat in an allowlisted group, from a stranger chat",
    {
      message_reaction: {
        chat: { id: GROUP, type: "supergroup" },
        actor_chat: { id: STRANGE_GROUP },
        message_id: 1,
      },
    },
    /not allowlisted/,
  ],
  [
    "boost with no user (giveaway)",
    { chat_boost: { chat: { id: GROUP }, boost: { source: { source: "giveaway" } } } },
    /sender cannot be determined/,
  ],
  [
    "callback query on a stranger's chat message",
    {
      callback_query: { id: "c", from: { id: OWNER }, message: { chat: { id: STRANGER, type: "private" } } },
    },
    /chat 999999 is not allowlisted/,
  ],
  ["__proto__ as the type", JSON.parse('{"__proto__": {"from": {"id": 111111}}}'), /unknown update type/],
];

for (const [name, body, reason] of odd) {
  test(`dropped: ${name}`, () => {
    assert.match(judgeUpdate(upd(9, body), allowlist)?.reason ?? "delivered", reason);
  });
}

test("filterUpdates keeps order and splits deliver from drop", () => {
  const batch = [
    upd(1, updateOfType("message", STRANGER, STRANGER)),
    upd(2, updateOfType("message", OWNER, OWNER)),
    upd(3, updateOfType("poll", OWNER, GROUP)),
    upd(4, updateOfType("message", OWNER, GROUP)),
  ];
  const { deliver, drop } = filterUpdates(batch, allowlist);
  assert.deepEqual(
    deliver.map((u) => u.update_id),
    [2, 4],
  );
  assert.deepEqual(
    drop.map((d) => [d.updateId, d.type]),
    [
      [1, "message"],
      [3, "poll"],
    ],
  );
});

test("negative control: an allowlist that lets everyone in fails the stranger checks", () => {
  const everyone = allowlistOf({ allowFrom: [OWNER, STRANGER], allowChats: [GROUP, STRANGE_GROUP] });
  const leaked = KNOWN_UPDATE_TYPES.filter(
    (t) => !SENDERLESS.has(t) && !judgeUpdate(upd(1, updateOfType(t, STRANGER, STRANGE_GROUP)), everyone),
  );
  assert.equal(leaked.length, KNOWN_UPDATE_TYPES.length - SENDERLESS.size);
});
