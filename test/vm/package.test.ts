// The npm package works as published: a fresh clone of the committed tree is packed with `npm
// pack` (its prepack build puts the compiled dist/ in), the tarball is installed into a temporary
// prefix as a user installs it (`npm install -g`), and the installed `moat` starts, writes a lab
// spec with `moat init --yes --target lab` and — with the OpenClaw prefix at hand, as root — brings
// that lab up and down. The clone borrows this checkout's node_modules (what `npm ci` would give
// it); the install's dependencies come from the npm registry or its cache.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { needsRoot } from "../support/root.js";

const REPO = new URL("../..", import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const openclawPrefix = process.env.MOAT_OPENCLAW_PREFIX ?? "";

const run = (cmd: string, args: string[], cwd: string, timeout = 600_000) => {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout,
    maxBuffer: 64 << 20,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout ?? "",
    out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`,
  };
};
// npm pack --json's report; the lifecycle scripts' output may come before it.
const packReport = (stdout: string) =>
  (JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Packed[])[0] as Packed;

interface Packed {
  filename: string;
  entryCount: number;
  files: { path: string }[];
}

// What an installed `moat` needs in the tarball; an empty list means it can start.
function missingFromPackage(files: string[]): string[] {
  const need = [
    "package.json",
    "bin/moat.js",
    "dist/cli/main.js",
    "dist/lab/open.js",
    "vendor/openclaw-image/package-lock.json",
  ];
  return need.filter((f) => !files.includes(f));
}

describe("the npm package as published", { concurrency: false, timeout: 1_800_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "moat-package-"));
  const clone = join(tmp, "clone");
  const prefix = join(tmp, "prefix");
  const work = join(tmp, "work");
  const moat = (...args: string[]) => run(join(prefix, "bin/moat"), args, work, 900_000);
  let packed: Packed;

  before(() => {
    const c = run("git", ["clone", "--quiet", REPO, clone], tmp);
    assert.equal(c.code, 0, c.out);
    symlinkSync(join(REPO, "node_modules"), join(clone, "node_modules"));
    const started = performance.now();
    const p = run("npm", ["pack", "--json", "--pack-destination", tmp, "--loglevel=error"], clone);
    assert.equal(p.code, 0, p.out);
    console.log(
      `# npm pack (with its prepack build): ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    packed = packReport(p.stdout);
    mkdirSync(work);
  });
  after(() => {
    if (existsSync(join(work, "moat.yaml"))) moat("lab", "down", "-c", "moat.yaml");
    rmSync(tmp, { recursive: true, force: true });
  });

  it("packs the compiled code, and no source or tests", () => {
    const files = packed.files.map((f) => f.path);
    console.log(`# ${packed.filename}: ${packed.entryCount} files`);
    assert.deepEqual(missingFromPackage(files), []);
    assert.deepEqual(
      files.filter((f) => /^(src|test|scripts|bench)\//.test(f)),
      [],
      "only bin, dist, vendor and the package's own files",
    );
  });

  it("the check sees a package without its build (negative control: npm pack --ignore-scripts)", () => {
    const bare = join(tmp, "bare");
    assert.equal(run("git", ["clone", "--quiet", REPO, bare], tmp).code, 0);
    const p = run("npm", ["pack", "--json", "--dry-run", "--ignore-scripts", "--loglevel=error"], bare);
    assert.equal(p.code, 0, p.out);
    const files = packReport(p.stdout).files.map((f) => f.path);
    assert.ok(missingFromPackage(files).includes("dist/cli/main.js"), files.join("\n"));
  });

  it("installs into a prefix, and the installed moat starts and writes a lab spec", () => {
    const started = performance.now();
    const i = run(
      "npm",
      [
        "install",
        "-g",
        "--prefix",
        prefix,
        join(tmp, packed.filename),
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
      ],
      tmp,
    );
    assert.equal(i.code, 0, i.out);
    console.log(`# npm install -g --prefix: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const installed = join(prefix, "lib/node_modules/agentmoat");
    assert.equal(existsSync(join(installed, "src")), false, "the installed package has no TypeScript source");
    const v = moat("--version");
    assert.equal(v.code, 0, v.out);
    assert.equal(v.out.trim(), VERSION);
    const init = moat("init", "--yes", "--target", "lab", "-c", "moat.yaml");
    assert.equal(init.code, 0, init.out);
    const valid = moat("validate", "-c", "moat.yaml");
    assert.equal(valid.code, 0, valid.out);
  });

  it("brings the lab up and down from the installed package", {
    skip:
      needsRoot("moat lab") ||
      (!openclawPrefix
        ? "set MOAT_OPENCLAW_PREFIX (scripts/openclaw-validator.sh): the spec moat init writes runs OpenClaw"
        : false),
  }, () => {
    moat("lab", "down", "-c", "moat.yaml");
    const started = performance.now();
    const up = moat("lab", "up", "-c", "moat.yaml");
    assert.equal(up.code, 0, up.out);
    console.log(
      `# moat lab up from the installed package: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.match(up.out, /lab my-agent up in/);
    const down = moat("lab", "down", "-c", "moat.yaml");
    assert.equal(down.code, 0, down.out);
    assert.match(down.out, /namespace moat-lab-my-agent/);
  });
});
