import assert from "node:assert/strict";
import { test } from "node:test";
import { methodAllowed } from "../../src/gateway/telegram/methods.js";
import { allowlistOf } from "../../src/gateway/telegram/updates.js";
import { GROUP, OWNER, STRANGE_GROUP, STRANGER } from "../support/telegram-updates.js";

const allowlist = allowlistOf({ allowFrom: [OWNER], allowChats: [GROUP] });
const delivered = new Set(["answercallbackquery:cb1", "answerinlinequery:iq1"]);
const answerable = (m: string, id: string) => delivered.has(`${m}:${id}`);

// [method, params, allowed?, reason fragment when refused]
const rows: [string, Record<string, unknown>, true | RegExp][] = [
  ["getMe", {}, true],
  ["getUpdates", { offset: 5 }, true],
  ["deleteWebhook", { drop_pending_updates: false }, true],
  ["setMyCommands", { commands: [{ command: "start", description: "s" }] }, true],
  ["getFile", { file_id: "abc" }, true],
  ["sendMessage", { chat_id: OWNER, text: "hi" }, true],
  ["sendMessage", { chat_id: String(OWNER), text: "hi" }, true],
  ["sendMessage", { chat_id: GROUP, text: "hi" }, true],
  ["SENDMESSAGE", { chat_id: STRANGER, text: "hi" }, /chat_id 999999 is not allowlisted/],
  ["sendMessage", { chat_id: STRANGER, text: "hi" }, /chat_id 999999 is not allowlisted/],
  ["sendMessage", { chat_id: STRANGE_GROUP, text: "hi" }, /not allowlisted/],
  ["sendMessage", { chat_id: "@some_channel", text: "hi" }, /not a numeric chat id/],
  ["sendMessage", { chat_id: `${OWNER}.0` }, /not a numeric chat id/],
  ["sendMessage", { text: "no chat" }, /no chat to check/],
  ["sendMessage", { CHAT_ID: STRANGER, text: "case games" }, /not allowlisted/],
  [
    "sendMessage",
    { chat_id: OWNER, reply_parameters: { chat_id: STRANGER, message_id: 1 } },
    /reply_parameters.chat_id/,
  ],
  [
    "sendMessage",
    { chat_id: OWNER, reply_parameters: JSON.stringify({ chat_id: STRANGER, message_id: 1 }) },
    /reply_parameters.chat_id/,
  ],
  ["sendMessage", { chat_id: OWNER, business_connection_id: "bc1", text: "x" }, true],
  ["sendPhoto", { chat_id: STRANGER, photo: "attach://f" }, /not allowlisted/],
  ["sendDocument", { chat_id: STRANGER, document: "x" }, /not allowlisted/],
  ["sendMediaGroup", { chat_id: STRANGER, media: "[]" }, /not allowlisted/],
  ["sendPoll", { chat_id: STRANGER, question: "q" }, /not allowlisted/],
  ["sendChatAction", { chat_id: STRANGER, action: "typing" }, /not allowlisted/],
  ["sendGift", { user_id: STRANGER, gift_id: "g" }, /user_id 999999 is not allowlisted/],
  ["sendGift", { user_id: OWNER, gift_id: "g" }, true],
  ["sendFutureThing", { to: STRANGER }, /no chat to check/],
  ["forwardMessage", { chat_id: STRANGER, from_chat_id: OWNER, message_id: 1 }, /chat_id 999999/],
  ["forwardMessage", { chat_id: OWNER, from_chat_id: STRANGER, message_id: 1 }, /from_chat_id 999999/],
  ["forwardMessages", { chat_id: STRANGER, from_chat_id: GROUP, message_ids: [1] }, /not allowlisted/],
  ["copyMessage", { chat_id: STRANGER, from_chat_id: OWNER, message_id: 1 }, /not allowlisted/],
  ["copyMessages", { chat_id: GROUP, from_chat_id: OWNER, message_ids: [1] }, true],
  ["editMessageText", { chat_id: OWNER, message_id: 1, text: "x" }, true],
  ["editMessageText", { chat_id: STRANGER, message_id: 1, text: "x" }, /not allowlisted/],
  ["editMessageText", { inline_message_id: "im1", text: "x" }, /inline messages/],
  ["editMessageReplyMarkup", { inline_message_id: "im1" }, /inline messages/],
  ["deleteMessage", { chat_id: STRANGER, message_id: 1 }, /not allowlisted/],
  ["setMessageReaction", { chat_id: STRANGER, message_id: 1 }, /not allowlisted/],
  ["pinChatMessage", { chat_id: STRANGE_GROUP, message_id: 1 }, /not allowlisted/],
  ["getChat", { chat_id: STRANGER }, /not allowlisted/],
  ["getChatMember", { chat_id: GROUP, user_id: STRANGER }, true],
  ["banChatMember", { chat_id: GROUP, user_id: STRANGER }, true],
  ["getUserProfilePhotos", { user_id: STRANGER }, /user_id 999999/],
  ["savePreparedInlineMessage", { user_id: STRANGER, result: "{}" }, /not allowlisted/],
  [
    "transferGift",
    { business_connection_id: "b", owned_gift_id: "g", new_owner_chat_id: STRANGER },
    /new_owner_chat_id/,
  ],
  ["setWebhook", { url: "https://evil.test/hook" }, /never relayed: a webhook/],
  ["SetWebhook", { url: "https://evil.test/hook" }, /never relayed/],
  ["logOut", {}, /never relayed/],
  ["close", {}, /never relayed/],
  ["answerCallbackQuery", { callback_query_id: "cb1", text: "ok" }, true],
  ["answerCallbackQuery", { callback_query_id: "cb-stranger", text: "ok" }, /not delivered by the relay/],
  ["answerCallbackQuery", {}, /not delivered/],
  ["answerInlineQuery", { inline_query_id: "iq1", results: "[]" }, true],
  ["answerInlineQuery", { inline_query_id: "cb1", results: "[]" }, /not delivered/],
  ["answerShippingQuery", { shipping_query_id: "s", ok: true }, /not delivered/],
  ["answerPreCheckoutQuery", { pre_checkout_query_id: "p", ok: true }, /not delivered/],
  ["answerWebAppQuery", { web_app_query_id: "w", result: "{}" }, /not delivered/],
];

for (const [method, params, expected] of rows) {
  test(`methodAllowed ${method} ${JSON.stringify(params)}`, () => {
    const v = methodAllowed(method, params, allowlist, answerable);
    if (expected === true) assert.deepEqual(v, { ok: true });
    else {
      assert.equal(v.ok, false);
      if (!v.ok) assert.match(v.reason, expected);
    }
  });
}

test("negative control: with the stranger allowlisted, the send checks let it through", () => {
  const open = allowlistOf({ allowFrom: [OWNER, STRANGER], allowChats: [GROUP] });
  assert.deepEqual(methodAllowed("sendMessage", { chat_id: STRANGER, text: "hi" }, open), { ok: true });
});
