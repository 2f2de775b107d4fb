// The host backstop: whatever the agent's processes try, their packets leave the VM only
// towards the gateway. Its own table, so loading it never disturbs the cloud's tables
// (OCI's iptables-nft InstanceServices and iSCSI rules, Docker's, tailscaled's).
// An accept in another base chain does not save a packet this table rejects, which is why
// OCI's InstanceServices ACCEPT for 169.254.169.254 cannot reopen metadata (cloud-facts §4, §7).
import { backstopRows } from "../spec/addresses.js";
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";

export const NFT_TABLE = "moat";
export const NFTABLES_PATH = "nftables/moat.nft";
export const DENY_LOG_PREFIX = "moat-deny ";

// Container traffic leaves through slirp4netns/RootlessKit as the agent's own uid; host-network
// containers leave as mapped subuids (cloud-facts §4.2). Both must match.
function agentUidElements(spec: MoatSpec): string[] {
  const { agentUid, subidStart, subidCount } = spec.host;
  return [String(agentUid), `${subidStart}-${subidStart + subidCount - 1}`];
}

const elementsBlock = (items: string[], indent: string) =>
  items.map((item, i) => `${indent}${item}${i < items.length - 1 ? "," : ""}`).join("\n");

function addressSet(name: string, type: "ipv4_addr" | "ipv6_addr", family: 4 | 6): string {
  const rows = backstopRows(family);
  return [
    `  # Rejected for the agent before any accept; from the address table (src/spec/addresses.ts).`,
    `  set ${name} {`,
    `    type ${type}`,
    // Rows overlap (169.254.0.0/16 holds 169.254.169.254/32); auto-merge keeps the set loadable.
    "    flags interval",
    "    auto-merge",
    "    elements = {",
    elementsBlock(
      rows.map((r) => r.cidr),
      "      ",
    ),
    "    }",
    "  }",
  ].join("\n");
}

export function renderNftables(spec: MoatSpec): Artifact[] {
  const { address, port } = spec.gateway;
  const content = [
    "#!/usr/sbin/nft -f",
    `# Moat egress backstop for ${spec.host.agentUser} (uid ${spec.host.agentUid}) and its subuid range.`,
    "# Rendered from moat.yaml; edit the spec, not this file.",
    "# Declaring then flushing only this table makes reloads idempotent and leaves every other table alone.",
    `table inet ${NFT_TABLE} {}`,
    `flush table inet ${NFT_TABLE}`,
    "",
    `table inet ${NFT_TABLE} {`,
    "  set agent_uids {",
    "    type uid",
    "    flags interval",
    "    elements = {",
    elementsBlock(agentUidElements(spec), "      "),
    "    }",
    "  }",
    "",
    addressSet("backstop_v4", "ipv4_addr", 4),
    "",
    addressSet("backstop_v6", "ipv6_addr", 6),
    "",
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    "    meta skuid @agent_uids jump agent_egress",
    "  }",
    "",
    // Linux answers for a local address on any interface; only this host may reach the gateway.
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iif != "lo" ip daddr ${address} counter drop`,
    "  }",
    "",
    "  chain agent_egress {",
    // Before established: a connection opened before this table loaded is cut, not grandfathered.
    "    ip daddr @backstop_v4 meta l4proto tcp counter reject with tcp reset",
    "    ip daddr @backstop_v4 counter reject with icmp type admin-prohibited",
    "    ip6 daddr @backstop_v6 meta l4proto tcp counter reject with tcp reset",
    "    ip6 daddr @backstop_v6 counter reject with icmpv6 type admin-prohibited",
    // The operator's access: RootlessKit (as the agent's uid) answers the port published on
    // 127.0.0.1. Only towards loopback, so the same port on an outside address answers no one.
    `    oif "lo" tcp sport ${spec.agent.port} ct direction reply counter accept`,
    // Only connections the agent's uids opened, and those only to the gateway (the accept below
    // is the one way to open one). The reply direction (a socket of theirs answering a
    // connection someone else opened) falls through to the rejects: a listener of theirs never
    // answers an outside client, over TCP or UDP.
    "    ct direction original ct state established,related counter accept",
    `    ip daddr ${address} tcp dport ${port} counter accept`,
    `    limit rate 10/minute burst 20 packets log prefix "${DENY_LOG_PREFIX}" level warn`,
    "    meta l4proto tcp counter reject with tcp reset",
    "    meta nfproto ipv4 counter reject with icmp type admin-prohibited",
    "    meta nfproto ipv6 counter reject with icmpv6 type admin-prohibited",
    "  }",
    "}",
    "",
  ].join("\n");
  return [{ kind: "nftables", path: NFTABLES_PATH, content, mode: 0o644 }];
}
