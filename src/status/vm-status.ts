// `moat status` on the VM: what the owner wants to know at a glance. The agent's container
// (running? since when?), the gateway's unit and, from its metrics on loopback, its open tunnels
// and today's spend per provider against the budget, and the last `moat verify`. Parsing is pure
// (the tests feed it text); observe() is the thin shell that reads the live system.
import { readFileSync } from "node:fs";
import { utcDay } from "../gateway/llm/budget.js";
import { budgetFile, budgetLimits } from "../gateway/llm/routes.js";
import { agentContainerName } from "../render/compose.js";
import { agentCommand } from "../render/paths.js";
import { GATEWAY_UNIT } from "../render/systemd.js";
import type { MoatSpec } from "../spec/schema.js";
import { type LastVerify, readLastVerify } from "../verify/last-result.js";
import { sh } from "../verify/shell.js";

export interface AgentState {
  container: string;
  // docker's State.Status (running, exited, restarting, …), or "absent".
  state: string;
  since?: string;
  health?: string;
  restarts?: number;
  exitCode?: number;
  problem?: string;
}

export interface GatewayState {
  unit: string;
  active: string;
  since?: string;
  restarts?: number;
  openTunnels?: number;
  metrics: string;
}

export interface Spend {
  provider: string;
  todayUsd: number;
  dailyUsd?: number;
  source: "metrics" | "state file";
}

export interface VmStatus {
  name: string;
  day: string;
  agent: AgentState;
  gateway: GatewayState;
  spend: Spend[];
  lastVerify: LastVerify | null;
}

interface DockerInspect {
  RestartCount?: number;
  State?: {
    Status?: string;
    StartedAt?: string;
    FinishedAt?: string;
    ExitCode?: number;
    Health?: { Status?: string };
  };
}

export function agentFromInspect(container: string, json: string): AgentState {
  let inspect: DockerInspect | undefined;
  try {
    inspect = (JSON.parse(json) as DockerInspect[])[0];
  } catch {}
  const s = inspect?.State;
  if (!s?.Status) return { container, state: "absent" };
  const running = s.Status === "running";
  return {
    container,
    state: s.Status,
    ...((running ? s.StartedAt : s.FinishedAt) && { since: running ? s.StartedAt : s.FinishedAt }),
    ...(s.Health?.Status && { health: s.Health.Status }),
    ...(inspect?.RestartCount !== undefined && { restarts: inspect.RestartCount }),
    ...(!running && s.ExitCode !== undefined && { exitCode: s.ExitCode }),
  };
}

// `systemctl show --timestamp=utc` KEY=VALUE lines.
export function gatewayFromSystemd(text: string): Pick<GatewayState, "active" | "since" | "restarts"> {
  const kv = Object.fromEntries(
    text
      .split("\n")
      .map((l) => l.match(/^(\w+)=(.*)$/))
      .flatMap((m) => (m ? [[m[1], m[2]]] : [])),
  ) as Record<string, string>;
  const active = kv.ActiveState ? `${kv.ActiveState}${kv.SubState ? ` (${kv.SubState})` : ""}` : "unknown";
  const t = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC/.exec(kv.ActiveEnterTimestamp ?? "");
  const restarts = Number(kv.NRestarts);
  return {
    active,
    ...(t && kv.ActiveState === "active" && { since: `${t[1]}T${t[2]}Z` }),
    ...(kv.NRestarts !== undefined && Number.isInteger(restarts) && { restarts }),
  };
}

// The few series status reads from the gateway's Prometheus text.
export function parseMetrics(text: string): {
  openTunnels?: number;
  spentToday: Record<string, number>;
  dailyBudget: Record<string, number>;
} {
  const out = { spentToday: {} as Record<string, number>, dailyBudget: {} as Record<string, number> };
  let openTunnels: number | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\w+)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const [, name, labels = "", value] = m;
    const provider = /provider="([^"]*)"/.exec(labels)?.[1];
    const v = Number(value);
    if (!Number.isFinite(v)) continue;
    if (name === "moat_gateway_active_tunnels") openTunnels = v;
    else if (name === "moat_llm_spend_today_usd" && provider !== undefined) out.spentToday[provider] = v;
    else if (name === "moat_llm_budget_daily_usd" && provider !== undefined) out.dailyBudget[provider] = v;
  }
  return { ...out, ...(openTunnels !== undefined && { openTunnels }) };
}

// From the metrics when the gateway answers; else from the state file it keeps (today's only).
export function spendOf(
  spec: MoatSpec,
  metrics: ReturnType<typeof parseMetrics> | undefined,
  stateFile: string | undefined,
  day: string,
): Spend[] {
  const limits = budgetLimits(spec);
  let fromFile: Record<string, number> = {};
  if (!metrics && stateFile) {
    try {
      const s = JSON.parse(stateFile) as { day?: string; spentUsd?: Record<string, number> };
      if (s.day === day && s.spentUsd) fromFile = s.spentUsd;
    } catch {}
  }
  return spec.llm.map((p) => {
    const dailyUsd = limits[p.name];
    return {
      provider: p.name,
      todayUsd: metrics ? (metrics.spentToday[p.name] ?? 0) : (fromFile[p.name] ?? 0),
      ...(dailyUsd !== undefined && { dailyUsd }),
      source: metrics ? "metrics" : "state file",
    };
  });
}

async function fetchMetrics(port: number): Promise<{ text?: string; problem?: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return { problem: `metrics answered ${res.status}` };
    return { text: await res.text() };
  } catch (err) {
    return { problem: `no metrics on 127.0.0.1:${port} (${(err as Error).message})` };
  }
}

const readText = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

export async function observeVmStatus(spec: MoatSpec, now = new Date()): Promise<VmStatus> {
  const container = agentContainerName(spec);
  const docker = agentCommand(spec, ["docker", "inspect", container]);
  const [inspect, unit, metrics] = await Promise.all([
    sh(docker.argv, { env: docker.env }),
    sh([
      "systemctl",
      "show",
      GATEWAY_UNIT,
      "--timestamp=utc",
      "--property=ActiveState,SubState,ActiveEnterTimestamp,NRestarts",
    ]),
    fetchMetrics(spec.gateway.metricsPort),
  ]);
  const agent = agentFromInspect(container, inspect.stdout);
  if (agent.state === "absent" && inspect.code !== 0 && !/no such (object|container)/i.test(inspect.stderr))
    agent.problem = inspect.stderr.trim().split("\n").at(-1) ?? `docker inspect exited ${inspect.code}`;
  const parsed = metrics.text !== undefined ? parseMetrics(metrics.text) : undefined;
  const day = utcDay(now);
  return {
    name: spec.name,
    day,
    agent,
    gateway: {
      unit: GATEWAY_UNIT,
      ...gatewayFromSystemd(unit.stdout),
      ...(parsed?.openTunnels !== undefined && { openTunnels: parsed.openTunnels }),
      metrics: metrics.problem ?? "ok",
    },
    spend: spendOf(spec, parsed, readText(budgetFile()), day),
    lastVerify: readLastVerify() ?? null,
  };
}
