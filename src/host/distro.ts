// Which distribution host apply is on, and the packages each one needs. Pure.

export interface Distro {
  id: "debian" | "ubuntu";
  versionId: string;
  codename: string;
  // dpkg's architecture name: amd64 or arm64.
  arch: string;
}

import { MoatError } from "../errors.js";

export class UnsupportedHost extends MoatError {
  override readonly name = "UnsupportedHost";
  readonly code = "MOAT_HOST_UNSUPPORTED";
}

export function parseOsRelease(text: string, arch: string): Distro {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Z_]+)=("?)(.*)\2$/);
    if (m?.[1]) fields.set(m[1], m[3] ?? "");
  }
  const id = fields.get("ID");
  const versionId = fields.get("VERSION_ID") ?? "";
  const codename = fields.get("VERSION_CODENAME") ?? "";
  if (id !== "debian" && id !== "ubuntu") {
    throw new UnsupportedHost(
      `host apply supports Debian 12/13 and Ubuntu 22.04/24.04, not ${id ?? "unknown"}`,
    );
  }
  if (!["amd64", "arm64"].includes(arch)) throw new UnsupportedHost(`unsupported architecture ${arch}`);
  return { id, versionId, codename, arch };
}

// Compose as each release ships it: Debian 12's docker-compose is the Python Compose v1
// (1.29.2), every later release has v2 (the `docker compose` plugin) under its own name.
export type ComposeFlavour = "v1" | "v2";

export function composeFlavour(d: Pick<Distro, "id" | "versionId">): ComposeFlavour {
  return d.id === "debian" && Number(d.versionId) < 13 ? "v1" : "v2";
}

function composePackage(d: Distro): string {
  if (d.id === "debian" && Number(d.versionId) >= 12) return "docker-compose";
  if (d.id === "ubuntu" && Number(d.versionId) >= 22.04) return "docker-compose-v2";
  throw new UnsupportedHost(
    `${d.id} ${d.versionId} has no Compose package host apply can use; use Debian 12+ or Ubuntu 22.04+`,
  );
}

// Distribution packages for the rootless agent, the firewall, and access. Tailscale comes from
// its own signed repository (see access.ts). slirp4netns is explicit: without it newer Docker
// silently switches the rootless network driver (cloud-facts §4.1).
export function packagesFor(d: Distro): string[] {
  const list = [
    "docker.io",
    composePackage(d),
    "rootlesskit",
    "uidmap",
    "slirp4netns",
    "dbus-user-session",
    "nftables",
    "iptables",
    "fail2ban",
    // fail2ban's sshd jail reads the journal on Debian 12+ (backend = systemd).
    "python3-systemd",
    "unattended-upgrades",
    // Host apply pulls the agent's image as root through the gateway's pull listener (pull.ts);
    // in Debian 12/13 main, Ubuntu 22.04/24.04 universe.
    "skopeo",
  ];
  // Debian 13 split the client out of docker.io.
  if (d.id === "debian" && Number(d.versionId) >= 13) list.splice(1, 0, "docker-cli");
  // Ubuntu 24.04 lets only AppArmor-profiled programs make user namespaces; the profile that
  // lets rootlesskit (the rootless Docker launcher) do so ships in its apparmor package.
  if (ubuntuRestrictsUserns(d)) list.push("apparmor");
  return list;
}

// Ubuntu restricts unprivileged user namespaces by AppArmor from 23.10 on.
const ubuntuRestrictsUserns = (d: Distro) => d.id === "ubuntu" && Number(d.versionId) >= 23.1;

// Node as the gateway needs it (package.json engines). Compared numerically: "v20.19.2".
const NODE_MINIMUM = [20, 19, 0] as const;
export function nodeIsRecentEnough(version: string): boolean {
  const parts = version.replace(/^v/, "").split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const have = parts[i] ?? 0;
    const want = NODE_MINIMUM[i] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}
