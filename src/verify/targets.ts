// Which destinations the agent's side must be refused, built from the one address table and the
// host's own listening sockets, and how a set of probe outcomes is judged. Pure.
import ipaddr from "ipaddr.js";
import { ADDRESS_TABLE } from "../spec/addresses.js";
import type { MoatSpec } from "../spec/schema.js";
import type { ProbeOutcome, ProbeTarget } from "./probe-script.js";
import type { Listener } from "./types.js";

// Every row's first usable address (the row itself for a single address), on port 80.
export function representative(cidr: string): string {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  const bytes = net.toByteArray();
  const width = bytes.length * 8;
  if (bits < width) {
    for (let i = bytes.length - 1; i >= 0; i--) {
      bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
      if (bytes[i] !== 0) break;
    }
  }
  return ipaddr.fromByteArray(bytes).toString();
}

const ROW_PORT = 80;

export function tableTargets(): ProbeTarget[] {
  return ADDRESS_TABLE.map((r) => ({ kind: "tcp" as const, host: representative(r.cidr), port: ROW_PORT }));
}

// Where a listener on a wildcard address is reached from the same host.
const reachAt = (address: string) =>
  address === "0.0.0.0" || address === "*" ? "127.0.0.1" : address === "::" ? "::1" : address;

// The host's own TCP services (sshd, metrics, the Docker API, …), except the gateway's agent port.
export function hostPortTargets(spec: MoatSpec, listeners: readonly Listener[]): ProbeTarget[] {
  const { address, port } = spec.gateway;
  const seen = new Set<string>();
  const out: ProbeTarget[] = [{ kind: "tcp", host: address, port: 22 }];
  for (const l of listeners) {
    if (l.proto !== "tcp") continue;
    const host = reachAt(l.address.replace(/%.*$/, ""));
    if (host === address && l.port === port) continue;
    out.push({ kind: "tcp", host, port: l.port });
  }
  return out.filter((t) => {
    const key = `${t.host} ${t.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// Inside the container, loopback is the container's own: the agent's port there is the agent
// answering itself (OpenClaw listens on it), not a way to the host.
export const withoutOwnPort = (spec: MoatSpec, targets: readonly ProbeTarget[]): ProbeTarget[] =>
  targets.filter((t) => !(t.port === spec.agent.port && (t.host === "127.0.0.1" || t.host === "::1")));

// Resolvers the agent might try instead of the gateway: the host's own, the cloud's link-local
// ones, and well-known public ones. Over UDP and TCP.
const WELL_KNOWN_RESOLVERS = ["127.0.0.53", "169.254.169.254", "fd00:ec2::253", "1.1.1.1", "8.8.8.8"];

export function resolverAddresses(resolvConf: string): string[] {
  const configured = resolvConf
    .split("\n")
    .map((l) => l.trim().match(/^nameserver\s+(\S+)/)?.[1])
    .filter((a): a is string => !!a)
    .map((a) => a.replace(/%.*$/, ""));
  return [...new Set([...configured, ...WELL_KNOWN_RESOLVERS])];
}

export function dnsTargets(resolvers: readonly string[]): ProbeTarget[] {
  return resolvers.flatMap((host) => [
    { kind: "dns" as const, host, port: 53 },
    { kind: "tcp" as const, host, port: 53 },
  ]);
}

export const label = (t: ProbeTarget) =>
  `${t.kind === "dns" ? "dns/udp " : ""}${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;

const REACHED = new Set(["open", "answered"]);

// Every target refused (or unanswered): pass. Otherwise the reached ones, named.
export function judgeRefused(outcomes: readonly ProbeOutcome[]): { ok: boolean; detail: string } {
  const reached = outcomes.filter((o) => REACHED.has(o.outcome));
  if (reached.length)
    return {
      ok: false,
      detail: `reached ${reached.length} of ${outcomes.length}: ${reached.map((o) => label(o.target)).join(", ")}`,
    };
  const how = new Map<string, number>();
  for (const o of outcomes) how.set(o.outcome, (how.get(o.outcome) ?? 0) + 1);
  const tally = [...how].map(([k, n]) => `${k}×${n}`).join(", ");
  return { ok: true, detail: `${outcomes.length} destinations refused (${tally})` };
}
