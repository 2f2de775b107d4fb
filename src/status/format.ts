// `moat status` as text: one line per part of the VM, worst news in words. Pure.
import { terminalSafe } from "../gateway/audit-format.js";
import type { VmStatus } from "./vm-status.js";

type Paint = (style: "green" | "red" | "yellow" | "dim", text: string) => string;

// What makes `moat status` exit 1: the agent is not running, the gateway is not active, or the
// last verify did not hold.
export function vmProblems(s: VmStatus): string[] {
  const out: string[] = [];
  if (s.agent.state !== "running") out.push(`agent container ${s.agent.container} is ${s.agent.state}`);
  if (!s.gateway.active.startsWith("active")) out.push(`${s.gateway.unit} is ${s.gateway.active}`);
  if (s.lastVerify && !s.lastVerify.summary.ok) out.push("the last moat verify failed");
  return out;
}

export function ago(iso: string, now: Date): string {
  const s = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return "";
  if (s < 0) return " (in the future)";
  const [n, unit] =
    s < 120
      ? [s, "s"]
      : s < 7200
        ? [Math.round(s / 60), "min"]
        : s < 172_800
          ? [Math.round(s / 3600), "h"]
          : [Math.round(s / 86_400), "d"];
  return ` (${n} ${unit} ago)`;
}

// To the second: docker gives nanoseconds, which no one reads.
const toSecond = (iso: string) => iso.replace(/\.\d+Z$/, "Z");

// Every value is escaped before it is painted: container states, unit states and check details
// come from docker, systemd and verify, and nothing raw should reach the owner's screen.
export function formatVmStatus(s: VmStatus, now: Date, paint: Paint = (_, t) => t): string {
  const e = terminalSafe;
  const since = (iso?: string) => (iso ? ` since ${e(toSecond(iso))}${ago(iso, now)}` : "");
  const a = s.agent;
  const agentWord = paint(a.state === "running" ? "green" : "red", e(a.state));
  const extras = [
    a.health && `health ${a.health}`,
    a.restarts ? `${a.restarts} restarts` : undefined,
    a.exitCode !== undefined ? `exit ${a.exitCode}` : undefined,
    a.problem,
  ].filter(Boolean);
  const g = s.gateway;
  const gwWord = paint(g.active.startsWith("active") ? "green" : "red", e(g.active));
  const tunnels = g.openTunnels !== undefined ? `, ${g.openTunnels} open tunnels` : `, ${e(g.metrics)}`;
  const lines = [
    `${e(s.name)} on this VM`,
    `  agent    ${e(a.container)} ${agentWord}${since(a.since)}${extras.length ? ` (${e(extras.join(", "))})` : ""}`,
    `  gateway  ${g.unit} ${gwWord}${since(g.since)}${g.restarts ? `, ${g.restarts} restarts` : ""}${tunnels}`,
  ];
  if (s.spend.length === 0) lines.push("  spend    no LLM providers");
  for (const p of s.spend) {
    const limit = p.dailyUsd !== undefined ? ` of $${p.dailyUsd.toFixed(2)}` : " (no budget)";
    const spent =
      p.dailyUsd !== undefined && p.todayUsd >= p.dailyUsd
        ? ` ${paint("red", "spent: 429 until midnight UTC")}`
        : "";
    const from =
      p.source === "state file"
        ? paint("dim", " (from the state file: the gateway's metrics did not answer)")
        : "";
    lines.push(
      `  spend    ${e(p.provider)}: $${p.todayUsd.toFixed(4)}${limit} today (${s.day} UTC)${spent}${from}`,
    );
  }
  const v = s.lastVerify;
  if (!v) lines.push(`  verify   ${paint("yellow", "never run here")} (sudo moat verify)`);
  else {
    const word = v.summary.ok ? paint("green", "perimeter holds") : paint("red", "perimeter NOT verified");
    const part = v.only ? ` (only ${e(v.only.join(", "))})` : "";
    lines.push(
      `  verify   ${word} at ${e(toSecond(v.at))}${ago(v.at, now)}: ${v.summary.passed} passed, ${v.summary.failed} failed, ${v.summary.skipped} skipped${part}`,
    );
    for (const f of v.failed)
      lines.push(`           ✗ ${e(f.id)}: ${e(f.detail)}${f.required ? "" : " (advisory)"}`);
  }
  return `${lines.join("\n")}\n`;
}
