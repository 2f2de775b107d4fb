// Finds the owner's numeric Telegram id: the owner sends their new bot any message, and one
// long-polling getUpdates call returns it with the sender's id and name.
//
// It confirms nothing. Per https://core.telegram.org/bots/api#getupdates an update is confirmed
// (deleted) "as soon as getUpdates is called with an offset higher than its update_id", and a
// negative offset forgets all earlier ones; this call sends no offset at all, so the owner's
// message stays queued (for 24 hours) for the gateway to relay to the agent later. It sends no
// allowed_updates either: "if not specified, the previous setting will be used", so the bot's
// update filter is left as it was.
import { existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { MoatError } from "../errors.js";

export class TelegramProblem extends MoatError {
  override readonly name = "TelegramProblem";
  readonly code = "MOAT_TELEGRAM";
}

const TELEGRAM_API = "https://api.telegram.org";
// A testing seam: the tests point this at a fake Bot API on loopback. Anything but a loopback
// address is refused, so a stray variable cannot send a real token somewhere else.
export const TELEGRAM_API_ENV = "MOAT_TELEGRAM_API";
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

export function telegramApiBase(env: NodeJS.ProcessEnv): { base: string; seam: boolean } {
  const override = env[TELEGRAM_API_ENV];
  if (!override) return { base: TELEGRAM_API, seam: false };
  let url: URL;
  try {
    url = new URL(override);
  } catch {
    throw new TelegramProblem(`${TELEGRAM_API_ENV}: "${override}" is not a URL`);
  }
  if (!LOOPBACK.has(url.hostname) || !["http:", "https:"].includes(url.protocol))
    throw new TelegramProblem(
      `${TELEGRAM_API_ENV} is a testing seam for a fake Bot API on loopback; it refuses ${url.protocol}//${url.host} (unset it to talk to ${TELEGRAM_API})`,
    );
  return { base: url.origin, seam: true };
}

// The token from the environment, else from a .env file (KEY=value lines, as `moat init` writes
// its .env.example). Only its shape is checked; it is never printed.
export function readBotToken(envName: string, env: NodeJS.ProcessEnv, dotEnvFile: string): string {
  const fromFile = existsSync(dotEnvFile) ? parseEnv(readFileSync(dotEnvFile, "utf8"))[envName] : undefined;
  const token = env[envName] || fromFile;
  if (!token)
    throw new TelegramProblem(
      `${envName} is not set and ${dotEnvFile} has no ${envName}=; put the token BotFather gave you there`,
    );
  if (!/^\d{1,20}:[A-Za-z0-9_-]{20,}$/.test(token))
    throw new TelegramProblem(
      `${envName} does not look like a bot token (digits, a colon, then letters); copy it again from BotFather`,
    );
  return token;
}

export interface Sender {
  id: number;
  name: string;
  username?: string;
}

// The people (not bots) who wrote to the bot, first writer first, each once.
function sendersIn(updates: unknown[]): Sender[] {
  const seen = new Map<number, Sender>();
  for (const u of updates) {
    // What a person's first contact produces: a message (Start sends "/start"), an edit, or the
    // bot being added to their chat.
    const { message, edited_message, my_chat_member } = u as Record<
      string,
      { from?: Record<string, unknown> }
    >;
    const from = (message ?? edited_message ?? my_chat_member)?.from;
    if (!from || from.is_bot || typeof from.id !== "number" || seen.has(from.id)) continue;
    const name = [from.first_name, from.last_name].filter((p) => typeof p === "string").join(" ");
    seen.set(from.id, {
      id: from.id,
      name,
      ...(typeof from.username === "string" && { username: from.username }),
    });
  }
  return [...seen.values()];
}

export const describeSender = (s: Sender) => `${s.id} (${s.name}${s.username ? `, @${s.username}` : ""})`;

interface BotReply {
  ok: boolean;
  result?: unknown;
  error_code?: number;
  description?: string;
}

export interface BotApi {
  base: string;
  token: string;
  fetch?: typeof fetch;
}

async function call(api: BotApi, method: string, query: string, deadlineMs: number): Promise<unknown> {
  const doFetch = api.fetch ?? fetch;
  // The token is part of the path; keep it out of every message.
  const hide = (text: string) => text.split(api.token).join("<token>");
  let reply: BotReply;
  try {
    const res = await doFetch(`${api.base}/bot${api.token}/${method}${query}`, {
      signal: AbortSignal.timeout(deadlineMs),
    });
    reply = (await res.json()) as BotReply;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new TelegramProblem(
      hide(`${method}: no answer from ${api.base} (${(err as Error).message}${cause ? `: ${cause}` : ""})`),
    );
  }
  if (reply.ok) return reply.result;
  const why = hide(`${reply.error_code ?? "?"} ${reply.description ?? ""}`.trim());
  if (reply.error_code === 401 || reply.error_code === 404)
    throw new TelegramProblem(`the Bot API refused the token (${why}); copy it again from BotFather`);
  if (reply.error_code === 409)
    throw new TelegramProblem(
      `${method}: ${why}; a webhook or another poller (a running Moat gateway?) has this bot; stop it and try again`,
    );
  throw new TelegramProblem(`${method}: ${why}`);
}

export async function botName(api: BotApi): Promise<string> {
  const me = (await call(api, "getMe", "", 15_000)) as { username?: string; first_name?: string };
  return me.username ? `@${me.username}` : (me.first_name ?? "your bot");
}

// One getUpdates call that waits up to timeoutS for a message, with no offset (see above).
export async function waitForSenders(api: BotApi, timeoutS: number): Promise<Sender[]> {
  const updates = await call(api, "getUpdates", `?timeout=${timeoutS}`, (timeoutS + 15) * 1000);
  return sendersIn(Array.isArray(updates) ? updates : []);
}
