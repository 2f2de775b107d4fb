// What the gateway enforces, compiled once from moat.yaml and swapped whole on SIGHUP.
import ipaddr from "ipaddr.js";
import { parseAddress } from "../spec/addresses.js";
import { agentAllowedHosts, type ImpliedHost, impliedHosts } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { compileAcl, type HostAcl } from "./acl.js";

export interface Policy {
  // Only egress.allow: what the agent may reach itself.
  readonly acl: HostAcl;
  // Hosts the gateway's own routes serve (llm, messengers, agent.image), refused to the agent's
  // CONNECT and absolute-form requests unless egress.allow lists them too.
  readonly gatewayServed: ReadonlyMap<string, ImpliedHost>;
  // What the ACL is called in refusals; egress.allow unless said otherwise (the pull listener).
  readonly aclName?: string;
  readonly allowCidrs: readonly CompiledCidr[];
  readonly mode: "enforce" | "report";
  readonly connectPorts: ReadonlySet<number>;
  readonly httpPorts: ReadonlySet<number>;
  // CONNECT ports whose tunnels need not start with TLS; every other CONNECT port's must (sni.ts).
  readonly plainConnectPorts: ReadonlySet<number>;
  // Names a ClientHello may offer Encrypted Client Hello to.
  readonly echAcl: HostAcl;
}

export interface CompiledCidr {
  readonly text: string;
  readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

export function compileCidrs(cidrs: readonly string[]): CompiledCidr[] {
  return cidrs.map((text) => ({ text, range: ipaddr.parseCIDR(text) }));
}

export function policyFromSpec(spec: MoatSpec): Policy {
  return {
    acl: compileAcl(agentAllowedHosts(spec)),
    gatewayServed: gatewayServedHosts(impliedHosts(spec)),
    allowCidrs: compileCidrs(spec.egress.allowCidrs),
    mode: spec.egress.mode,
    connectPorts: new Set(spec.egress.connectPorts),
    httpPorts: new Set(spec.egress.httpPorts),
    plainConnectPorts: new Set(spec.egress.plainConnectPorts),
    echAcl: compileAcl(spec.egress.echAllow),
  };
}

// A name as it is, an IP literal (a provider's baseUrl may be one) in one normalized spelling.
export const servedKey = (host: string) =>
  parseAddress(host.replace(/^\[|\]$/g, ""))?.toNormalizedString() ?? host;

// Host → what implies it; the first of several (two providers on one host) names it.
function gatewayServedHosts(implied: readonly ImpliedHost[]): Map<string, ImpliedHost> {
  const byHost = new Map<string, ImpliedHost>();
  for (const h of implied) if (!byHost.has(servedKey(h.host))) byHost.set(servedKey(h.host), h);
  return byHost;
}

// The CIDR from allowCidrs that contains `address` (canonical literal), if any.
export function matchingCidr(policy: Pick<Policy, "allowCidrs">, address: string): CompiledCidr | undefined {
  if (policy.allowCidrs.length === 0) return undefined;
  const ip = ipaddr.parse(address);
  return policy.allowCidrs.find((c) => c.range[0].kind() === ip.kind() && ip.match(c.range));
}
