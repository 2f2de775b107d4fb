// What the lab copies into its VM: Moat itself as a VM would have it installed (package.json,
// bin/, compiled dist/ and production dependencies only), and a busybox rootfs for agents that
// need nothing more. From a checkout the package is built once per source state into the cache;
// an installed Moat is already in that shape.
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
import { packageRoot } from "../host/runtime.js";
import { LAB_CACHE } from "./rootfs.js";

function hashTree(dir: string, h: ReturnType<typeof createHash>): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) hashTree(p, h);
    else h.update(p).update(readFileSync(p));
  }
}

// Older builds are of no further use once nobody can still be copying them (another checkout's
// run may have built one minutes ago).
function pruneOthers(dir: string): string {
  const stale = Date.now() - 3 * 3600_000;
  for (const e of readdirSync(LAB_CACHE)) {
    const p = join(LAB_CACHE, e);
    if (/^pkg-[0-9a-f]{12}$/.test(e) && p !== dir && statSync(p).mtimeMs < stale)
      rmSync(p, { recursive: true, force: true });
  }
  return dir;
}

export function stageMoatPackage(root = packageRoot()): string {
  if (!existsSync(join(root, "src"))) return root;
  const h = createHash("sha256");
  for (const f of [
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "bin/moat.js",
  ])
    h.update(readFileSync(join(root, f)));
  hashTree(join(root, "src"), h);
  const dir = join(LAB_CACHE, `pkg-${h.digest("hex").slice(0, 12)}`);
  if (existsSync(join(dir, ".ready"))) return pruneOthers(dir);
  const tmp = `${dir}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ["package.json", "package-lock.json", "bin"])
    cpSync(join(root, f), join(tmp, f), { recursive: true });
  try {
    execFileSync("npx", ["tsc", "-p", join(root, "tsconfig.build.json"), "--outDir", join(tmp, "dist")], {
      cwd: root,
      stdio: "pipe",
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`building Moat for the VM failed (tsc):\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
  execFileSync(
    "npm",
    [
      "ci",
      "--omit=dev",
      // ssh2's optional cpu-features is a native addon nothing on the VM uses.
      "--omit=optional",
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

// A rootfs tarball with static busybox, for `docker import` as an agent image.
export function busyboxRootfsTar(): string {
  const tar = join(LAB_CACHE, "busybox-rootfs.tar");
  if (existsSync(tar) && statSync(tar).size > 0) return tar;
  mkdirSync(LAB_CACHE, { recursive: true });
  const root = join(LAB_CACHE, `busybox-root-${process.pid}`);
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
