// Disposable Debian VMs for host-apply tests: one debootstrapped base rootfs per package list,
// cached under /var/cache/moat-test with every package host apply installs pre-downloaded (so a
// converge needs no network), copied per scenario and booted under systemd-nspawn inside a test
// network namespace linked only to other test namespaces. Nothing here touches this machine's
// own configuration; everything made is removed by name or pid.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const CACHE = "/var/cache/moat-test";
const SUITE = "trixie";
const MIRROR = "http://deb.debian.org/debian";
// What the booted system needs to boot and be reached; the rest is host apply's job.
const BASE_INCLUDE = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "iproute2",
  "nftables",
  "openssh-server",
  "ca-certificates",
];
// Host apply's package list for Debian 13 (src/host/distro.ts), downloaded but not installed.
export const VM_PACKAGES = [
  "docker.io",
  "docker-cli",
  "docker-compose",
  "rootlesskit",
  "uidmap",
  "slirp4netns",
  "dbus-user-session",
  "iptables",
  "fail2ban",
  "python3-systemd",
  "unattended-upgrades",
];

const sh = (cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}) =>
  execFileSync(cmd, args, {
    encoding: "utf8",
    input: opts.input,
    timeout: opts.timeout,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });

// The base rootfs for this package list, built once (about a minute) and reused by later runs.
export function ensureBaseRootfs(): string {
  const key = createHash("sha256")
    .update(JSON.stringify([SUITE, MIRROR, BASE_INCLUDE, VM_PACKAGES, 1]))
    .digest("hex")
    .slice(0, 12);
  const base = join(CACHE, `base-${SUITE}-${key}`);
  if (existsSync(join(base, ".moat-base-ready"))) return base;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${base}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    sh("debootstrap", ["--variant=minbase", `--include=${BASE_INCLUDE.join(",")}`, SUITE, tmp, MIRROR], {
      timeout: 600_000,
    });
    // Downloads only: the archives stay in the rootfs for host apply's offline apt-get install.
    sh("chroot", [tmp, "apt-get", "update", "-qq"], { timeout: 300_000 });
    sh("chroot", [tmp, "apt-get", "install", "-d", "-y", "-qq", "--no-install-recommends", ...VM_PACKAGES], {
      timeout: 600_000,
    });
    writeFileSync(join(tmp, ".moat-base-ready"), `${new Date().toISOString()}\n`);
    rmSync(base, { recursive: true, force: true });
    renameSync(tmp, base);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return base;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// One booted VM: a private copy of the base rootfs, systemd as its init, in the given namespace.
export class TestVm {
  readonly root: string;
  private nspawn: ChildProcess | undefined;
  private initPid = 0;
  private log = "";

  constructor(
    readonly name: string,
    private readonly netnsName: string,
  ) {
    this.root = join(CACHE, `run-${name}-${process.pid}`);
  }

  // Copy the base (cp -a keeps owners, modes and device nodes) and add files before boot.
  prepare(base: string, files: Record<string, { content: string | Buffer; mode?: number }> = {}): void {
    rmSync(this.root, { recursive: true, force: true });
    sh("cp", ["-a", base, this.root], { timeout: 120_000 });
    for (const [path, f] of Object.entries(files)) this.writeFile(path, f.content, f.mode);
  }

  writeFile(path: string, content: string | Buffer, mode = 0o644): void {
    const full = join(this.root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content, { mode });
  }

  copyIn(hostPath: string, vmPath: string): void {
    const full = join(this.root, vmPath);
    mkdirSync(dirname(full), { recursive: true });
    cpSync(hostPath, full, { recursive: true, dereference: false, preserveTimestamps: true });
  }

  async boot(timeoutMs = 30_000): Promise<void> {
    this.nspawn = spawn(
      "systemd-nspawn",
      [
        "-D",
        this.root,
        "--boot",
        "-M",
        this.name,
        "--register=no",
        "--keep-unit",
        `--network-namespace-path=/run/netns/${this.netnsName}`,
        "--capability=all",
        "--system-call-filter=@keyring",
        "--console=pipe",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-20_000);
    };
    this.nspawn.stdout?.on("data", keep);
    this.nspawn.stderr?.on("data", keep);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.nspawn.exitCode !== null)
        throw new Error(`VM ${this.name} exited while booting:\n${this.log}`);
      this.initPid = this.findInit();
      if (this.initPid) {
        const state = this.exec(["systemctl", "is-system-running"]).stdout.trim();
        if (state === "running" || state === "degraded") return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`VM ${this.name} did not reach running within ${timeoutMs} ms:\n${this.log}`);
  }

  // The VM's systemd is the nspawn process's child.
  private findInit(): number {
    const pid = this.nspawn?.pid;
    if (!pid) return 0;
    const r = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
    return Number(r.stdout.trim().split("\n")[0]) || 0;
  }

  exec(
    argv: string[],
    opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
  ): ExecResult {
    if (!this.initPid) throw new Error(`VM ${this.name} is not booted`);
    const env = Object.entries({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C.UTF-8",
      ...opts.env,
    }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync("nsenter", ["-t", String(this.initPid), "-a", "env", "-i", ...env, ...argv], {
      encoding: "utf8",
      input: opts.input,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 << 20,
    });
    return {
      code: r.status ?? -1,
      stdout: r.stdout ?? "",
      stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`,
    };
  }

  // exec that throws with the output when the command fails.
  must(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.exec(argv, opts);
    if (r.code !== 0)
      throw new Error(`in VM ${this.name}: ${argv.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  get pid(): number {
    return this.initPid;
  }

  consoleLog(): string {
    return this.log;
  }

  async poweroff(): Promise<void> {
    const child = this.nspawn;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (this.initPid)
      spawnSync("nsenter", ["-t", String(this.initPid), "-a", "systemctl", "poweroff"], { timeout: 5000 });
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    try {
      await this.poweroff();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

// Leftovers of earlier runs whose test process is gone (a crashed run cannot clean up after itself).
export function removeStaleCopies(): void {
  if (!existsSync(CACHE)) return;
  for (const entry of readdirSync(CACHE)) {
    const m = entry.match(/^run-.+-(\d+)$|^base-.+\.building-(\d+)$/);
    const pid = Number(m?.[1] ?? m?.[2]);
    if (!pid || existsSync(`/proc/${pid}`)) continue;
    rmSync(join(CACHE, entry), { recursive: true, force: true });
  }
}
