// Which Bot API calls the agent may make: default-deny. A method is relayed only if a
// conversation needs it — what OpenClaw's Telegram channel calls at start-up and while talking
// (read from openclaw@2026.9.6's dist: grammY `api.*` calls) — and every party it names is one
// the operator allowlisted. Anything else with the real token is a channel: the bot's public
// profile, sticker sets and stories are readable by anyone, an invite link or an unban lets a
// stranger into an allowed group, a URL hands its host whatever the agent wrote into it.
// Method names are matched case-insensitively because the Bot API server matches them that way.
import type { HostAcl } from "../acl.js";
import { narrowedScope } from "./commands.js";
import { chatAllowed, type TelegramAllowlist } from "./updates.js";
import { fileProblem, linkPreview, urlProblem } from "./urls.js";

export interface TelegramPolicy {
  allowlist: TelegramAllowlist;
  hosts: HostAcl; // egress.allow: the hosts a URL may point at
  botId?: number; // the bot itself may be named as a user (OpenClaw checks its own membership)
  answerable?: (method: string, id: string) => boolean; // query ids the relay delivered
}

// What goes to Telegram: usually the call as checked (maybe rewritten); a command menu for a
// broad scope becomes one call per allowlisted chat, and none at all if it covers none.
export type Admission = { ok: true; calls: Record<string, unknown>[] } | { ok: false; reason: string };

interface MethodRule {
  chat?: true; // chat_id is required (and, like every chat it names, allowlisted)
  files?: string[]; // parameters that take a file: an upload, a file_id, or a URL Telegram fetches
  media?: true; // `media`: InputMedia items, each with its own files
  preview?: true; // a message text that can get a link preview
  menu?: true; // writes the command menu: a broad scope is narrowed to the allowlisted chats
  answers?: string; // the id of a query the relay delivered
}

const THUMB = ["thumbnail"];

// Keys lowercased; the canonical spelling is for error messages and the README.
const TABLE: Record<string, [name: string, rule: MethodRule]> = Object.fromEntries(
  (
    [
      // Start-up and polling (getUpdates itself is the relay's; see polling.ts).
      ["getMe", {}],
      ["getUpdates", {}],
      ["deleteWebhook", {}],
      ["getWebhookInfo", {}],
      ["getMyCommands", {}],
      ["setMyCommands", { menu: true }],
      ["deleteMyCommands", { menu: true }],
      ["getChat", { chat: true }],
      ["getChatMember", { chat: true }],
      ["getFile", {}],
      // Replies.
      ["sendMessage", { chat: true, preview: true }],
      ["sendPhoto", { chat: true, files: ["photo"] }],
      ["sendDocument", { chat: true, files: ["document", ...THUMB] }],
      ["sendAudio", { chat: true, files: ["audio", ...THUMB] }],
      ["sendVideo", { chat: true, files: ["video", "cover", ...THUMB] }],
      ["sendAnimation", { chat: true, files: ["animation", ...THUMB] }],
      ["sendVoice", { chat: true, files: ["voice"] }],
      ["sendVideoNote", { chat: true, files: ["video_note", ...THUMB] }],
      ["sendSticker", { chat: true, files: ["sticker"] }],
      ["sendMediaGroup", { chat: true, media: true }],
      ["sendLocation", { chat: true }],
      ["sendVenue", { chat: true }],
      ["sendPoll", { chat: true }],
      ["sendChatAction", { chat: true }],
      ["editMessageText", { chat: true, preview: true }],
      ["editMessageCaption", { chat: true }],
      ["editMessageReplyMarkup", { chat: true }],
      ["deleteMessage", { chat: true }],
      ["setMessageReaction", { chat: true }],
      ["pinChatMessage", { chat: true }],
      ["unpinChatMessage", { chat: true }],
      ["createForumTopic", { chat: true }],
      ["editForumTopic", { chat: true }],
      // Messages a business account received; deleting names no new party.
      ["deleteBusinessMessages", {}],
      ["answerCallbackQuery", { answers: "callback_query_id" }],
    ] as [string, MethodRule][]
  ).map(([name, rule]) => [name.toLowerCase(), [name, rule]]),
);

export const RELAYED_METHODS: readonly string[] = Object.values(TABLE).map(([name]) => name);

// Query answers go to whoever asked; these are the update fields the relay remembers ids of.
export const ANSWERS: Record<string, string> = Object.fromEntries(
  Object.entries(TABLE).flatMap(([m, [, rule]]) => (rule.answers ? [[m, rule.answers]] : [])),
);

// Parameters, at any depth, that name a chat or a user.
const CHAT_KEYS = new Set(["chat_id", "from_chat_id", "sender_chat_id", "new_owner_chat_id"]);
const USER_KEYS = new Set(["user_id"]);

// A Telegram chat id as the caller wrote it: a number, or a decimal string. An @username is a
// chat the relay cannot check against numeric ids, so it counts as not allowlisted.
function chatIdOf(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^-?\d{1,16}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

// Nested objects arrive as JSON text in form and multipart bodies; Telegram parses them.
function nested(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const lowerKeys = (o: Json): Json =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));

// Every chat, user and URL a value names, wherever it sits (reply_parameters, reply_markup
// buttons with url / login_url / web_app, text_link entities, a command scope, media items).
function partyProblem(path: string, value: unknown, policy: TelegramPolicy): string | undefined {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const p = partyProblem(`${path}[${i}]`, v, policy);
      if (p) return p;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  // Each key as written: {"url": a, "URL": b} is two fields, and both are checked.
  for (const [name, v] of Object.entries(value)) {
    const key = name.toLowerCase();
    const at = path ? `${path}.${name}` : name;
    if (CHAT_KEYS.has(key) || USER_KEYS.has(key)) {
      const id = chatIdOf(v);
      if (id === undefined) return `${at} ${String(v)} is not a numeric id`;
      const allowed = chatAllowed(id, policy.allowlist) || (USER_KEYS.has(key) && id === policy.botId);
      if (!allowed) return `${at} ${id} is not allowlisted`;
    } else if (key === "url") {
      const p = urlProblem(v, policy.hosts);
      if (p) return `${at}: ${p}`;
    } else {
      const p = partyProblem(at, v, policy);
      if (p) return p;
    }
  }
  return undefined;
}

// Free text is never JSON to Telegram; every other top-level string may be (form and multipart
// bodies carry objects as JSON text), so it is read the way Telegram would read it.
const FREE_TEXT = new Set(["text", "caption", "question", "explanation"]);
const structured = (p: Json): Json =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, FREE_TEXT.has(k) ? v : nested(v)]));

function filesProblem(names: string[], p: Json, hosts: HostAcl): string | undefined {
  for (const name of names) {
    if (p[name] === undefined) continue;
    const problem = fileProblem(p[name], hosts);
    if (problem) return `${name}: ${problem}`;
  }
  return undefined;
}

const MEDIA_FILES = new Set(["media", "thumbnail", "cover"]);

function mediaProblem(media: unknown, hosts: HostAcl): string | undefined {
  const items = Array.isArray(media) ? media : [media];
  for (const [i, item] of items.entries()) {
    if (!isObject(item)) return `media[${i}] is not an InputMedia object`;
    for (const [name, v] of Object.entries(item)) {
      if (!MEDIA_FILES.has(name.toLowerCase())) continue;
      const problem = fileProblem(v, hosts);
      if (problem) return `media[${i}].${name}: ${problem}`;
    }
  }
  return undefined;
}

// The previews rule rewrites the call: the link preview Telegram would choose is replaced by
// one pinned to an allowlisted URL, or none (see urls.ts).
function withPreviewPinned(params: Readonly<Json>, p: Json, hosts: HostAcl): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(params)) {
    const key = k.toLowerCase();
    if (key !== "link_preview_options" && key !== "disable_web_page_preview") out[k] = v;
  }
  out.link_preview_options = linkPreview(
    nested(p.link_preview_options),
    p.disable_web_page_preview,
    p.text,
    nested(p.entities),
    hosts,
  );
  return out;
}

// Parameter names are compared lowercased; parseCall refuses names that collide that way.
export function admitTelegramCall(
  method: string,
  params: Readonly<Record<string, unknown>>,
  policy: TelegramPolicy,
): Admission {
  const entry = TABLE[method.toLowerCase()];
  if (!entry)
    return { ok: false, reason: `denied: telegram method ${method} (not one a conversation needs)` };
  const [name, rule] = entry;
  const deny = (why: string): Admission => ({ ok: false, reason: `denied: telegram method ${name}: ${why}` });
  const out = rule.preview ? withPreviewPinned(params, lowerKeys(params), policy.hosts) : { ...params };
  const p = structured(lowerKeys(out));

  if (rule.answers) {
    const id = p[rule.answers];
    if (id === undefined || !(policy.answerable?.(name.toLowerCase(), String(id)) ?? false))
      return deny(`${rule.answers} was not delivered by the relay`);
  }
  if (p.inline_message_id !== undefined) return deny("inline messages live in chats the relay cannot check");
  if (rule.chat && p.chat_id === undefined) return deny("no chat_id to check");
  const problem =
    partyProblem("", p, policy) ??
    filesProblem(rule.files ?? [], p, policy.hosts) ??
    (rule.media ? mediaProblem(p.media, policy.hosts) : undefined);
  if (problem) return deny(problem);
  if (!rule.menu) return { ok: true, calls: [out] };
  const calls = narrowedScope(out, p.scope, policy.allowlist);
  return typeof calls === "string" ? deny(calls) : { ok: true, calls };
}

// The chat a call is about, for the audit line.
export const targetChat = (params: Readonly<Record<string, unknown>>) =>
  chatIdOf(params.chat_id) ?? chatIdOf(params.user_id);
