// The rendered seccomp profiles load in a real Docker daemon and block what they claim to.
// A private rootful dockerd (no iptables, no bridge, its own socket and data root) runs one
// busybox image imported from a local file; containers have no network at all.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderSeccomp } from "../../src/render/seccomp.js";
import { specFrom } from "../helpers.js";
import { needsRoot } from "../support/root.js";

const BUSYBOX = "/bin/busybox";
const IMAGE = "moat-seccomp-probe:1";
const missing = ["dockerd", "docker"].filter((b) => spawnSync("which", [b]).status !== 0);
if (!existsSync(BUSYBOX)) missing.push(BUSYBOX);
const skip =
  needsRoot("a private dockerd") ||
  (missing.length ? `missing ${missing.join(", ")} (apt-get install -y docker.io busybox-static)` : false);

describe("seccomp profiles in a real container", { skip }, () => {
  let dir = "";
  let daemon: ChildProcess | undefined;
  const docker = (args: string[], input?: Buffer) =>
    spawnSync("docker", ["-H", `unix://${dir}/docker.sock`, ...args], {
      input,
      encoding: "utf8",
      timeout: 60_000,
    });
  const profiles: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "moat-seccomp-"));
    const id = dir.slice(-6);
    daemon = spawn(
      "dockerd",
      [
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        `--data-root=${dir}/data`,
        `--exec-root=${dir}/exec`,
        `--pidfile=${dir}/dockerd.pid`,
        `--host=unix://${dir}/docker.sock`,
        `--containerd-namespace=moat-${id}`,
        `--containerd-plugins-namespace=moat-${id}-p`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    daemon.stderr?.on("data", (d) => {
      log += d;
    });
    for (let i = 0; docker(["version"]).status !== 0; i++) {
      if (i > 60 || daemon.exitCode !== null) throw new Error(`dockerd did not start:\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const rootfs = join(dir, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    writeFileSync(join(rootfs, "bin/busybox"), readFileSync(BUSYBOX), { mode: 0o755 });
    execFileSync("tar", ["-C", rootfs, "-cf", join(dir, "rootfs.tar"), "."]);
    const imported = docker(["import", join(dir, "rootfs.tar"), IMAGE]);
    assert.equal(imported.status, 0, imported.stderr);
    for (const choice of ["moat", "docker-default"] as const) {
      const spec = specFrom();
      spec.hardening.seccomp = choice;
      profiles[choice] = join(dir, `${choice}.json`);
      writeFileSync(profiles[choice], renderSeccomp(spec)[0]?.content ?? "");
    }
    profiles.unconfined = "unconfined";
  });

  after(async () => {
    if (daemon && daemon.exitCode === null) {
      docker(["rmi", "-f", IMAGE]);
      const exited = new Promise((r) => daemon?.once("exit", r));
      daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000).unref())]);
      if (daemon.exitCode === null) daemon.kill("SIGKILL");
    }
    // Overlay and shm mounts under the data root outlive a killed daemon; unmount before deleting.
    if (dir) {
      const mounts = readFileSync("/proc/self/mounts", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[1] ?? "")
        .filter((m) => m.startsWith(dir))
        .reverse();
      for (const m of mounts) spawnSync("umount", ["-l", m]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Runs busybox as the agent runs: non-root, no capabilities unless asked, no network.
  const run = (profile: string, args: string[], capAdd: string[] = []) =>
    docker([
      "run",
      "--rm",
      "--network=none",
      "--user=1000:1000",
      "--cap-drop=ALL",
      ...capAdd.map((c) => `--cap-add=${c}`),
      "--security-opt=no-new-privileges:true",
      `--security-opt=seccomp=${profiles[profile]}`,
      IMAGE,
      "/bin/busybox",
      ...args,
    ]);
  const unshareUser = ["unshare", "-U", "/bin/busybox", "true"];
  const linux32 = ["linux32", "/bin/busybox", "uname", "-m"];

  it("moat loads and ordinary work runs", () => {
    const r = run("moat", ["sh", "-c", "echo ok; ls /bin"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ok\nbusybox\n$/);
  });

  it("moat blocks creating a user namespace", () => {
    const r = run("moat", unshareUser);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unshare.*Operation not permitted/);
  });

  it("negative control: without seccomp the same unshare succeeds", () => {
    const r = run("unconfined", unshareUser);
    assert.equal(r.status, 0, r.stderr);
  });

  it("moat keeps namespaces closed even with CAP_SYS_ADMIN, where Docker's default opens them", () => {
    const moat = run("moat", unshareUser, ["SYS_ADMIN"]);
    assert.notEqual(moat.status, 0);
    assert.match(moat.stderr, /Operation not permitted/);
    const upstream = run("docker-default", unshareUser, ["SYS_ADMIN"]);
    assert.equal(upstream.status, 0, upstream.stderr);
  });

  it("moat refuses the 32-bit personality that Docker's default allows", () => {
    const moat = run("moat", linux32);
    assert.notEqual(moat.status, 0);
    assert.match(moat.stderr, /Operation not permitted/);
    const upstream = run("docker-default", linux32);
    assert.equal(upstream.status, 0, upstream.stderr);
    assert.match(upstream.stdout, /^(i686|armv8l|armv7l)\n$/);
  });
});
