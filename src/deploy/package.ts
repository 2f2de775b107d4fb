// The Moat package deploy uploads: package.json, bin/, dist/ and production dependencies (all
// pure JavaScript), as one tarball. From an installed Moat that is the package itself; from a
// source checkout it is the lab's build of it (src/lab/package.ts, cached per source state).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../host/runtime.js";
import { stageMoatPackage } from "../lab/package.js";

// The operator's own cache (the lab's build cache under /var/cache may not be writable).
const operatorCache = (env: NodeJS.ProcessEnv = process.env) =>
  env.MOAT_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "moat");

function hashTree(dir: string, h: ReturnType<typeof createHash>): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) hashTree(p, h);
    else h.update(p).update(readFileSync(p));
  }
}

// The directory holding the package to ship, with its dependencies inside it.
function moatPackageDir(root = packageRoot()): string {
  const dir = stageMoatPackage(root);
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
  const dir = moatPackageDir(root);
  const stamp = createHash("sha256").update(dir);
  for (const f of ["package.json", "bin", "dist"]) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) hashTree(p, stamp);
    else stamp.update(readFileSync(p));
  }
  mkdirSync(cache, { recursive: true });
  const name = `deploy-${stamp.digest("hex").slice(0, 12)}.tgz`;
  const file = join(cache, name);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}`;
    const parts = ["package.json", "bin", "dist", "node_modules"].filter((p) => existsSync(join(dir, p)));
    execFileSync("tar", ["-czf", tmp, "-C", dir, ...parts], { stdio: "pipe" });
    renameSync(tmp, file);
    // Earlier tarballs are superseded by this one (once no other run can still be uploading them).
    const stale = Date.now() - 3 * 3600_000;
    for (const e of readdirSync(cache)) {
      const p = join(cache, e);
      if (/^deploy-[0-9a-f]{12}\.tgz$/.test(e) && e !== name && statSync(p).mtimeMs < stale)
        rmSync(p, { force: true });
    }
  }
  return { file, sha256: createHash("sha256").update(readFileSync(file)).digest("hex") };
}
