// The lab VM's disk: a debootstrapped Debian 13 with systemd, built once and cached, with every
// package host apply installs already downloaded (so a converge needs no network: the lab has
// no internet and no mirror). Each VM boots from its own copy.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LAB_CACHE = process.env.MOAT_LAB_CACHE ?? "/var/cache/moat-lab";
const SUITE = "trixie";
const MIRROR = "http://deb.debian.org/debian";
// What the booted system needs to boot and be reached; the rest is host apply's job.
const BASE_INCLUDE = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "iproute2",
  "nftables",
  "openssh-server",
  "ca-certificates",
];
// Host apply's package list for Debian 13 (src/host/distro.ts), downloaded but not installed.
export const VM_PACKAGES = [
  "docker.io",
  "docker-cli",
  "docker-compose",
  "rootlesskit",
  "uidmap",
  "slirp4netns",
  "dbus-user-session",
  "iptables",
  "fail2ban",
  "python3-systemd",
  "unattended-upgrades",
];

const sh = (cmd: string, args: string[], timeout: number) =>
  execFileSync(cmd, args, {
    encoding: "utf8",
    timeout,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });

export function baseRootfsPath(): string {
  const key = createHash("sha256")
    .update(JSON.stringify([SUITE, MIRROR, BASE_INCLUDE, VM_PACKAGES, 1]))
    .digest("hex")
    .slice(0, 12);
  return join(LAB_CACHE, `base-${SUITE}-${key}`);
}

export const baseRootfsReady = () => existsSync(join(baseRootfsPath(), ".moat-base-ready"));

// The base rootfs, built once (about a minute, from Debian's mirror) and reused afterwards.
export function ensureBaseRootfs(): string {
  const base = baseRootfsPath();
  if (baseRootfsReady()) return base;
  mkdirSync(LAB_CACHE, { recursive: true });
  const tmp = `${base}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    sh(
      "debootstrap",
      ["--variant=minbase", `--include=${BASE_INCLUDE.join(",")}`, SUITE, tmp, MIRROR],
      600_000,
    );
    // Downloads only: the archives stay in the rootfs for host apply's offline apt-get install.
    sh("chroot", [tmp, "apt-get", "update", "-qq"], 300_000);
    sh(
      "chroot",
      [tmp, "apt-get", "install", "-d", "-y", "-qq", "--no-install-recommends", ...VM_PACKAGES],
      600_000,
    );
    writeFileSync(join(tmp, ".moat-base-ready"), `${new Date().toISOString()}\n`);
    rmSync(base, { recursive: true, force: true });
    renameSync(tmp, base);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return base;
}
