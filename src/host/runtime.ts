// Where the running Moat and its Node come from, and fingerprints that tell whether the copies
// under /opt/moat are current.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface NodeSource {
  binary: string;
  version: string;
  stamp: string;
}

export interface MoatSource {
  root: string;
  version: string;
  built: boolean;
  stamp: string;
}

export function nodeSource(): NodeSource {
  const binary = realpathSync(process.execPath);
  const size = statSync(binary).size;
  return { binary, version: process.version, stamp: `node ${process.version} ${process.arch} ${size}\n` };
}

// Both dist/host/runtime.js and src/host/runtime.ts sit two levels below the package root.
export const packageRoot = () => realpathSync(fileURLToPath(new URL("../..", import.meta.url)));

// The files a copy carries, by relative path and size, so any rebuild changes the stamp.
function listing(root: string, dir: string, out: string[]): void {
  if (!existsSync(join(root, dir))) return;
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) listing(root, rel, out);
    else out.push(`${rel} ${statSync(join(root, rel)).size}`);
  }
}

export function moatSource(root = packageRoot()): MoatSource {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: string };
  const files: string[] = [];
  for (const dir of ["bin", "dist"]) listing(root, dir, files);
  const hash = createHash("sha256")
    .update(readFileSync(join(root, "package.json")))
    .update(files.sort().join("\n"));
  return {
    root,
    version: pkg.version ?? "0.0.0",
    built: existsSync(join(root, "dist/cli/main.js")),
    stamp: `agentmoat ${pkg.version} ${hash.digest("hex").slice(0, 16)}\n`,
  };
}
