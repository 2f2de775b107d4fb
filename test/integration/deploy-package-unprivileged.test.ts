// `moat deploy` from a checkout packages Moat on the operator's laptop, as the operator's own
// user: the build and the tarball must land in that user's cache (XDG), never in the lab's
// root-owned /var/cache/moat-lab. This runs the packaging as a fresh unprivileged user with a
// clean HOME. Switching user needs root, so it skips otherwise (it may move to a tools tier).
// There is no registry here: the user's npm cache is a copy of root's (an operator has the
// network instead), handed over by npm_config_cache so HOME stays clean.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LAB_CACHE } from "../../src/lab/rootfs.js";

const REPO = new URL("../..", import.meta.url).pathname;
const USER = `moat-test-${process.pid}`;
const isRoot = process.getuid?.() === 0;
const rootNpmCache = () => execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim();

describe("deploy packaging as an unprivileged user", {
  skip: isRoot ? false : "needs root to switch user",
}, () => {
  let work = "";
  let home = "";
  let uid = -1;

  before(() => {
    execFileSync("useradd", ["--create-home", "--shell", "/bin/sh", USER]);
    home = execFileSync("getent", ["passwd", USER], { encoding: "utf8" }).split(":")[5] ?? "";
    uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }));
    work = mkdtempSync(join(tmpdir(), "moat-pkg-user-"));
    execFileSync("cp", ["-a", rootNpmCache(), join(work, "npm-cache")]);
    writeFileSync(
      join(work, "package-it.ts"),
      `import { moatTarball } from ${JSON.stringify(join(REPO, "src/deploy/package.ts"))};\n` +
        `console.log(JSON.stringify(moatTarball(${JSON.stringify(REPO)})));\n`,
    );
    execFileSync("chown", ["-R", `${USER}:${USER}`, work]);
  });

  after(() => {
    spawnSync("userdel", ["--remove", USER], { stdio: "ignore" });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("builds the tarball under ~/.cache/moat and writes nothing to the lab's cache", () => {
    const run = spawnSync(
      "runuser",
      [
        "-u",
        USER,
        "--",
        "env",
        "-i",
        `HOME=${home}`,
        `PATH=${process.env.PATH}`,
        `npm_config_cache=${join(work, "npm-cache")}`,
        join(REPO, "node_modules/.bin/tsx"),
        join(work, "package-it.ts"),
      ],
      { cwd: work, encoding: "utf8", timeout: 600_000 },
    );
    assert.equal(run.status, 0, `packaging as ${USER} failed:\n${run.stdout}\n${run.stderr}`);
    const tarball = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as {
      file: string;
      sha256: string;
    };
    assert.ok(tarball.file.startsWith(join(home, ".cache/moat/")), `${tarball.file} is not in ~/.cache/moat`);
    assert.equal(statSync(tarball.file).uid, uid);
    const listing = execFileSync("tar", ["-tzf", tarball.file], { encoding: "utf8" });
    assert.match(listing, /^dist\/cli\/main\.js$/m);
    assert.match(listing, /^node_modules\/yaml\/package\.json$/m);
    const labLeftovers = existsSync(LAB_CACHE)
      ? readdirSync(LAB_CACHE).filter((e) => statSync(join(LAB_CACHE, e)).uid === uid)
      : [];
    assert.deepEqual(labLeftovers, [], `the lab's cache got files of ${USER}`);
  });
});
