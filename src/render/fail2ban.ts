// A jail.d drop-in for the sshd jail. Bans go into fail2ban's own `table inet f2b-table`
// through its nftables action, never into the iptables-nft `filter` table the cloud image's
// rules (OCI's InstanceServices and iSCSI) live in.
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";

export const FAIL2BAN_JAIL_PATH = "fail2ban/moat-sshd.local";

// Debian 12's sshd filter matches only sshd.service and comm `sshd`; Ubuntu names the unit
// ssh.service, and OpenSSH 9.8+ logs failures from `sshd-session`, so every name is listed.
const JOURNAL_MATCH =
  "_SYSTEMD_UNIT=sshd.service + _SYSTEMD_UNIT=ssh.service + _COMM=sshd + _COMM=sshd-session";

export function renderFail2ban(spec: MoatSpec): Artifact[] {
  const port = spec.target.kind === "ssh" ? String(spec.target.port) : "ssh";
  const content = [
    "# Moat's sshd jail, rendered from moat.yaml; edit the spec, not this file.",
    "[sshd]",
    "enabled = true",
    // Ubuntu and Debian cloud images log sshd to the journal only; there may be no auth.log.
    "backend = systemd",
    `journalmatch = ${JOURNAL_MATCH}`,
    `port = ${port}`,
    "maxretry = 5",
    "findtime = 10m",
    "bantime = 1h",
    // Repeat offenders stay out longer, up to a week.
    "bantime.increment = true",
    "bantime.maxtime = 1w",
    "banaction = nftables-multiport",
    "banaction_allports = nftables-allports",
    // Only the host itself. Tailnet ranges are not exempt: a tailnet may hold shared or
    // untrusted nodes, and Tailscale SSH logins never pass through sshd or this jail.
    "ignoreip = 127.0.0.1/8 ::1",
    "",
  ].join("\n");
  return [{ kind: "fail2ban", path: FAIL2BAN_JAIL_PATH, content, mode: 0o644 }];
}
