// The audit trail for people: one readable line per record (time, who, what, verdict, detail),
// and the filters `moat logs` and `moat lab logs` apply. Pure. Every value printed comes from a
// line the gateway wrote, and many of those values are the agent's (a malformed target, an SNI,
// a path): they are printed escaped, so no record can move the cursor, retitle the terminal or
// hide text on the owner's screen.

export type AuditRecord = Record<string, unknown>;
export type Verdict = "allow" | "open" | "report" | "deny" | "error" | "suppressed";

// C0 and C1 controls, DEL, and the characters that reorder or hide text (bidi overrides and
// isolates, line separators): none of them belongs on a log line. The backslash is escaped too,
// so an escape printed here can never be confused with one the agent typed.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === "\\") return "\\\\";
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

export function parseAuditLine(line: string): AuditRecord | undefined {
  if (!line.trim()) return undefined;
  try {
    const r = JSON.parse(line) as unknown;
    return r && typeof r === "object" && !Array.isArray(r) ? (r as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

const LLM_VERDICT: Record<string, Verdict> = {
  forwarded: "allow",
  refused: "deny",
  over_budget: "deny",
  upstream_error: "error",
  client_closed: "error",
};

function verdictOf(r: AuditRecord): Verdict {
  switch (r.event) {
    case "llm.call":
      return LLM_VERDICT[str(r.outcome)] ?? "error";
    case "telegram.call":
      return "allow";
    case "telegram.refuse":
    case "telegram.drop":
      return "deny";
  }
  if (r.decision === "allow" && r.phase === "open") return "open";
  const d = str(r.decision);
  return d === "allow" || d === "report" || d === "deny" || d === "suppressed" ? d : "error";
}

// --denied: what the gateway refused, and the counts of refusals the volume limit left out.
// Report-mode passes went out, and errors (a name that did not resolve, an upstream that did
// not answer) are failures, not decisions: neither is a refusal.
export const isRefusal = (r: AuditRecord) => {
  const v = verdictOf(r);
  return v === "deny" || v === "suppressed";
};

export interface LogFilter {
  // Only records at or after this instant (ms since the epoch).
  since?: number;
  denied?: boolean;
}

export function keepRecord(r: AuditRecord, f: LogFilter): boolean {
  if (f.since !== undefined) {
    const t = Date.parse(str(r.time));
    if (!(t >= f.since)) return false;
  }
  return !f.denied || isRefusal(r);
}

function who(r: AuditRecord): string {
  if (r.listener === "pull") return "host apply (pull)";
  if (r.event === "telegram.drop") return r.senderId !== undefined ? `tg:${str(r.senderId)}` : "telegram";
  if (typeof r.event === "string") return "agent";
  return str(r.client) || "?";
}

const chat = (r: AuditRecord) => (r.chatId !== undefined ? ` chat ${str(r.chatId)}` : "");

function what(r: AuditRecord): string {
  switch (r.event) {
    case "llm.call":
      return `llm ${str(r.provider)} ${str(r.method)} ${str(r.path)}${r.model ? ` (${str(r.model)})` : ""}`;
    case "telegram.call":
    case "telegram.refuse":
      return `telegram ${str(r.method)}${chat(r)}`;
    case "telegram.drop":
      return `telegram update ${str(r.updateType)}${chat(r)}`;
  }
  if (r.decision === "suppressed") return "audit volume";
  const target = r.host || r.port ? `${str(r.host)}:${str(r.port)}` : "(no target)";
  const sni = r.sni && r.sni !== r.host ? ` sni ${str(r.sni)}` : "";
  const addr = r.addr && r.addr !== r.host ? ` → ${str(r.addr)}` : "";
  return `${str(r.method) || "?"} ${target}${addr}${sni}`;
}

const usd = (v: unknown) => `$${(num(v) ?? 0).toFixed(4)}`;

function detail(r: AuditRecord, v: Verdict): string {
  if (r.event === "llm.call") {
    if (v === "allow")
      return `${str(r.status)}, ${num(r.inputTokens) ?? 0} in / ${num(r.outputTokens) ?? 0} out tokens, ${usd(r.costUsd)} (today ${usd(r.spentTodayUsd)}), ${str(r.durationMs)} ms`;
    return `${str(r.outcome)}: ${str(r.reason) || str(r.status)}`;
  }
  if (r.event === "telegram.call") {
    const counts =
      r.delivered !== undefined ? `, ${str(r.delivered)} delivered, ${str(r.dropped ?? 0)} dropped` : "";
    return `${str(r.status)}${counts}, ${str(r.durationMs)} ms`;
  }
  if (typeof r.event === "string") return str(r.reason);
  if (v === "allow" || v === "report") {
    const moved = `${str(r.status)}, up ${num(r.up) ?? 0} B, down ${num(r.down) ?? 0} B, ${str(r.ms)} ms`;
    return v === "report" ? `${str(r.code)} (passed in report mode); ${moved}` : moved;
  }
  if (v === "open") return "tunnel open";
  if (v === "suppressed") return str(r.reason);
  return `${str(r.code)}: ${str(r.reason)}`;
}

// "2026-12-03T16:22:53.123Z" → "2026-12-03 16:22:53Z": the day and the second are what a person reads.
function when(r: AuditRecord): string {
  const t = str(r.time);
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(t);
  return m ? `${m[1]} ${m[2]}Z` : t || "(no time)";
}

export interface FormatOptions {
  // The seam the tests use to show the escaping is what keeps the screen clean.
  escape?: (text: string) => string;
}

export function formatRecord(r: AuditRecord, opts: FormatOptions = {}): string {
  const esc = opts.escape ?? terminalSafe;
  const v = verdictOf(r);
  const cells = [when(r), who(r).padEnd(15), what(r), v.toUpperCase(), detail(r, v)];
  return cells.map((c) => esc(c)).join("  ");
}
