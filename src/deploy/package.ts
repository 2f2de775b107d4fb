// The Moat package a VM runs: package.json, bin/, compiled dist/ and production dependencies
// (all pure JavaScript). From an installed Moat that is the package itself; from a source
// checkout it is built once per source state into a cache directory the caller names — the
// operator's own cache for deploy (XDG, no root needed), the lab's for the lab. Deploy ships it
// as one tarball.
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
import { homedir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../host/runtime.js";

// The operator's own cache: deploy runs as the operator's user, who cannot write /var/cache.
export const operatorCache = (env: NodeJS.ProcessEnv = process.env) =>
  env.MOAT_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "moat");

// Earlier builds and tarballs are superseded, once no other run can still be copying them
// (another checkout's run may have made one minutes ago).
const SUPERSEDED_AFTER_MS = 3 * 3600_000;

function hashTree(dir: string, h: ReturnType<typeof createHash>): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) hashTree(p, h);
    else h.update(p).update(readFileSync(p));
  }
}

function pruneSuperseded(cache: string, pattern: RegExp, keep: string): void {
  const stale = Date.now() - SUPERSEDED_AFTER_MS;
  for (const e of readdirSync(cache)) {
    const p = join(cache, e);
    if (pattern.test(e) && e !== keep && statSync(p).mtimeMs < stale)
      rmSync(p, { recursive: true, force: true });
  }
}

// The package directory as a VM would have it installed, built under `cache` from a checkout.
export function stageMoatPackage(cache: string, root = packageRoot()): string {
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
  const name = `pkg-${h.digest("hex").slice(0, 12)}`;
  const dir = join(cache, name);
  if (!existsSync(join(dir, ".ready"))) buildPackage(root, dir);
  pruneSuperseded(cache, /^pkg-[0-9a-f]{12}$/, name);
  return dir;
}

function buildPackage(root: string, dir: string): void {
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
}

// The directory holding the package to ship, with its dependencies inside it.
function moatPackageDir(root = packageRoot(), cache = operatorCache()): string {
  const dir = stageMoatPackage(cache, root);
  if (!existsSync(join(dir, "dist/cli/main.js")))
    throw new Error(`${dir} has no dist/: it is not a built Moat`);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  const missing = Object.keys(pkg.dependencies ?? {}).filter(
    (d) => !existsSync(join(dir, "node_modules", d, "package.json")),
  );
  if (missing.length)
    throw new Error(
      `${dir}/node_modules lacks ${missing.join(", ")}: deploy ships Moat with its dependencies, so install it with \`npm i -g agentmoat\``,
    );
  return dir;
}

export interface MoatTarball {
  file: string;
  sha256: string;
}

// Cached by content, so a re-deploy finds the same tarball and uploads nothing when nothing changed.
export function moatTarball(root = packageRoot(), cache = operatorCache()): MoatTarball {
  mkdirSync(cache, { recursive: true });
  const dir = moatPackageDir(root, cache);
  const stamp = createHash("sha256").update(dir);
  for (const f of ["package.json", "bin", "dist"]) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) hashTree(p, stamp);
    else stamp.update(readFileSync(p));
  }
  const name = `deploy-${stamp.digest("hex").slice(0, 12)}.tgz`;
  const file = join(cache, name);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}`;
    const parts = ["package.json", "bin", "dist", "node_modules"].filter((p) => existsSync(join(dir, p)));
    execFileSync("tar", ["-czf", tmp, "-C", dir, ...parts], { stdio: "pipe" });
    renameSync(tmp, file);
    pruneSuperseded(cache, /^deploy-[0-9a-f]{12}\.tgz$/, name);
  }
  return { file, sha256: createHash("sha256").update(readFileSync(file)).digest("hex") };
}
