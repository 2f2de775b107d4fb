// A drop-in for /etc/ssh/sshd_config.d/. Debian and Ubuntu include that directory at the top
// of sshd_config and sshd keeps the first value it reads, so these lines beat the main file;
// a drop-in sorting earlier (e.g. cloud-init's 50-cloud-init.conf) would beat them, which is
// why `sshdMismatches` checks the effective `sshd -T` output, not this file.
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";

export const SSHD_DROPIN_PATH = "sshd/50-moat.conf";

// The user a fresh image lets in: Canonical's Ubuntu images on OCI and AWS use `ubuntu`.
export function sshLoginUsers(spec: MoatSpec): string[] {
  if (spec.access.sshUsers?.length) return [...spec.access.sshUsers];
  return [spec.target.kind === "ssh" ? spec.target.user : "ubuntu"];
}

// Root may log in with a key only when it is the account Moat itself deploys through;
// `no` would lock the operator out of a host reached as root.
const rootLogin = (spec: MoatSpec) => (sshLoginUsers(spec).includes("root") ? "prohibit-password" : "no");

// Removing weak families from the compiled-in default, instead of naming a list, keeps each
// OpenSSH's newest hybrid post-quantum exchange: sntrup761x25519 (default since 9.0) and
// mlkem768x25519-sha256 (9.9+). Naming mlkem768x25519-sha256 outright makes 9.2's
// `sshd -t` fail with "Bad SSH2 KexAlgorithms"; a `-` list is not checked against known names.
const KEX_REMOVED = "-ecdh-sha2-*,diffie-hellman-*";
// AEAD first; CTR only with the encrypt-then-MAC MACs below. All known to OpenSSH since 6.x.
const CIPHERS =
  "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes128-ctr";
const MACS = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com";

// Keyword → value as written. `sshdExpected` below lists how `sshd -T` reports them.
function settings(spec: MoatSpec): [string, string][] {
  return [
    ["PubkeyAuthentication", "yes"],
    ["AuthenticationMethods", "publickey"],
    ["PasswordAuthentication", "no"],
    ["KbdInteractiveAuthentication", "no"],
    ["PermitEmptyPasswords", "no"],
    ["PermitRootLogin", rootLogin(spec)],
    ["AllowUsers", sshLoginUsers(spec).join(" ")],
    ["MaxAuthTries", "3"],
    ["LoginGraceTime", "30"],
    ["MaxStartups", "10:30:60"],
    ["KexAlgorithms", KEX_REMOVED],
    ["Ciphers", CIPHERS],
    ["MACs", MACS],
    ["X11Forwarding", "no"],
    ["AllowAgentForwarding", "no"],
    ["AllowTcpForwarding", "no"],
    ["AllowStreamLocalForwarding", "no"],
    ["PermitTunnel", "no"],
    ["GatewayPorts", "no"],
    ["PermitUserEnvironment", "no"],
    ["ClientAliveInterval", "300"],
    ["ClientAliveCountMax", "2"],
    // Logs the key fingerprint of every login, so an audit can tell keys apart.
    ["LogLevel", "VERBOSE"],
  ];
}

export function renderSshd(spec: MoatSpec): Artifact[] {
  const lines = [
    "# Moat sshd hardening, rendered from moat.yaml; edit the spec, not this file.",
    "# Keys only, no forwarding, modern key exchange. No Match block here: one would swallow",
    "# every line of sshd_config that follows the Include.",
  ];
  if (rootLogin(spec) === "prohibit-password") {
    lines.push("# root is an allowed login user (the deploy account), so it may log in with a key only.");
  }
  for (const [key, value] of settings(spec)) lines.push(`${key} ${value}`);
  return [{ kind: "sshd", path: SSHD_DROPIN_PATH, content: `${lines.join("\n")}\n`, mode: 0o644 }];
}

// What `sshd -T` must report once the drop-in is in force. Algorithm lists are checked by
// what they must not contain, since the kept set differs between OpenSSH versions.
function sshdExpected(spec: MoatSpec): Record<string, string> {
  const expected: Record<string, string> = {};
  for (const [key, value] of settings(spec)) {
    if (["KexAlgorithms", "AllowUsers"].includes(key)) continue;
    expected[key.toLowerCase()] =
      key === "PermitRootLogin" && value === "prohibit-password" ? "without-password" : value;
  }
  return expected;
}

const WEAK_KEX = /^(ecdh-sha2-|diffie-hellman-)/;

// Differences between the effective configuration (`sshd -T` output) and what Moat requires;
// empty when the host is as rendered.
export function sshdMismatches(spec: MoatSpec, sshdT: string): string[] {
  const effective = new Map<string, string[]>();
  for (const line of sshdT.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    const key = line.slice(0, space);
    effective.set(key, [...(effective.get(key) ?? []), line.slice(space + 1).trim()]);
  }
  const problems: string[] = [];
  const permitRoot = (v: string) => (v === "prohibit-password" ? "without-password" : v);
  for (const [key, want] of Object.entries(sshdExpected(spec))) {
    const got = effective.get(key)?.join(" ");
    const same = key === "permitrootlogin" ? permitRoot(got ?? "") === want : got === want;
    if (!same) problems.push(`${key} is ${got ?? "unset"}, want ${want}`);
  }
  const users = (effective.get("allowusers") ?? []).flatMap((v) => v.split(/\s+/)).sort();
  const wantUsers = sshLoginUsers(spec).sort();
  if (users.join(" ") !== wantUsers.join(" ")) {
    problems.push(`allowusers is ${users.join(" ") || "unset"}, want ${wantUsers.join(" ")}`);
  }
  const kex = (effective.get("kexalgorithms")?.[0] ?? "").split(",").filter(Boolean);
  const weak = kex.filter((k) => WEAK_KEX.test(k));
  if (kex.length === 0) problems.push("kexalgorithms is unset");
  if (weak.length) problems.push(`kexalgorithms still offers ${weak.join(",")}`);
  return problems;
}
