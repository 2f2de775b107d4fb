// The lab VM's disk: a debootstrapped system with systemd, built once per release and cached,
// with every package host apply installs already downloaded (so a converge needs no network:
// the lab has no internet and no mirror). Each VM boots from its own copy. The lab itself runs
// Debian 13; the other releases host apply supports are booted by its tests.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Distro, packagesFor } from "../host/distro.js";

export const LAB_CACHE = process.env.MOAT_LAB_CACHE ?? "/var/cache/moat-lab";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";

export interface Release {
  distro: Omit<Distro, "arch">;
  mirror: string;
  components: string[];
}

export const RELEASES = {
  "debian-13": {
    distro: { id: "debian", versionId: "13", codename: "trixie" },
    mirror: DEBIAN_MIRROR,
    components: ["main"],
  },
} satisfies Record<string, Release>;
export type ReleaseName = keyof typeof RELEASES;
export const LAB_RELEASE: ReleaseName = "debian-13";

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

// Host apply's package list for the release, downloaded but not installed.
export const vmPackages = (release: Release) => packagesFor({ ...release.distro, arch: "amd64" });

const sh = (cmd: string, args: string[], timeout: number) =>
  execFileSync(cmd, args, {
    encoding: "utf8",
    timeout,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });

export function baseRootfsPath(name: ReleaseName = LAB_RELEASE): string {
  const release: Release = RELEASES[name];
  const key = createHash("sha256")
    .update(JSON.stringify([release, BASE_INCLUDE, vmPackages(release), 1]))
    .digest("hex")
    .slice(0, 12);
  return join(LAB_CACHE, `base-${release.distro.codename}-${key}`);
}

export const baseRootfsReady = (name: ReleaseName = LAB_RELEASE) =>
  existsSync(join(baseRootfsPath(name), ".moat-base-ready"));

// The base rootfs, built once (about a minute, from the release's mirror) and reused afterwards.
export function ensureBaseRootfs(name: ReleaseName = LAB_RELEASE): string {
  const release: Release = RELEASES[name];
  const base = baseRootfsPath(name);
  if (baseRootfsReady(name)) return base;
  mkdirSync(LAB_CACHE, { recursive: true });
  const tmp = `${base}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    sh(
      "debootstrap",
      [
        "--variant=minbase",
        `--include=${BASE_INCLUDE.join(",")}`,
        `--components=${release.components.join(",")}`,
        release.distro.codename,
        tmp,
        release.mirror,
      ],
      600_000,
    );
    // Downloads only: the archives stay in the rootfs for host apply's offline apt-get install.
    sh("chroot", [tmp, "apt-get", "update", "-qq"], 300_000);
    sh(
      "chroot",
      [tmp, "apt-get", "install", "-d", "-y", "-qq", "--no-install-recommends", ...vmPackages(release)],
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
