// The lab's OpenClaw image, built without any container registry: a rootfs tarball for
// `docker import` holding the pinned openclaw package and its npm dependencies, the Node 24
// runtime OpenClaw requires (the npm registry's `node-linux-<arch>` package), the C libraries
// that Node binary links (copied from this machine) and a static busybox for /bin/sh. Laid out
// like the official image (openclaw.md §2.1): the package at /app, user `node` (1000:1000) with
// its home at /home/node, `openclaw` on PATH, the gateway as the command. The image config that
// a Dockerfile would set travels next to the tarball (IMPORT_CHANGES_SUFFIX) for host apply's
// `docker import --change`. On a real VM the openclaw profile pulls the pinned official image.
//
// Built once per set of inputs (versions, the npm lockfile, the bytes of every host file copied
// in) under a cache directory and reused while they are unchanged.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { packageRoot } from "../host/runtime.js";
import { OPENCLAW_HOME, OPENCLAW_VOLUMES, OPENCLAW_WRITABLE_PATHS } from "../render/openclaw.js";
import { IMPORT_CHANGES_SUFFIX } from "../render/paths.js";
import { OPENCLAW_VERSION } from "../spec/schema.js";
import { LAB_CACHE } from "./rootfs.js";

export const NODE_VERSION = "24.21.0";
// The lab's own name for the image, so a local build is never mistaken for the official one.
export const LAB_OPENCLAW_IMAGE = `moat-lab/openclaw:${OPENCLAW_VERSION}`;
const DEFAULT_IMAGE_CACHE = join(LAB_CACHE, "images");
// Bumped whenever the layout below changes, so an old cached tarball is not reused.
const LAYOUT_VERSION = 1;
const APP = "app";
const NODE_UID = 1000;
const NODE_GID = 1000;

export interface OpenclawImageOptions {
  cacheDir?: string;
  // An npm prefix already holding openclaw@OPENCLAW_VERSION and node-linux-<arch>@NODE_VERSION
  // (scripts/openclaw-validator.sh makes one); otherwise one is installed under cacheDir.
  prefix?: string;
  busybox?: string;
  log?: (line: string) => void;
}

export interface OpenclawImage {
  tar: string;
  changes: string[];
  cached: boolean;
  durationMs: number;
}

const nodePackage = () => {
  if (process.arch !== "x64" && process.arch !== "arm64")
    throw new Error(`no Node 24 package for ${process.arch}: the lab image needs x64 or arm64`);
  return `node-linux-${process.arch}`;
};

const sh = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  execFileSync(cmd, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
    ...opts,
  });

// Every package of the image, pinned by version and integrity: vendor/openclaw-image holds the
// package.json and the lockfile `npm ci` installs from (both Node 24 builds are optional
// dependencies, so npm installs the one for this machine).
export const PINNED_DIR = join(packageRoot(), "vendor/openclaw-image");
type LockEntry = { version?: string; integrity?: string };
const lockPackages = (file: string): Record<string, LockEntry> => {
  const lock = JSON.parse(readFileSync(file, "utf8"));
  const { "": _root, ...packages } = lock.packages as Record<string, LockEntry>;
  return packages;
};

// Why an installed prefix is not the pinned set: a package missing, or not the pinned one.
export function prefixProblem(
  installed: Record<string, LockEntry> | undefined,
  pinned: Record<string, LockEntry>,
): string | undefined {
  if (!installed) return "no node_modules/.package-lock.json (not installed by npm 7 or later)";
  for (const need of ["node_modules/openclaw", `node_modules/${nodePackage()}`])
    if (!installed[need]) return `${need.slice("node_modules/".length)} is not installed`;
  for (const [path, got] of Object.entries(installed)) {
    const want = pinned[path];
    if (!want || want.version !== got.version || want.integrity !== got.integrity)
      return `${path.replace(/^.*node_modules\//, "")}@${got.version} is not the pinned ${want?.version ?? "set"}`;
  }
  return undefined;
}

// npm's record of what it installed (its hidden lockfile), not what a lockfile asked for.
const installedLock = (prefix: string) => {
  const file = join(prefix, "node_modules/.package-lock.json");
  return existsSync(file) ? lockPackages(file) : undefined;
};
const pinnedLock = () => lockPackages(join(PINNED_DIR, "package-lock.json"));

// Scripts stay off: nothing from the registry runs while installing. OpenClaw's own postinstall
// is run afterwards, unprivileged, inside the image staging (completeLifecycle).
function ensurePrefix(opts: OpenclawImageOptions, cacheDir: string, log: (l: string) => void): string {
  const pinned = pinnedLock();
  for (const [pkg, version] of [
    ["openclaw", OPENCLAW_VERSION],
    [nodePackage(), NODE_VERSION],
  ] as const)
    if (pinned[`node_modules/${pkg}`]?.version !== version)
      throw new Error(
        `${PINNED_DIR}/package-lock.json pins ${pkg} ${pinned[`node_modules/${pkg}`]?.version}, not ${version}`,
      );
  if (opts.prefix) {
    const problem = prefixProblem(installedLock(opts.prefix), pinned);
    if (problem) throw new Error(`npm prefix ${opts.prefix} is not usable: ${problem}`);
    return opts.prefix;
  }
  const prefix = join(cacheDir, `npm-openclaw-${OPENCLAW_VERSION}-node-${NODE_VERSION}-${process.arch}`);
  if (!prefixProblem(installedLock(prefix), pinned)) return prefix;
  log(`installing openclaw@${OPENCLAW_VERSION} and ${nodePackage()}@${NODE_VERSION} with npm ci (once)`);
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(prefix, { recursive: true });
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(PINNED_DIR, f), join(prefix, f));
  sh("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: prefix });
  const problem = prefixProblem(installedLock(prefix), pinned);
  if (problem) throw new Error(`npm ci into ${prefix} did not give the pinned packages: ${problem}`);
  return prefix;
}

// The shared libraries a binary loads, as the dynamic loader resolves them on this machine.
export function linkedLibraries(binary: string): string[] {
  const paths = sh("ldd", [binary])
    .split("\n")
    .map((l) => l.match(/(?:=>\s*)?(\/\S+)\s+\(0x/)?.[1])
    .filter((p): p is string => !!p);
  return [...new Set(paths)].sort();
}

export function importChanges(): string[] {
  return [
    `USER ${NODE_UID}:${NODE_GID}`,
    `WORKDIR /${APP}`,
    `ENV HOME=${OPENCLAW_HOME}`,
    "ENV PATH=/usr/local/bin:/usr/bin:/bin",
    "ENV NODE_ENV=production",
    // Compose adds an init (`init: true`) where the official image has tini.
    'CMD ["node", "openclaw.mjs", "gateway"]',
  ];
}

// The npm packages count by the pinned lockfile (a prefix is checked against it before use).
function hashInputs(hostFiles: string[]): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ LAYOUT_VERSION, OPENCLAW_VERSION, NODE_VERSION, arch: process.arch }));
  h.update(JSON.stringify(importChanges()));
  h.update(JSON.stringify(pinnedLock()));
  for (const f of hostFiles) h.update(f).update(readFileSync(f));
  return h.digest("hex").slice(0, 16);
}

function mkdirOwned(path: string, mode: number, uid = 0, gid = 0): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
}

// Everything but the npm tree: small, so it is staged as a directory with real owners and modes.
function stageSkeleton(root: string, node: string, busybox: string, libs: string[]): void {
  mkdirOwned(root, 0o755);
  for (const d of [
    "bin",
    "sbin",
    "etc",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "proc",
    "sys",
    "dev",
    "run",
    "var",
  ])
    mkdirOwned(join(root, d), 0o755);
  mkdirOwned(join(root, "tmp"), 0o1777);
  copyFileSync(busybox, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  sh("chroot", [root, "/bin/busybox", "--install", "-s"]);
  copyFileSync(node, join(root, "usr/local/bin/node"));
  chmodSync(join(root, "usr/local/bin/node"), 0o755);
  symlinkSync(`/${APP}/openclaw.mjs`, join(root, "usr/local/bin/openclaw"));
  for (const lib of libs) {
    const to = join(root, lib);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(lib, to);
  }
  for (const ca of ["/etc/ssl/certs/ca-certificates.crt"]) {
    if (!existsSync(ca)) continue;
    mkdirSync(dirname(join(root, ca)), { recursive: true });
    copyFileSync(ca, join(root, ca));
  }
  writeFileSync(
    join(root, "etc/passwd"),
    `root:x:0:0:root:/root:/bin/sh\nnode:x:${NODE_UID}:${NODE_GID}:node:${OPENCLAW_HOME}:/bin/sh\n`,
  );
  writeFileSync(join(root, "etc/group"), `root:x:0:\nnode:x:${NODE_GID}:\n`);
  writeFileSync(join(root, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
  // Docker seeds an empty named volume from the image's directory, owner included: the state
  // volumes must start out as node's, mode 700 (openclaw.md §3.1).
  const home = join(root, OPENCLAW_HOME.slice(1));
  mkdirOwned(home, 0o755, NODE_UID, NODE_GID);
  for (const v of OPENCLAW_VOLUMES) mkdirOwned(join(root, v.path.slice(1)), 0o700, NODE_UID, NODE_GID);
  for (const p of OPENCLAW_WRITABLE_PATHS.filter((w) => w.startsWith(OPENCLAW_HOME)))
    mkdirOwned(join(root, p.slice(1)), 0o755, NODE_UID, NODE_GID);
  mkdirOwned(join(home, ".config"), 0o755, NODE_UID, NODE_GID);
}

// The package ships a marker its postinstall removes; a marker left in place makes OpenClaw try
// to finish the install at start-up, writing into /app, which is read-only in the container.
// The script is the registry's code, so it runs as nobody, able to write only its own copy.
function completeLifecycle(app: string, node: string): void {
  const script = join(app, "scripts/postinstall-bundled-plugins.mjs");
  if (existsSync(script)) {
    sh("chown", ["-R", "65534:65534", app]);
    sh("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", node, script], {
      cwd: app,
      env: { PATH: "/usr/bin:/bin", HOME: app },
    });
  }
  for (const marker of [".openclaw-lifecycle-pending", "dist/openclaw-install-guard"])
    if (existsSync(join(app, marker))) throw new Error(`openclaw's install left ${marker} behind`);
}

export function buildOpenclawImage(opts: OpenclawImageOptions = {}): OpenclawImage {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? DEFAULT_IMAGE_CACHE;
  mkdirSync(cacheDir, { recursive: true });
  const prefix = ensurePrefix(opts, cacheDir, log);
  const node = join(prefix, "node_modules", nodePackage(), "bin/node");
  const busybox = opts.busybox ?? "/bin/busybox";
  if (!/statically linked|static-pie/.test(sh("file", ["-L", busybox])))
    throw new Error(`${busybox} is not a static busybox (install busybox-static)`);
  const libs = linkedLibraries(node);
  const caFiles = ["/etc/ssl/certs/ca-certificates.crt"].filter((f) => existsSync(f));
  const key = hashInputs([busybox, ...libs, ...caFiles]);
  const tar = join(cacheDir, `openclaw-${OPENCLAW_VERSION}-${process.arch}-${key}.tar`);
  const changes = importChanges();
  if (existsSync(tar) && existsSync(`${tar}${IMPORT_CHANGES_SUFFIX}`)) {
    log(`reusing ${tar}`);
    return { tar, changes, cached: true, durationMs: Date.now() - started };
  }

  const work = join(cacheDir, `building-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const root = join(work, "root");
    log("staging the rootfs (busybox, Node 24 and the libraries it links)");
    stageSkeleton(root, node, busybox, libs);
    // A private copy of the package, so its postinstall never touches the shared prefix.
    log(`copying openclaw@${OPENCLAW_VERSION} and its dependencies`);
    const app = join(work, APP);
    sh("cp", ["-a", join(prefix, "node_modules/openclaw"), app]);
    log("running openclaw's postinstall with the pinned Node");
    // The staged copy of Node: the prefix may sit where nobody cannot read it.
    completeLifecycle(app, join(root, "usr/local/bin/node"));
    const partial = `${tar}.partial-${process.pid}`;
    const owned = ["--numeric-owner", "--owner=0", "--group=0"];
    log("writing the tarball");
    sh("tar", ["-C", root, "--numeric-owner", "-cf", partial, "."]);
    sh("tar", ["-C", work, ...owned, "-rf", partial, APP]);
    // Its dependencies as npm hoisted them, one level up from the package (Node looks there next).
    const deps = readdirSync(join(prefix, "node_modules")).filter(
      (d) => d !== "openclaw" && d !== nodePackage() && d !== ".bin" && !d.startsWith(".package-lock"),
    );
    sh("tar", [
      "-C",
      join(prefix, "node_modules"),
      ...owned,
      "--transform",
      // S: symlink targets inside the tree are relative and stay as they are.
      "s|^|node_modules/|S",
      "-rf",
      partial,
      ...deps,
    ]);
    writeFileSync(`${tar}${IMPORT_CHANGES_SUFFIX}`, `${JSON.stringify(changes, null, 2)}\n`);
    renameSync(partial, tar);
    for (const old of readdirSync(cacheDir))
      if (/^openclaw-.*\.tar(\.changes\.json)?$/.test(old) && !join(cacheDir, old).startsWith(tar))
        rmSync(join(cacheDir, old), { force: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`built ${tar} in ${Math.round((Date.now() - started) / 1000)} s`);
  return { tar, changes, cached: false, durationMs: Date.now() - started };
}
