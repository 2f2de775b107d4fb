// The bot's command menu. A menu set for a broad scope (default, all private chats, all groups)
// is shown to every Telegram user who opens the bot — a public page the agent could rewrite at
// will, a dead drop any stranger reads. OpenClaw sets its menu for the default scope and all
// group chats at start-up, so the relay keeps the menu and narrows where it shows: a broad scope
// becomes one call per allowlisted chat it covers, and those chats see exactly what they would
// have seen.
import type { TelegramAllowlist } from "./updates.js";

type Json = Record<string, unknown>;

// Scope type → the per-chat scope type and which allowlisted chats it covers.
const BROAD: Record<string, [perChat: string, covers: "all" | "users" | "groups"]> = {
  default: ["chat", "all"],
  all_private_chats: ["chat", "users"],
  all_group_chats: ["chat", "groups"],
  all_chat_administrators: ["chat_administrators", "groups"],
};
const NARROW = new Set(["chat", "chat_administrators", "chat_member"]);

// The calls that carry `params` out, or why the scope cannot be narrowed. `scope` is the parsed
// value of params.scope; its chat_id and user_id are checked with every other party.
export function narrowedScope(
  params: Readonly<Json>,
  scope: unknown,
  allowlist: TelegramAllowlist,
): Json[] | string {
  const type = scope === undefined ? "default" : (scope as Json | null)?.type;
  if (typeof type === "string" && NARROW.has(type)) return [{ ...params }];
  const broad = typeof type === "string" ? BROAD[type] : undefined;
  if (!broad) return `scope ${JSON.stringify(type ?? scope)} is not a command scope`;
  const [perChat, covers] = broad;
  const users = covers === "groups" ? [] : [...allowlist.users];
  const groups = covers === "users" ? [] : [...allowlist.chats];
  const rest = Object.fromEntries(Object.entries(params).filter(([k]) => k.toLowerCase() !== "scope"));
  return [...users, ...groups].map((chat_id) => ({ ...rest, scope: { type: perChat, chat_id } }));
}
