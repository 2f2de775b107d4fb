// `moat gateway denials`: read the audit trail back, group recent refusals (and report-mode
// passes, which are refusals-to-be) by host and reason, and suggest the allowlist entries
// that would have let them through. Address-class refusals get an explanation, never a
// suggestion: they cannot be allowlisted.
import { existsSync, readFileSync } from "node:fs";
import { ADDRESS_TABLE } from "../spec/addresses.js";
import type { AuditEntry } from "./audit.js";

interface DenialRow {
  host: string;
  port: number;
  code: string;
  decision: string;
  count: number;
  last: string;
  reason: string;
}

export interface DenialSummary {
  rows: DenialRow[];
  allow: string[];
  allowCidrs: string[];
  scanned: number;
}

const SUGGESTIBLE = new Set(["not-allowlisted", "report-unlisted", "ip-literal"]);
const SNI_CODES = new Set(["sni-mismatch", "sni-missing", "ech-refused", "not-tls"]);
const OPENABLE_CLASSES = new Set(ADDRESS_TABLE.filter((r) => r.openable).map((r) => `class:${r.class}`));

// Rotated files (file.N … file.1) first, so lines come oldest to newest.
export function readAuditLines(file: string, keep = 9): string[] {
  const files: string[] = [];
  for (let i = keep; i >= 1; i--) if (existsSync(`${file}.${i}`)) files.push(`${file}.${i}`);
  if (existsSync(file)) files.push(file);
  if (files.length === 0) throw new Error(`no audit log at ${file}`);
  return files.flatMap((f) => readFileSync(f, "utf8").split("\n"));
}

export function summariseDenials(lines: Iterable<string>, sinceMs: number, now = Date.now()): DenialSummary {
  const cutoff = now - sinceMs;
  const groups = new Map<string, DenialRow>();
  let scanned = 0;
  for (const line of lines) {
    if (!line.trim()) continue;
    let e: AuditEntry & { time?: string };
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    scanned++;
    // A tunnel's open line is followed by its close line; count the tunnel once.
    if (e.phase === "open" || (e.decision !== "deny" && e.decision !== "report")) continue;
    // Host apply's own pulls (pull-listener.ts): egress.allow has no say there.
    if (e.listener === "pull") continue;
    const t = e.time ? Date.parse(e.time) : Number.NaN;
    if (!(t >= cutoff)) continue;
    const key = `${e.host}|${e.port}|${e.code}`;
    const row = groups.get(key);
    if (row) {
      row.count++;
      row.last = e.time ?? row.last;
      row.reason = e.reason;
    } else {
      groups.set(key, {
        host: e.host,
        port: e.port,
        code: e.code,
        decision: e.decision,
        count: 1,
        last: e.time ?? "",
        reason: e.reason,
      });
    }
  }
  const rows = [...groups.values()].sort((a, b) => b.count - a.count || a.host.localeCompare(b.host));
  const allow = new Set<string>();
  const allowCidrs = new Set<string>();
  for (const r of rows) {
    if (!SUGGESTIBLE.has(r.code) || !r.host) continue;
    if (r.code === "ip-literal" || /^[\d.]+$|:/.test(r.host))
      allowCidrs.add(r.host.includes(":") ? `${r.host}/128` : `${r.host}/32`);
    else allow.add(r.host);
  }
  return { rows, allow: [...allow].sort(), allowCidrs: [...allowCidrs].sort(), scanned };
}

export function formatDenials(s: DenialSummary, file: string, sinceText: string): string {
  const out: string[] = [];
  if (s.rows.length === 0) {
    out.push(`No denials in the last ${sinceText} (${s.scanned} decisions read from ${file}).`);
    return `${out.join("\n")}\n`;
  }
  out.push(`Denials in the last ${sinceText} (${s.scanned} decisions read from ${file}):`, "");
  const hostWidth = Math.min(48, Math.max(4, ...s.rows.map((r) => r.host.length)));
  out.push(`  ${"COUNT".padStart(6)}  ${"HOST".padEnd(hostWidth)}  ${"PORT".padStart(5)}  REASON`);
  for (const r of s.rows) {
    const what = r.decision === "report" ? `${r.code} (passed in report mode)` : r.code;
    out.push(
      `  ${String(r.count).padStart(6)}  ${r.host.padEnd(hostWidth)}  ${String(r.port).padStart(5)}  ${what}`,
    );
  }
  if (s.rows.some((r) => r.code === "port")) {
    out.push(
      "",
      "Port refusals: add the port to egress.connectPorts (CONNECT) or egress.httpPorts (plain HTTP).",
    );
  }
  if (s.rows.some((r) => OPENABLE_CLASSES.has(r.code))) {
    out.push(
      "",
      "Private-range refusals can be opened with egress.allowCidrs (never link-local or metadata).",
    );
  }
  if (s.rows.some((r) => SNI_CODES.has(r.code))) {
    out.push(
      "",
      "TLS refusals (sni-*, ech-refused, not-tls): the tunnel's first bytes did not name its CONNECT host,",
      "which no allowlist entry fixes. A port that carries no TLS goes in egress.plainConnectPorts;",
      "a name that needs Encrypted Client Hello goes in egress.echAllow.",
    );
  }
  if (s.rows.some((r) => r.code.startsWith("class:") && !OPENABLE_CLASSES.has(r.code))) {
    out.push("", "Loopback, link-local and metadata refusals never open: they are the perimeter working.");
  }
  if (s.allow.length > 0 || s.allowCidrs.length > 0) {
    out.push("", "Suggested moat.yaml addition (review each entry before adding it):", "", "egress:");
    if (s.allow.length > 0) out.push("  allow:", ...s.allow.map((h) => `    - ${h}`));
    if (s.allowCidrs.length > 0) out.push("  allowCidrs:", ...s.allowCidrs.map((c) => `    - ${c}`));
  }
  return `${out.join("\n")}\n`;
}
