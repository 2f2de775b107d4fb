// The Moat package as it would be installed on a VM: package.json, bin/, dist/ compiled from
// this checkout, and production dependencies only. Built once per source state under the test
// cache; the repository itself is not written to.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { CACHE } from "./vm.js";

const REPO = new URL("../..", import.meta.url).pathname;

function hashTree(dir: string, h: ReturnType<typeof createHash>): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) hashTree(p, h);
    else h.update(p).update(readFileSync(p));
  }
}

// Older builds of the package are of no further use once nobody can still be copying them
// (another checkout's test run may have built one minutes ago).
function pruneOthers(dir: string): string {
  const stale = Date.now() - 3 * 3600_000;
  for (const e of readdirSync(CACHE)) {
    const p = join(CACHE, e);
    if (/^pkg-[0-9a-f]{12}$/.test(e) && p !== dir && statSync(p).mtimeMs < stale)
      rmSync(p, { recursive: true, force: true });
  }
  return dir;
}

export function stageMoatPackage(): string {
  const h = createHash("sha256");
  for (const f of [
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "bin/moat.js",
  ])
    h.update(readFileSync(join(REPO, f)));
  hashTree(join(REPO, "src"), h);
  const dir = join(CACHE, `pkg-${h.digest("hex").slice(0, 12)}`);
  if (existsSync(join(dir, ".ready"))) return pruneOthers(dir);
  const tmp = `${dir}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ["package.json", "package-lock.json", "bin"])
    cpSync(join(REPO, f), join(tmp, f), { recursive: true });
  execFileSync("npx", ["tsc", "-p", join(REPO, "tsconfig.build.json"), "--outDir", join(tmp, "dist")], {
    cwd: REPO,
    stdio: "pipe",
  });
  execFileSync(
    "npm",
    [
      "ci",
      "--omit=dev",
      "--ignore-scripts",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ],
    { cwd: tmp, stdio: "pipe" },
  );
  writeFileSync(join(tmp, ".ready"), "");
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return pruneOthers(dir);
}

// A rootfs tarball with static busybox, for `docker import` as the agent's image.
export function busyboxRootfsTar(): string {
  const tar = join(CACHE, "busybox-rootfs.tar");
  if (existsSync(tar) && statSync(tar).size > 0) return tar;
  const root = join(CACHE, `busybox-root-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "bin"), { recursive: true });
  cpSync("/bin/busybox", join(root, "bin/busybox"));
  for (const d of ["tmp", "etc", "proc", "sys", "dev"]) mkdirSync(join(root, d));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\nagent:x:1000:1000:agent:/:/bin/sh\n");
  execFileSync("chroot", [root, "/bin/busybox", "--install", "-s", "/bin"]);
  execFileSync("tar", ["-C", root, "-cf", `${tar}.tmp`, "."]);
  renameSync(`${tar}.tmp`, tar);
  rmSync(root, { recursive: true, force: true });
  return tar;
}
