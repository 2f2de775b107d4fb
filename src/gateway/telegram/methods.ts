// Which Bot API calls the agent may make. The rule is about targets, not method names, so the
// whole send*/forward*/copy*/edit* family and whatever Telegram adds next are covered: every chat
// or user a call names must be allowlisted. Method names are matched case-insensitively because
// the Bot API server matches them that way.
import { chatAllowed, type TelegramAllowlist } from "./updates.js";

export type MethodVerdict = { ok: true } | { ok: false; reason: string };

// These would take updates or the bot itself out of the relay's hands: a webhook sends every
// update, unfiltered, to a URL of the caller's choosing.
const NEVER = new Map([
  ["setwebhook", "a webhook would deliver updates around the relay"],
  ["logout", "would move the bot off the Bot API server the relay uses"],
  ["close", "would shut the bot's Bot API session"],
]);

// Query answers go to whoever asked; only queries the relay delivered (so from allowlisted
// senders) may be answered. Web app queries never pass through updates, so none can be.
export const ANSWERS: Record<string, string> = {
  answercallbackquery: "callback_query_id",
  answerinlinequery: "inline_query_id",
  answershippingquery: "shipping_query_id",
  answerprecheckoutquery: "pre_checkout_query_id",
  answerwebappquery: "web_app_query_id",
};

// Parameters that name another chat than the one the call is about.
const CHAT_TARGETS = ["chat_id", "from_chat_id", "new_owner_chat_id"];

const SENDS = /^(send|forward|copy)/;

// A Telegram chat id as the caller wrote it: a number, or a decimal string. An @username is a
// chat the relay cannot check against numeric ids, so it counts as not allowlisted.
function chatIdOf(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^-?\d{1,16}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

// Nested objects arrive as JSON text in form and multipart bodies.
function objectParam(value: unknown): Record<string, unknown> | undefined {
  let v = value;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

// Parameter names are compared lowercased; the caller refuses names that collide that way.
export function methodAllowed(
  method: string,
  params: Readonly<Record<string, unknown>>,
  allowlist: TelegramAllowlist,
  answerable: (method: string, id: string) => boolean = () => false,
): MethodVerdict {
  const m = method.toLowerCase();
  const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k.toLowerCase(), v]));
  const refuse = (reason: string): MethodVerdict => ({ ok: false, reason });
  const never = NEVER.get(m);
  if (never) return refuse(`${method} is never relayed: ${never}`);

  const answerParam = ANSWERS[m];
  if (answerParam) {
    const id = p[answerParam];
    if (id === undefined || !answerable(m, String(id))) {
      return refuse(`${method}: ${answerParam} was not delivered by the relay`);
    }
  }

  if (p.inline_message_id !== undefined) {
    return refuse(`${method}: inline messages live in chats the relay cannot check`);
  }

  const targets: [string, unknown][] = CHAT_TARGETS.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]);
  const replyTo = objectParam(p.reply_parameters)?.chat_id;
  if (replyTo !== undefined) targets.push(["reply_parameters.chat_id", replyTo]);
  // With a chat, user_id names a member of that chat; without one it is where the call goes
  // (sendGift, savePreparedInlineMessage, getUserProfilePhotos …).
  if (p.chat_id === undefined && p.user_id !== undefined) targets.push(["user_id", p.user_id]);

  for (const [name, value] of targets) {
    const id = chatIdOf(value);
    if (id === undefined) return refuse(`${method}: ${name} ${String(value)} is not a numeric chat id`);
    if (!chatAllowed(id, allowlist)) return refuse(`${method}: ${name} ${id} is not allowlisted`);
  }
  if (SENDS.test(m) && targets.length === 0) return refuse(`${method}: no chat to check`);
  return { ok: true };
}

// The chat a call is about, for the audit line.
export const targetChat = (params: Readonly<Record<string, unknown>>) =>
  chatIdOf(params.chat_id) ?? chatIdOf(params.user_id);
