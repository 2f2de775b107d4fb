// `moat lab chat`: one Telegram message from a chosen user into the lab's fake Bot API, and what
// came of it — the agent's reply (its sendMessage calls through the relay, as the fake recorded
// them), or, for a sender outside the allowlist, the gateway's drop from its audit trail on the VM.
// What the gateway refused while the agent worked on the message (a tool call to an unlisted
// host, say) comes with the reply, so the perimeter's part in the exchange is visible.
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_AUDIT_LOG } from "../gateway/audit.js";
import { terminalSafe } from "../gateway/audit-format.js";
import type { MoatSpec } from "../spec/schema.js";
import { EVENTS_FILE } from "./cloud.js";
import { readFromLabVm } from "./exec.js";
import { LabError, type LabState, pushTelegramUpdates, stateDir } from "./lab.js";

export interface Sender {
  id: number;
  role: "owner" | "stranger" | "listed" | "unlisted";
  allowed: boolean;
}

const STRANGER_BASE = 222222;

// `--as owner|stranger|ID` against the spec's Telegram allowlist.
export function resolveSender(spec: MoatSpec, as: string): Sender {
  const telegram = spec.messengers.telegram;
  if (!telegram)
    throw new LabError("messengers.telegram is not set: moat lab chat talks to the agent through Telegram");
  const allow = telegram.allowFrom;
  if (as === "owner") return { id: allow[0] as number, role: "owner", allowed: true };
  if (as === "stranger") {
    let id = STRANGER_BASE;
    while (allow.includes(id)) id++;
    return { id, role: "stranger", allowed: false };
  }
  if (!/^[1-9]\d{0,15}$/.test(as))
    throw new LabError(`--as ${as}: expected owner, stranger or a numeric Telegram user id`);
  const id = Number(as);
  return allow.includes(id)
    ? { id, role: "listed", allowed: true }
    : { id, role: "unlisted", allowed: false };
}

export const describeSender = (s: Sender) =>
  `${s.role === "listed" || s.role === "unlisted" ? "user" : s.role} ${s.id}${s.allowed ? "" : " (not in messengers.telegram.allowFrom)"}`;

// A private message as Telegram delivers it in getUpdates.
const directMessage = (from: number, text: string) => ({
  message: {
    message_id: Math.floor(Math.random() * 1e9),
    date: Math.floor(Date.now() / 1000),
    chat: { id: from, type: "private", first_name: `lab user ${from}` },
    from: { id: from, is_bot: false, first_name: `lab user ${from}` },
    text,
  },
});

export type LabEvent = Record<string, unknown> & { at?: string; kind?: string };

const params = (e: LabEvent) => (e.params ?? {}) as Record<string, unknown>;

// What the bot has said in this chat by now: its messages in order, with edits applied and
// deleted ones gone (OpenClaw posts a "Working" note while a tool runs and deletes it after),
// and when it last did anything there (typing included).
export function conversationWith(events: LabEvent[], chat: number) {
  const replies = new Map<number, { text: string; at: number }>();
  let lastActivity = 0;
  for (const [i, e] of events.entries()) {
    if (e.kind !== "telegram" || Number(params(e).chat_id) !== chat) continue;
    const at = Date.parse(String(e.at));
    lastActivity = at;
    const id = Number(e.messageId ?? params(e).message_id ?? -i);
    if (e.method === "sendMessage") replies.set(id, { text: String(params(e).text ?? ""), at });
    if (e.method === "editMessageText" && replies.has(id))
      replies.set(id, { text: String(params(e).text ?? ""), at });
    if (e.method === "deleteMessage") replies.delete(id);
  }
  return { replies: [...replies.values()], lastActivity };
}

export type AuditLine = Record<string, unknown>;

// Audit lines that are refusals: the egress policy's denials and the Telegram relay's drops and refusals.
export const isRefusal = (a: AuditLine) =>
  a.decision === "deny" || a.event === "telegram.drop" || a.event === "telegram.refuse";

// Escaped for the terminal (audit-format.ts): hosts, paths and reasons in the trail are the agent's.
export const formatAudit = (a: AuditLine): string => terminalSafe(auditText(a));

function auditText(a: AuditLine): string {
  const when = typeof a.time === "number" ? new Date(a.time).toISOString().slice(11, 23) : "";
  if (a.event === "telegram.drop")
    return `${when} telegram.drop: update ${a.updateId} (${a.updateType}) from ${a.senderId ?? "?"}: ${a.reason}`;
  if (a.event === "telegram.refuse")
    return `${when} telegram.refuse: ${a.method}${a.chatId !== undefined ? ` to chat ${a.chatId}` : ""}: ${a.reason}`;
  const where = a.port !== undefined ? `${a.host}:${a.port}` : String(a.host ?? "");
  return `${when} ${a.decision} ${a.method ?? ""} ${where}: ${a.code ?? ""}${a.reason ? ` (${a.reason})` : ""}`;
}

// Appended lines of a file read from a byte offset, parsed as JSON lines.
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

class EventsTail {
  private readonly file: string;
  private offset: number;
  constructor(name: string) {
    this.file = join(stateDir(name), EVENTS_FILE);
    this.offset = existsSync(this.file) ? statSync(this.file).size : 0;
  }
  // Every event since construction (complete lines only).
  readonly seen: LabEvent[] = [];
  poll(): LabEvent[] {
    const size = existsSync(this.file) ? statSync(this.file).size : 0;
    if (size <= this.offset) return this.seen;
    const buf = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, "r");
    readSync(fd, buf, 0, buf.length, this.offset);
    closeSync(fd);
    const text = buf.toString("utf8");
    const complete = text.lastIndexOf("\n") + 1;
    this.offset += Buffer.byteLength(text.slice(0, complete));
    this.seen.push(...(jsonLines(text.slice(0, complete)) as LabEvent[]));
    return this.seen;
  }
}

class AuditTail {
  private offset: number;
  constructor(private readonly state: LabState) {
    this.offset = Number(this.read(["stat", "-c", "%s", DEFAULT_AUDIT_LOG]).trim()) || 0;
  }
  private read(argv: string[]): string {
    return readFromLabVm(this.state, argv).stdout;
  }
  poll(): AuditLine[] {
    return jsonLines(this.read(["tail", "-c", `+${this.offset + 1}`, DEFAULT_AUDIT_LOG]));
  }
}

export type ChatOutcome =
  | { kind: "reply"; replies: { text: string; ms: number }[]; refusals: AuditLine[] }
  | { kind: "dropped"; drops: AuditLine[]; ms: number }
  | { kind: "stranger-answered"; replies: { text: string; ms: number }[] }
  | { kind: "timeout"; timeoutMs: number; polls: number; refusals: AuditLine[] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The agent's answer is complete once it has been quiet in the chat this long (OpenClaw types
// every few seconds while it works).
const SETTLE_MS = 4000;
// After the gateway's drop: how long a reply to the stranger is still watched for.
const STRANGER_GRACE_MS = 3000;

export async function chatOnce(
  state: LabState,
  sender: Sender,
  text: string,
  timeoutMs: number,
): Promise<ChatOutcome> {
  const events = new EventsTail(state.name);
  const audit = new AuditTail(state);
  const [updateId] = await pushTelegramUpdates(state.name, [directMessage(sender.id, text)]);
  const pushed = Date.now();
  const deadline = pushed + timeoutMs;
  const replies = () => {
    const c = conversationWith(events.poll(), sender.id);
    return { ...c, replies: c.replies.map((r) => ({ text: r.text, ms: r.at - pushed })) };
  };
  let droppedAt = 0;
  let drops: AuditLine[] = [];
  let lastAuditPoll = 0;
  while (Date.now() < deadline) {
    await sleep(200);
    const got = replies();
    if (got.replies.length && Date.now() - got.lastActivity > SETTLE_MS) {
      if (!sender.allowed) return { kind: "stranger-answered", replies: got.replies };
      return { kind: "reply", replies: got.replies, refusals: audit.poll().filter(isRefusal) };
    }
    if (sender.allowed || Date.now() - lastAuditPoll < 1000) continue;
    lastAuditPoll = Date.now();
    if (!droppedAt) {
      drops = audit
        .poll()
        .filter((a) => a.event === "telegram.drop" && (a.updateId === updateId || a.senderId === sender.id));
      if (drops.length) droppedAt = Date.now();
    } else if (Date.now() - droppedAt > STRANGER_GRACE_MS) {
      const at = drops[0]?.time;
      return { kind: "dropped", drops, ms: (typeof at === "number" ? at : droppedAt) - pushed };
    }
  }
  const late = replies();
  if (sender.allowed && late.replies.length)
    return { kind: "reply", replies: late.replies, refusals: audit.poll().filter(isRefusal) };
  const polls = events.poll().filter((e) => e.kind === "telegram" && e.method === "getUpdates").length;
  return { kind: "timeout", timeoutMs, polls, refusals: audit.poll().filter(isRefusal) };
}
