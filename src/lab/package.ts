// What the lab copies into its VM: Moat itself as a VM would have it installed (built by
// deploy's packaging, src/deploy/package.ts, into the lab's cache), and a busybox rootfs for
// agents that need nothing more.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stageMoatPackage } from "../deploy/package.js";
import { LAB_CACHE } from "./rootfs.js";

// Built once per source state into the lab's cache (root's: the lab runs as root).
export const stageLabPackage = (): string => stageMoatPackage(LAB_CACHE);

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
