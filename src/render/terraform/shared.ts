// What the OCI and AWS Terraform have in common: the user_data file and the network rules.
import ipaddr from "ipaddr.js";
import type { MoatSpec } from "../../spec/schema.js";
import { CLOUD_INIT_PATH } from "../cloud-init.js";

// The bundle keeps terraform/ and cloud-init/ side by side.
export const USER_DATA_FILE = `"\${path.module}/../${CLOUD_INIT_PATH}"`;

export interface EgressRule {
  protocol: "tcp" | "udp";
  port: number | null;
  why: string;
}

// The VM's own way out. The agent never uses these directly: the host firewall sends it
// through the gateway, which needs 443 (LLM APIs, Telegram) and 80 like apt does.
export const egressRules = (): EgressRule[] => [
  { protocol: "tcp", port: 443, why: "HTTPS: apt, Tailscale, the gateway's upstreams" },
  { protocol: "tcp", port: 80, why: "HTTP: apt mirrors" },
  {
    protocol: "udp",
    port: null,
    why: "UDP: DNS, NTP and Tailscale's direct peer paths (else it relays over 443)",
  },
];

// The VPC and VCN are IPv4-only, so only IPv4 sources can reach public SSH. Written as network
// addresses (203.0.113.7/24 → 203.0.113.0/24): the providers refuse host bits.
export const sshSources = (spec: MoatSpec): string[] => [
  ...new Set(
    spec.access.allowFrom
      .filter((cidr) => ipaddr.parseCIDR(cidr)[0].kind() === "ipv4")
      .map((cidr) => `${ipaddr.IPv4.networkAddressFromCIDR(cidr)}/${cidr.split("/")[1]}`),
  ),
];
