// The lab VM's disk: a debootstrapped system with systemd, built once per release and cached,
// with every package host apply installs already downloaded (so a converge needs no network:
// the lab has no internet and no mirror). Each VM boots from its own copy. The lab itself runs
// Debian 13; the other releases host apply supports are booted by its tests.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Distro, packagesFor } from "../host/distro.js";

export const LAB_CACHE = process.env.MOAT_LAB_CACHE ?? "/var/cache/moat-lab";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";
const UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu";

// A keyring this machine's apt lacks, taken from a .deb pinned by its sha256 (checked before use).
interface PinnedKeyring {
  url: string;
  sha256: string;
  // The keyring file inside the package.
  path: string;
}

interface Release {
  distro: Omit<Distro, "arch">;
  mirror: string;
  components: string[];
  // Suites besides the release's own in the rootfs's apt sources, like a cloud image's
  // (-updates, -security), so the downloaded packages are the versions a real VM installs.
  pockets?: string[];
  // debootstrap's script, for a release newer than this machine's debootstrap.
  script?: string;
  keyring?: PinnedKeyring;
  // Where the -security pocket is served from, when not the release's mirror (Debian's).
  securityMirror?: string;
}

// Ubuntu's archive keys (the 2018 key signs jammy and noble), from noble's ubuntu-keyring; the
// sha256 is the one noble's signed Packages index gives for this file.
const UBUNTU_KEYRING: PinnedKeyring = {
  url: `${UBUNTU_MIRROR}/pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb`,
  sha256: "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8",
  path: "usr/share/keyrings/ubuntu-archive-keyring.gpg",
};

const RELEASES = {
  "debian-13": {
    distro: { id: "debian", versionId: "13", codename: "trixie" },
    mirror: DEBIAN_MIRROR,
    components: ["main"],
  },
  "ubuntu-24.04": {
    distro: { id: "ubuntu", versionId: "24.04", codename: "noble" },
    mirror: UBUNTU_MIRROR,
    components: ["main", "universe"],
    pockets: ["noble-updates", "noble-security"],
    script: "/usr/share/debootstrap/scripts/gutsy",
    keyring: UBUNTU_KEYRING,
  },
  "ubuntu-22.04": {
    distro: { id: "ubuntu", versionId: "22.04", codename: "jammy" },
    mirror: UBUNTU_MIRROR,
    components: ["main", "universe"],
    pockets: ["jammy-updates", "jammy-security"],
    keyring: UBUNTU_KEYRING,
  },
  "debian-12": {
    distro: { id: "debian", versionId: "12", codename: "bookworm" },
    mirror: DEBIAN_MIRROR,
    components: ["main"],
    pockets: ["bookworm-updates", "bookworm-security"],
    securityMirror: "http://deb.debian.org/debian-security",
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
const vmPackages = (release: Release) => packagesFor({ ...release.distro, arch: "amd64" });

const sh = (cmd: string, args: string[], timeout: number) =>
  execFileSync(cmd, args, {
    encoding: "utf8",
    timeout,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });

function baseRootfsPath(name: ReleaseName = LAB_RELEASE): string {
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
  const keyDir = `${tmp}.keyring`;
  try {
    const keyring = release.keyring && pinnedKeyring(release.keyring, keyDir);
    sh(
      "debootstrap",
      [
        "--variant=minbase",
        `--include=${BASE_INCLUDE.join(",")}`,
        `--components=${release.components.join(",")}`,
        ...(keyring ? [`--keyring=${keyring}`] : []),
        release.distro.codename,
        tmp,
        release.mirror,
        ...(release.script ? [release.script] : []),
      ],
      900_000,
    );
    if (release.pockets) {
      const suites = [release.distro.codename, ...release.pockets];
      const mirrorOf = (suite: string) =>
        suite.endsWith("-security") && release.securityMirror ? release.securityMirror : release.mirror;
      writeFileSync(
        join(tmp, "etc/apt/sources.list"),
        suites.map((s) => `deb ${mirrorOf(s)} ${s} ${release.components.join(" ")}\n`).join(""),
      );
    }
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
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
  return base;
}

// The keyring file of a pinned .deb, unpacked under dir; a download that differs is refused.
function pinnedKeyring(pin: PinnedKeyring, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const deb = join(dir, "keyring.deb");
  sh("curl", ["-fsS", "--max-time", "60", "-o", deb, pin.url], 90_000);
  const got = createHash("sha256").update(readFileSync(deb)).digest("hex");
  if (got !== pin.sha256) throw new Error(`${pin.url} has sha256 ${got}, not the pinned ${pin.sha256}`);
  sh("dpkg-deb", ["-x", deb, join(dir, "root")], 60_000);
  return join(dir, "root", pin.path);
}
