// Public SSH closed once Tailscale carries access: its own small table, `inet moat_ssh`, that
// drops new TCP connections to sshd unless they come from access.allowFrom or over tailscale0.
// Separate from `table inet moat` (the agent's egress backstop) so each loads, and is checked,
// on its own, and so it can be left out until Tailscale is up: host apply's access step loads it
// only after `tailscale status` reports Running, so the session that runs apply is never cut off
// before the tailnet works. Rendered only when access.tailscale is set: without Tailscale there
// is no other way in.
import ipaddr from "ipaddr.js";
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";
import { onVm } from "./paths.js";

export const SSH_LOCKDOWN_TABLE = "moat_ssh";
export const SSH_LOCKDOWN_PATH = "nftables/ssh-lockdown.nft";
export const SSH_LOCKDOWN_UNIT = "moat-ssh-lockdown.service";
export const SSH_LOCKDOWN_UNIT_PATH = `systemd/${SSH_LOCKDOWN_UNIT}`;
const TAILSCALE_INTERFACE = "tailscale0";
const NFT = "/usr/sbin/nft";

// The port sshd listens on: the ssh target's port, else 22.
const sshPort = (spec: MoatSpec) => (spec.target.kind === "ssh" ? spec.target.port : 22);

function allowFromByFamily(spec: MoatSpec): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const c of spec.access.allowFrom) {
    const [addr, bits] = ipaddr.parseCIDR(c);
    // Written as the network address: nft refuses a prefix with host bits set.
    const network =
      addr.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(c) : ipaddr.IPv6.networkAddressFromCIDR(c);
    const net = `${network.toString()}/${bits}`;
    (addr.kind() === "ipv4" ? v4 : v6).push(net);
  }
  return { v4, v6 };
}

export function sshLockdownRules(spec: MoatSpec): string {
  const { v4, v6 } = allowFromByFamily(spec);
  const port = sshPort(spec);
  const set = (name: string, type: string, items: string[]) => [
    `  set ${name} {`,
    `    type ${type}`,
    "    flags interval",
    ...(items.length ? [`    elements = { ${items.join(", ")} }`] : []),
    "  }",
  ];
  return [
    "#!/usr/sbin/nft -f",
    `# Moat: public SSH (tcp/${port}) closed except from access.allowFrom and over ${TAILSCALE_INTERFACE}.`,
    "# Only this table is replaced; every other table (Moat's egress table, the cloud's, Docker's,",
    "# tailscaled's) is left alone.",
    `table inet ${SSH_LOCKDOWN_TABLE} {}`,
    `delete table inet ${SSH_LOCKDOWN_TABLE}`,
    "",
    `table inet ${SSH_LOCKDOWN_TABLE} {`,
    ...set("allow_v4", "ipv4_addr", v4),
    ...set("allow_v6", "ipv6_addr", v6),
    "",
    "  chain input {",
    // Before the usual filter priority, so a later accept elsewhere cannot matter: a drop here is final.
    "    type filter hook input priority filter - 10; policy accept;",
    `    tcp dport != ${port} accept`,
    // Established sessions (the one running apply) keep going; only new connections are judged.
    "    ct state != new accept",
    `    iifname { "lo", "${TAILSCALE_INTERFACE}" } accept`,
    "    ip saddr @allow_v4 accept",
    "    ip6 saddr @allow_v6 accept",
    "    counter drop",
    "  }",
    "}",
    "",
  ].join("\n");
}

function sshLockdownUnit(): string {
  const file = onVm(SSH_LOCKDOWN_PATH);
  return [
    "[Unit]",
    "Description=Moat: public SSH closed except allowFrom and Tailscale (nft table inet moat_ssh)",
    "DefaultDependencies=no",
    "Wants=network-pre.target",
    "Before=network-pre.target ssh.service shutdown.target",
    "Conflicts=shutdown.target",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=${NFT} -f ${file}`,
    `ExecReload=${NFT} -f ${file}`,
    `ExecStop=-${NFT} delete table inet ${SSH_LOCKDOWN_TABLE}`,
    "",
    "[Install]",
    "WantedBy=sysinit.target",
    "",
  ].join("\n");
}

export function renderSshLockdown(spec: MoatSpec): Artifact[] {
  if (!spec.access.tailscale) return [];
  return [
    { kind: "nftables", path: SSH_LOCKDOWN_PATH, content: sshLockdownRules(spec) },
    { kind: "systemd-unit", path: SSH_LOCKDOWN_UNIT_PATH, content: sshLockdownUnit() },
  ];
}
