import assert from "node:assert/strict";
import { test } from "node:test";
import { compileAcl } from "../../src/gateway/acl.js";
import {
  admitTelegramCall,
  RELAYED_METHODS,
  type TelegramPolicy,
} from "../../src/gateway/telegram/methods.js";
import { allowlistOf } from "../../src/gateway/telegram/updates.js";
import { GROUP, OWNER, STRANGE_GROUP, STRANGER } from "../support/telegram-updates.js";

const BOT = 7000000001;
const EVIL = "https://evil.test/c?s=secret";
const MINE = "https://docs.allowed.test/guide";
const delivered = new Set(["answercallbackquery:cb1"]);
const policy: TelegramPolicy = {
  allowlist: allowlistOf({ allowFrom: [OWNER], allowChats: [GROUP] }),
  hosts: compileAcl(["docs.allowed.test", "*.cdn.allowed.test"]),
  botId: BOT,
  answerable: (m, id) => delivered.has(`${m}:${id}`),
};
const button = (b: Record<string, unknown>) => ({ inline_keyboard: [[{ text: "b", ...b }]] });

// [method, params, allowed?, reason fragment when refused]
const rows: [string, Record<string, unknown>, true | RegExp][] = [
  // What OpenClaw calls at start-up and in a conversation.
  ["getMe", {}, true],
  ["deleteWebhook", { drop_pending_updates: false }, true],
  ["getWebhookInfo", {}, true],
  ["setMyCommands", { commands: [{ command: "new", description: "n" }] }, true],
  ["setMyCommands", { commands: "[]", scope: '{"type":"all_group_chats"}', language_code: "de" }, true],
  ["deleteMyCommands", { scope: { type: "default" } }, true],
  ["setMyCommands", { commands: [], scope: { type: "chat", chat_id: GROUP } }, true],
  ["getFile", { file_id: "abc" }, true],
  ["getChat", { chat_id: GROUP }, true],
  ["getChatMember", { chat_id: GROUP, user_id: BOT }, true],
  ["sendMessage", { chat_id: OWNER, text: "hi" }, true],
  ["sendMessage", { chat_id: String(OWNER), text: "hi" }, true],
  ["sendMessage", { chat_id: GROUP, text: "hi", reply_parameters: { message_id: 1 } }, true],
  ["sendMessage", { chat_id: OWNER, text: "x", reply_markup: button({ callback_data: "y" }) }, true],
  ["sendMessage", { chat_id: OWNER, text: "x", reply_markup: button({ url: MINE }) }, true],
  ["sendMessage", { chat_id: OWNER, business_connection_id: "bc1", text: "x" }, true],
  ["sendPhoto", { chat_id: OWNER, photo: "attach://f1", caption: "c" }, true],
  ["sendPhoto", { chat_id: OWNER, photo: "AgACAgIAAxkBAAIB-_x" }, true],
  ["sendPhoto", { chat_id: OWNER, photo: "https://img.cdn.allowed.test/a.png" }, true],
  ["sendDocument", { chat_id: GROUP, document: "attach://d", thumbnail: "attach://t" }, true],
  ["sendVoice", { chat_id: OWNER, voice: "attach://v" }, true],
  ["sendMediaGroup", { chat_id: OWNER, media: [{ type: "photo", media: "attach://a" }] }, true],
  ["sendSticker", { chat_id: OWNER, sticker: "CAACAgIAAxkBAAE" }, true],
  ["sendPoll", { chat_id: OWNER, question: "q", options: [{ text: "a" }, { text: "b" }] }, true],
  ["sendLocation", { chat_id: OWNER, latitude: 1, longitude: 2 }, true],
  ["sendVenue", { chat_id: OWNER, latitude: 1, longitude: 2, title: "t", address: "a" }, true],
  ["sendChatAction", { chat_id: OWNER, action: "typing" }, true],
  ["editMessageText", { chat_id: OWNER, message_id: 1, text: "x" }, true],
  ["editMessageCaption", { chat_id: OWNER, message_id: 1, caption: "x" }, true],
  ["editMessageReplyMarkup", { chat_id: OWNER, message_id: 1, reply_markup: "{}" }, true],
  ["deleteMessage", { chat_id: OWNER, message_id: 1 }, true],
  ["setMessageReaction", { chat_id: OWNER, message_id: 1, reaction: [] }, true],
  ["pinChatMessage", { chat_id: GROUP, message_id: 1 }, true],
  ["unpinChatMessage", { chat_id: GROUP, message_id: 1 }, true],
  ["createForumTopic", { chat_id: GROUP, name: "t" }, true],
  ["editForumTopic", { chat_id: GROUP, message_thread_id: 2, name: "t" }, true],
  ["deleteBusinessMessages", { business_connection_id: "bc1", message_ids: [1] }, true],
  ["answerCallbackQuery", { callback_query_id: "cb1", text: "ok" }, true],

  // Issue 13 item 5: public profile writes, sticker sets, stories — not a conversation's business.
  ["setMyDescription", { description: "secret" }, /denied: telegram method setMyDescription/],
  ["setMyShortDescription", { short_description: "s" }, /denied: telegram method setMyShortDescription/],
  ["setMyName", { name: "secret" }, /denied: telegram method setMyName/],
  ["setChatMenuButton", { chat_id: OWNER, menu_button: { type: "web_app" } }, /method setChatMenuButton/],
  ["createNewStickerSet", { user_id: OWNER, name: "s_by_b", title: "secret" }, /method createNewStickerSet/],
  ["setStickerSetTitle", { name: "s_by_b", title: "secret" }, /method setStickerSetTitle/],
  ["postStory", { business_connection_id: "bc1", content: "{}" }, /method postStory/],
  ["getStickerSet", { name: "AttackerMailbox" }, /method getStickerSet/],
  // … admitting a stranger into an allowed group.
  ["approveChatJoinRequest", { chat_id: GROUP, user_id: STRANGER }, /method approveChatJoinRequest/],
  ["unbanChatMember", { chat_id: GROUP, user_id: STRANGER }, /method unbanChatMember/],
  ["promoteChatMember", { chat_id: GROUP, user_id: STRANGER }, /method promoteChatMember/],
  ["createChatInviteLink", { chat_id: GROUP }, /method createChatInviteLink/],
  ["getChatMember", { chat_id: GROUP, user_id: STRANGER }, /user_id 999999 is not allowlisted/],
  // … commands shown to strangers.
  [
    "setMyCommands",
    { commands: [], scope: { type: "chat", chat_id: STRANGER } },
    /scope.chat_id 999999 is not allowlisted/,
  ],
  [
    "setMyCommands",
    { commands: [], scope: JSON.stringify({ type: "chat_member", chat_id: GROUP, user_id: STRANGER }) },
    /scope.user_id 999999 is not allowlisted/,
  ],
  ["deleteMyCommands", { scope: "garbage" }, /scope "garbage" is not a command scope/],
  ["setMyCommands", { commands: [], scope: { type: "everyone" } }, /scope "everyone" is not a command scope/],
  // … URLs Telegram fetches or the owner's client opens.
  ["sendPhoto", { chat_id: OWNER, photo: EVIL }, /photo: evil.test is not in egress.allow/],
  ["sendDocument", { chat_id: OWNER, document: EVIL }, /document: evil.test is not in egress.allow/],
  ["sendDocument", { chat_id: OWNER, document: "attach://d", thumbnail: EVIL }, /thumbnail: evil.test/],
  ["sendDocument", { chat_id: OWNER, document: "evil.test/x.pdf" }, /is not a URL/],
  ["sendVideo", { chat_id: OWNER, video: "attach://v", cover: EVIL }, /cover: evil.test/],
  ["sendPhoto", { chat_id: OWNER, photo: "ftp://docs.allowed.test/a" }, /ftp: URLs are not relayed/],
  ["sendPhoto", { chat_id: OWNER, photo: { url: MINE } }, /is not a URL/],
  ["sendPhoto", { chat_id: OWNER, photo: "https://docs.allowed.test.evil.test/a" }, /not in egress.allow/],
  ["sendPhoto", { chat_id: OWNER, photo: "https://1.2.3.4/a" }, /1.2.3.4 is not in egress.allow/],
  [
    "sendMediaGroup",
    {
      chat_id: OWNER,
      media: JSON.stringify([
        { type: "photo", media: "attach://a" },
        { type: "photo", media: EVIL },
      ]),
    },
    /media\[1\].media: evil.test/,
  ],
  ["sendMediaGroup", { chat_id: OWNER, media: ["x"] }, /media\[0\] is not an InputMedia/],
  [
    "sendMessage",
    { chat_id: OWNER, text: "t", reply_markup: button({ url: EVIL }) },
    /reply_markup.*url: evil/,
  ],
  [
    "sendMessage",
    { chat_id: OWNER, text: "t", reply_markup: JSON.stringify(button({ login_url: { url: EVIL } })) },
    /login_url.url: evil.test/,
  ],
  [
    "sendMessage",
    { chat_id: OWNER, text: "t", reply_markup: button({ web_app: { url: EVIL } }) },
    /web_app.url/,
  ],
  ["editMessageReplyMarkup", { chat_id: OWNER, message_id: 1, reply_markup: button({ url: EVIL }) }, /evil/],
  [
    "sendMessage",
    { chat_id: OWNER, text: "click", entities: [{ type: "text_link", offset: 0, length: 5, url: EVIL }] },
    /entities\[0\].url: evil.test/,
  ],
  [
    "sendPhoto",
    { chat_id: OWNER, photo: "attach://p", caption_entities: [{ type: "text_link", url: EVIL }] },
    /caption_entities\[0\].url/,
  ],
  ["answerCallbackQuery", { callback_query_id: "cb1", url: EVIL }, /url: evil.test/],
  [
    "sendMessage",
    {
      chat_id: OWNER,
      text: "t",
      reply_markup: `{"inline_keyboard":[[{"text":"b","url":"${EVIL}","URL":"${MINE}"}]]}`,
    },
    /\.url: evil.test/,
  ],
  [
    "sendMediaGroup",
    { chat_id: OWNER, media: [{ type: "photo", media: EVIL, MEDIA: "attach://a" }] },
    /media\[0\].media: evil.test/,
  ],

  // Chats and users, wherever they are named.
  ["SENDMESSAGE", { chat_id: STRANGER, text: "hi" }, /chat_id 999999 is not allowlisted/],
  ["sendMessage", { chat_id: STRANGE_GROUP, text: "hi" }, /not allowlisted/],
  ["sendMessage", { chat_id: "@some_channel", text: "hi" }, /not a numeric id/],
  ["sendMessage", { chat_id: `${OWNER}.0` }, /not a numeric id/],
  ["sendMessage", { text: "no chat" }, /no chat_id to check/],
  ["sendMessage", { CHAT_ID: STRANGER, text: "case games" }, /not allowlisted/],
  [
    "sendMessage",
    { chat_id: OWNER, reply_parameters: { chat_id: STRANGER, message_id: 1 } },
    /reply_parameters/,
  ],
  [
    "sendMessage",
    { chat_id: OWNER, reply_parameters: JSON.stringify({ chat_id: STRANGER, message_id: 1 }) },
    /reply_parameters.chat_id 999999/,
  ],
  ["sendMessage", { chat_id: OWNER, text: "x", user_id: STRANGER }, /user_id 999999/],
  ["sendPhoto", { chat_id: STRANGER, photo: "attach://f" }, /not allowlisted/],
  ["sendChatAction", { chat_id: STRANGER, action: "typing" }, /not allowlisted/],
  ["editMessageText", { chat_id: STRANGER, message_id: 1, text: "x" }, /not allowlisted/],
  ["editMessageText", { inline_message_id: "im1", text: "x" }, /inline messages/],
  ["editMessageReplyMarkup", { inline_message_id: "im1" }, /inline messages/],
  ["deleteMessage", { chat_id: STRANGER, message_id: 1 }, /not allowlisted/],
  ["getChat", { chat_id: STRANGER }, /not allowlisted/],

  // Queries: only those the relay delivered.
  ["answerCallbackQuery", { callback_query_id: "cb-stranger", text: "ok" }, /not delivered by the relay/],
  ["answerCallbackQuery", {}, /not delivered/],
  ["answerInlineQuery", { inline_query_id: "iq1", results: "[]" }, /method answerInlineQuery/],
  ["answerWebAppQuery", { web_app_query_id: "w", result: "{}" }, /method answerWebAppQuery/],

  // Everything else is default-denied, whatever its parameters.
  ["setWebhook", { url: "https://evil.test/hook" }, /denied: telegram method setWebhook/],
  ["logOut", {}, /method logOut/],
  ["close", {}, /method close/],
  ["forwardMessage", { chat_id: OWNER, from_chat_id: GROUP, message_id: 1 }, /method forwardMessage/],
  ["sendGift", { user_id: OWNER, gift_id: "g" }, /method sendGift/],
  ["sendFutureThing", { chat_id: OWNER }, /denied: telegram method sendFutureThing \(not one/],
  ["sendRichMessage", { chat_id: OWNER, rich_message: "{}" }, /method sendRichMessage/],
];

for (const [method, params, expected] of rows) {
  test(`admitTelegramCall ${method} ${JSON.stringify(params)}`, () => {
    const v = admitTelegramCall(method, params, policy);
    if (expected === true) assert.equal(v.ok, true, v.ok ? "" : v.reason);
    else {
      assert.equal(v.ok, false, `${method} was admitted`);
      if (!v.ok) assert.match(v.reason, expected);
    }
  });
}

// [text, link_preview_options, legacy flag, entities] → the link_preview_options forwarded
const previews: [string, unknown, unknown, unknown, Record<string, unknown>][] = [
  ["no link", undefined, undefined, undefined, { is_disabled: true }],
  [`go ${EVIL}`, undefined, undefined, undefined, { is_disabled: true }],
  [`go ${EVIL}`, undefined, false, undefined, { is_disabled: true }],
  [
    "go evil.test/s3cr3t (Telegram links bare domains)",
    undefined,
    undefined,
    undefined,
    { is_disabled: true },
  ],
  ["x", { url: EVIL }, undefined, undefined, { is_disabled: true }],
  ["x", JSON.stringify({ url: EVIL, prefer_large_media: true }), undefined, undefined, { is_disabled: true }],
  ["x", { url: MINE, show_above_text: true }, undefined, undefined, { url: MINE, show_above_text: true }],
  ["x", { url: MINE, URL: EVIL, is_disabled: false }, undefined, undefined, { url: MINE }],
  [
    `see ${MINE}`,
    { URL: EVIL, prefer_small_media: true },
    undefined,
    undefined,
    { url: MINE, prefer_small_media: true },
  ],
  [`see ${MINE}.`, undefined, undefined, undefined, { url: MINE }],
  [`${EVIL} then ${MINE}`, undefined, undefined, undefined, { url: MINE }],
  [`<a href="${MINE}">docs</a>`, undefined, undefined, undefined, { url: MINE }],
  ["docs", undefined, undefined, [{ type: "text_link", url: MINE }], { url: MINE }],
  [`see ${MINE}`, { is_disabled: true }, undefined, undefined, { is_disabled: true }],
  [`see ${MINE}`, undefined, true, undefined, { is_disabled: true }],
  [`see ${MINE}`, undefined, "true", undefined, { is_disabled: true }],
];

for (const [text, options, legacy, entities, expected] of previews) {
  test(`link preview of ${JSON.stringify(text)} with ${JSON.stringify(options ?? legacy ?? null)}`, () => {
    const params = {
      chat_id: OWNER,
      text,
      ...(options === undefined ? {} : { link_preview_options: options }),
      ...(legacy === undefined ? {} : { Disable_Web_Page_Preview: legacy }),
      ...(entities === undefined ? {} : { entities }),
    };
    for (const method of ["sendMessage", "editMessageText"]) {
      const v = admitTelegramCall(method, params, policy);
      assert.ok(v.ok, v.ok ? "" : v.reason);
      const [call] = v.calls;
      assert.equal(v.calls.length, 1);
      assert.deepEqual(call?.link_preview_options, expected);
      assert.ok(!Object.keys(call ?? {}).some((k) => k.toLowerCase() === "disable_web_page_preview"));
      assert.equal(call?.text, text, "the message itself is forwarded unchanged");
    }
  });
}

test("only the preview is rewritten; other calls are forwarded as checked", () => {
  const params = { chat_id: OWNER, photo: "attach://p", caption: `see ${EVIL}` };
  assert.deepEqual(admitTelegramCall("sendPhoto", params, policy), { ok: true, calls: [params] });
});

// A command menu for a broad scope is public to anyone who opens the bot: it is narrowed to one
// per-chat scope for each allowlisted chat the broad scope covers.
const menu: [Record<string, unknown> | string | undefined, Record<string, unknown>[]][] = [
  [
    undefined,
    [
      { type: "chat", chat_id: OWNER },
      { type: "chat", chat_id: GROUP },
    ],
  ],
  [
    { type: "default" },
    [
      { type: "chat", chat_id: OWNER },
      { type: "chat", chat_id: GROUP },
    ],
  ],
  ['{"type":"all_group_chats"}', [{ type: "chat", chat_id: GROUP }]],
  [{ type: "all_private_chats" }, [{ type: "chat", chat_id: OWNER }]],
  [{ type: "all_chat_administrators" }, [{ type: "chat_administrators", chat_id: GROUP }]],
  [{ type: "chat", chat_id: GROUP }, [{ type: "chat", chat_id: GROUP }]],
  [
    { type: "chat_member", chat_id: GROUP, user_id: OWNER },
    [{ type: "chat_member", chat_id: GROUP, user_id: OWNER }],
  ],
];

for (const [scope, scopes] of menu) {
  test(`command menu for scope ${JSON.stringify(scope)} shows only in allowlisted chats`, () => {
    const commands = [{ command: "new", description: "New session" }];
    for (const method of ["setMyCommands", "deleteMyCommands"]) {
      const params = { commands, language_code: "de", ...(scope === undefined ? {} : { Scope: scope }) };
      const v = admitTelegramCall(method, params, policy);
      assert.ok(v.ok, v.ok ? "" : v.reason);
      const narrowed = typeof scope === "object" && String(scope.type).startsWith("chat");
      assert.deepEqual(
        v.calls,
        narrowed ? [params] : scopes.map((s) => ({ commands, language_code: "de", scope: s })),
      );
    }
  });
}

test("a broad menu with no allowlisted chat it covers goes nowhere", () => {
  const ownerOnly = { ...policy, allowlist: allowlistOf({ allowFrom: [OWNER], allowChats: [] }) };
  const v = admitTelegramCall(
    "setMyCommands",
    { commands: [], scope: { type: "all_group_chats" } },
    ownerOnly,
  );
  assert.deepEqual(v, { ok: true, calls: [] });
});

test("the table is what a conversation needs, and nothing that writes where strangers read", () => {
  for (const m of ["setMyDescription", "setMyName", "setChatMenuButton", "postStory", "createChatInviteLink"])
    assert.ok(!RELAYED_METHODS.includes(m), m);
  assert.ok(RELAYED_METHODS.length < 40, `${RELAYED_METHODS.length} methods relayed`);
});

test("negative control: with the stranger allowlisted and evil.test in egress.allow, they pass", () => {
  const open: TelegramPolicy = {
    ...policy,
    allowlist: allowlistOf({ allowFrom: [OWNER, STRANGER], allowChats: [GROUP] }),
    hosts: compileAcl(["docs.allowed.test", "evil.test"]),
  };
  assert.equal(admitTelegramCall("sendMessage", { chat_id: STRANGER, text: "hi" }, open).ok, true);
  assert.equal(admitTelegramCall("getChatMember", { chat_id: GROUP, user_id: STRANGER }, open).ok, true);
  assert.equal(admitTelegramCall("sendPhoto", { chat_id: OWNER, photo: EVIL }, open).ok, true);
  const v = admitTelegramCall("sendMessage", { chat_id: OWNER, text: EVIL }, open);
  assert.deepEqual(v.ok && v.calls[0]?.link_preview_options, { url: EVIL });
});
