// The Telegram relay with grammY (what OpenClaw uses) as the agent, against a fake Bot API over
// TLS: strangers are never heard, the relay confirms what it drops so polling does not spin,
// a gateway restart mid-poll loses and repeats nothing, and the bot cannot write to strangers.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { type Bot, GrammyError, InputFile } from "grammy";
import type { Update } from "grammy/types";
import { filterUpdates, KNOWN_UPDATE_TYPES } from "../../src/gateway/telegram/updates.js";
import { FILE_BYTES } from "../../src/lab/fakes/telegram.js";
import { TELEGRAM_PLACEHOLDER_TOKEN } from "../../src/spec/derive.js";
import { LossyLink } from "../support/lossy-link.js";
import { GROUP, OWNER, STRANGE_GROUP, STRANGER, updateOfType } from "../support/telegram-updates.js";
import { REAL_BOT_TOKEN, TelegramWorld } from "../support/telegram-world.js";

const ALL_TYPES = KNOWN_UPDATE_TYPES as never[];

async function waitFor(check: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A polling grammY bot that records every update it is handed.
function polling(bot: Bot, seen: Update[], timeout = 1) {
  bot.use((ctx) => {
    seen.push(ctx.update);
  });
  bot.catch(() => {});
  const started = new Promise<void>((onStart) => {
    void bot.start({ timeout, allowed_updates: ALL_TYPES, onStart: () => onStart() });
  });
  return started;
}

const ownerMessage = (text: string) => ({
  message: {
    message_id: 1,
    date: 1,
    from: { id: OWNER, is_bot: false, first_name: "o" },
    chat: { id: OWNER, type: "private" },
    text,
  },
});
const strangerUpdates = () =>
  KNOWN_UPDATE_TYPES.map((t) => updateOfType(t, STRANGER, t.includes("channel") ? STRANGE_GROUP : GROUP));
const texts = (seen: Update[]) => seen.map((u) => u.message?.text);

describe("telegram relay with grammY", () => {
  const world = new TelegramWorld();
  let bot: Bot | undefined;
  before(() => world.start());
  afterEach(async () => {
    if (bot?.isRunning()) await bot.stop();
    bot = undefined;
  });
  after(() => world.stop());

  test("the placeholder token works, the real one and any other are refused", async () => {
    const me = await world.bot().api.getMe();
    assert.equal(me.username, "moat_test_bot");
    for (const token of [REAL_BOT_TOKEN, "123:somebody-else"]) {
      await assert.rejects(
        world.bot(token).api.getMe(),
        (e: unknown) => e instanceof GrammyError && e.error_code === 401,
      );
    }
    assert.ok(world.audit.some((r) => r.event === "telegram.refuse" && /real bot token/.test(r.reason)));
    for (const path of [
      "/telegram/bot%E0%A4%A/getMe",
      "/telegram/botx/getMe",
      "/telegram/bot/getMe",
      "/telegram/getMe",
    ]) {
      const res = await fetch(`http://127.0.0.1:${world.port}${path}`);
      assert.ok([401, 404].includes(res.status), `${path}: ${res.status}`);
    }
    assert.ok(
      world.fake.calls.every((c) => c.token === REAL_BOT_TOKEN),
      "a wrong token reached Telegram",
    );
    assert.ok(!JSON.stringify(world.audit).includes(REAL_BOT_TOKEN), "the token reached the audit trail");
  });

  test("every update type from a stranger is dropped; the owner is heard", async () => {
    const seen: Update[] = [];
    bot = world.bot();
    await polling(bot, seen);
    const strangers = world.fake.push(...strangerUpdates());
    const [first] = world.fake.push(ownerMessage("first"));
    world.fake.push(...strangerUpdates(), ownerMessage("second"));
    await waitFor(() => seen.length >= 2, "the owner's messages");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(texts(seen), ["first", "second"]);
    assert.equal(seen[0]?.update_id, first);
    const drops = world.audit.filter((r) => r.event === "telegram.drop");
    const firstDrops = drops.filter((d) => d.event === "telegram.drop" && strangers.includes(d.updateId));
    assert.deepEqual(
      firstDrops.map((d) => d.event === "telegram.drop" && d.updateType),
      KNOWN_UPDATE_TYPES,
    );
    const msgDrop = firstDrops.find((d) => d.event === "telegram.drop" && d.updateType === "message");
    assert.deepEqual(msgDrop && { ...msgDrop, updateId: 0 }, {
      event: "telegram.drop",
      updateId: 0,
      updateType: "message",
      senderId: STRANGER,
      chatId: GROUP,
      reason: `user ${STRANGER} is not allowlisted`,
    });
    assert.ok(!JSON.stringify(world.audit).includes("hello from"), "message text reached the audit trail");
  });

  test("an all-dropped batch does not spin the agent: the relay confirms it and keeps waiting", async (t) => {
    const seen: Update[] = [];
    bot = world.bot();
    await polling(bot, seen, 1);
    const before = world.fake.callsTo("getUpdates").length;
    const ids = world.fake.push(...strangerUpdates(), ...strangerUpdates());
    await new Promise((r) => setTimeout(r, 2500));
    const calls = world.fake.callsTo("getUpdates").length - before;
    assert.deepEqual(seen, []);
    t.diagnostic(`${calls} upstream getUpdates calls in 2.5 s for ${ids.length} dropped updates`);
    // Long polls of 1 s over 2.5 s: a handful of calls. A spinning agent would make hundreds.
    assert.ok(calls <= 6, `${calls} upstream getUpdates calls in 2.5 s`);
    assert.ok(world.fake.confirmedBelow > (ids.at(-1) as number), "the dropped updates were not confirmed");
    assert.deepEqual(world.fake.pendingIds(), []);
  });

  test("a gateway restart in the middle of polling loses and repeats nothing", async () => {
    const link = new LossyLink(() => world.port);
    const linkPort = await link.listen();
    const seen: Update[] = [];
    bot = world.bot(TELEGRAM_PLACEHOLDER_TOKEN, `http://127.0.0.1:${linkPort}/telegram`);
    await polling(bot, seen, 1);
    let crashes = 0;
    const owners = new Set<number>();
    // Round 0: the gateway dies while Telegram's answer is on its way to it.
    world.fake.onBatch = (ids) => {
      if (crashes === 0 && ids.some((id) => owners.has(id))) {
        crashes++;
        void world.restart();
      }
    };
    // Round 1: the gateway answered, the answer never reached the agent, the gateway restarts.
    // Round 2: the answer is lost again, the gateway keeps running.
    link.dropWhen = (reply) => {
      if (reply.includes('"text":"m1.') && link.dropped === 0) {
        void world.restart();
        return true;
      }
      return reply.includes('"text":"m2.') && link.dropped === 1;
    };
    const sent: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const batch = [];
        for (let i = 0; i < 3; i++) {
          sent.push(`m${round}.${i}`);
          batch.push(strangerUpdates()[0] as Record<string, unknown>, ownerMessage(`m${round}.${i}`));
        }
        for (const id of world.fake.push(...batch)) owners.add(id);
        await waitFor(() => seen.length === sent.length, `round ${round}`, 15_000);
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      world.fake.onBatch = undefined;
      await bot.stop();
      await link.close();
    }
    assert.equal(crashes, 1, "the gateway was restarted while Telegram answered");
    assert.equal(link.dropped, 2, "two answers were lost on the way to the agent");
    assert.equal(world.restarts >= 2, true);
    assert.deepEqual(texts(seen), sent, "lost or repeated across a restart");
  });

  test("sending to a chat that is not allowlisted is refused; allowlisted chats work", async () => {
    const api = world.bot().api;
    const before = world.fake.calls.length;
    const refused = (e: unknown) =>
      e instanceof GrammyError &&
      e.error_code === 403 &&
      /moat: denied: telegram method \w+/.test(e.description);
    await assert.rejects(api.sendMessage(STRANGER, "psst"), refused);
    await assert.rejects(api.sendMessage(STRANGE_GROUP, "psst"), refused);
    await assert.rejects(api.sendPhoto(STRANGER, new InputFile(FILE_BYTES, "x.png")), refused);
    await assert.rejects(api.forwardMessage(STRANGER, OWNER, 1), refused);
    await assert.rejects(api.copyMessage(OWNER, STRANGER, 1), refused);
    await assert.rejects(api.editMessageText(STRANGER, 1, "x"), refused);
    await assert.rejects(
      api.setWebhook("https://evil.test/hook"),
      (e: unknown) => e instanceof GrammyError && e.error_code === 403,
    );
    assert.equal(world.fake.calls.length, before, "a refused call reached Telegram");

    await api.sendMessage(OWNER, "hi owner");
    await api.sendMessage(GROUP, "hi group");
    await api.sendPhoto(OWNER, new InputFile(FILE_BYTES, "my photo.png"), { caption: "pic" });
    const sends = world.fake.calls.slice(before);
    assert.deepEqual(
      sends.map((c) => [c.method, String(c.params.chat_id)]),
      [
        ["sendMessage", String(OWNER)],
        ["sendMessage", String(GROUP)],
        ["sendPhoto", String(OWNER)],
      ],
    );
    assert.match(sends[2]?.files[0] ?? "", new RegExp(`:my photo.png:${FILE_BYTES.length}$`));
    const refusals = world.audit.filter((r) => r.event === "telegram.refuse" && r.method === "sendMessage");
    assert.ok(refusals.some((r) => r.event === "telegram.refuse" && r.chatId === STRANGER));
  });

  test("only callback queries the relay delivered can be answered", async () => {
    const seen: Update[] = [];
    bot = world.bot();
    await polling(bot, seen);
    world.fake.push(
      updateOfType("callback_query", OWNER, OWNER),
      updateOfType("callback_query", STRANGER, OWNER),
    );
    world.fake.push(ownerMessage("after"));
    await waitFor(() => seen.length === 2, "the owner's callback and message");
    await bot.stop();
    const api = world.bot().api;
    assert.equal(await api.answerCallbackQuery(`cb${OWNER}`, { text: "ok" }), true);
    await assert.rejects(api.answerCallbackQuery(`cb${STRANGER}`), GrammyError);
  });

  test("file downloads work with the placeholder token", async () => {
    const api = world.bot().api;
    const file = await api.getFile("file-1");
    const res = await fetch(`${world.apiRoot}/file/bot${TELEGRAM_PLACEHOLDER_TOKEN}/${file.file_path}`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), FILE_BYTES);
    const wrong = await fetch(`${world.apiRoot}/file/bot${REAL_BOT_TOKEN}/${file.file_path}`);
    assert.equal(wrong.status, 401);
  });
});

describe("negative controls: with the allowlist switched off, the same checks fail", () => {
  const world = new TelegramWorld();
  let bot: Bot | undefined;
  before(() =>
    world.start({
      judge: (updates) => ({ deliver: [...updates], drop: [] }),
      methodCheck: (_method, params) => ({ ok: true, calls: [{ ...params }] }),
    }),
  );
  after(async () => {
    if (bot?.isRunning()) await bot.stop();
    await world.stop();
  });

  test("strangers are heard and written to", async () => {
    const seen: Update[] = [];
    bot = world.bot();
    await polling(bot, seen);
    world.fake.push(...strangerUpdates(), ownerMessage("owner"));
    await waitFor(() => seen.length === KNOWN_UPDATE_TYPES.length + 1, "every update");
    assert.notDeepEqual(texts(seen), ["owner"], "the stranger check must notice");
    await bot.stop();
    await world.bot().api.sendMessage(STRANGER, "psst");
    assert.equal(world.fake.callsTo("sendMessage").at(-1)?.params.chat_id, STRANGER);
  });

  test("the real filter, given the same batch, would have dropped them", () => {
    const batch = strangerUpdates().map((u, i) => ({ update_id: i + 1, ...u }));
    const { deliver } = filterUpdates(batch, { users: new Set([OWNER]), chats: new Set([GROUP]) });
    assert.deepEqual(deliver, []);
  });
});
