// What the gateway enforces, compiled once from moat.yaml and swapped whole on SIGHUP.
import ipaddr from "ipaddr.js";
import { allowedHosts } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { compileAcl, type HostAcl } from "./acl.js";

export interface Policy {
  readonly acl: HostAcl;
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
    acl: compileAcl(allowedHosts(spec)),
    allowCidrs: compileCidrs(spec.egress.allowCidrs),
    mode: spec.egress.mode,
    connectPorts: new Set(spec.egress.connectPorts),
    httpPorts: new Set(spec.egress.httpPorts),
    plainConnectPorts: new Set(spec.egress.plainConnectPorts),
    echAcl: compileAcl(spec.egress.echAllow),
  };
}

// The CIDR from allowCidrs that contains `address` (canonical literal), if any.
export function matchingCidr(policy: Pick<Policy, "allowCidrs">, address: string): CompiledCidr | undefined {
  if (policy.allowCidrs.length === 0) return undefined;
  const ip = ipaddr.parse(address);
  return policy.allowCidrs.find((c) => c.range[0].kind() === ip.kind() && ip.match(c.range));
}
