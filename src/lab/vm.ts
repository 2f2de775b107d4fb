// One simulated VM: a private copy of the base rootfs booted with systemd as its init under
// systemd-nspawn, inside a network namespace the lab made. nspawn runs detached with its console
// in a file, so the VM outlives the command that booted it and later commands attach by pid.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// A zombie or dead process counts as gone: nspawn detached from a process that exited is reaped late.
export const processAlive = (pid: number): boolean => {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LabVm {
  private initPid = 0;

  constructor(
    readonly name: string,
    readonly netns: string,
    readonly root: string,
    readonly consoleFile: string,
    public nspawnPid = 0,
  ) {}

  // Copy the base (cp -a keeps owners, modes and device nodes) and add files before boot.
  prepare(base: string, files: Record<string, { content: string | Buffer; mode?: number }> = {}): void {
    rmSync(this.root, { recursive: true, force: true });
    mkdirSync(dirname(this.root), { recursive: true });
    execFileSync("cp", ["-a", base, this.root], { stdio: "pipe", timeout: 300_000 });
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

  async boot(timeoutMs = 60_000): Promise<void> {
    mkdirSync(dirname(this.consoleFile), { recursive: true });
    const console = openSync(this.consoleFile, "a");
    const child = spawn(
      "systemd-nspawn",
      [
        "-D",
        this.root,
        "--boot",
        "-M",
        this.name,
        "--register=no",
        "--keep-unit",
        `--network-namespace-path=/run/netns/${this.netns}`,
        "--capability=all",
        "--system-call-filter=@keyring",
        "--console=pipe",
        // The lab writes the VM's resolver itself; nspawn would copy this machine's.
        "--resolv-conf=off",
      ],
      {
        stdio: ["ignore", console, console],
        detached: true,
        // A real VM's root may write its network sysctls; nspawn mounts /proc/sys read-only
        // by default, and Docker 27+ then cannot start a container (it turns IPv6 off on the
        // container's interface by writing /proc/sys/net and fails when it cannot).
        env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" },
      },
    );
    closeSync(console);
    child.unref();
    this.nspawnPid = child.pid ?? 0;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!processAlive(this.nspawnPid))
        throw new Error(`VM ${this.name} exited while booting:\n${this.consoleTail()}`);
      if (this.findInit()) {
        const state = this.exec(["systemctl", "is-system-running"]).stdout.trim();
        if (state === "running" || state === "degraded") return;
      }
      await sleep(200);
    }
    throw new Error(`VM ${this.name} did not reach running within ${timeoutMs} ms:\n${this.consoleTail()}`);
  }

  get running(): boolean {
    return this.nspawnPid > 0 && processAlive(this.nspawnPid);
  }

  // The VM's systemd is the nspawn process's child.
  private findInit(): number {
    if (!this.running) return 0;
    const r = spawnSync("pgrep", ["-P", String(this.nspawnPid)], { encoding: "utf8" });
    this.initPid = Number(r.stdout.trim().split("\n")[0]) || 0;
    return this.initPid;
  }

  get pid(): number {
    return this.initPid || this.findInit();
  }

  exec(
    argv: string[],
    opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
  ): ExecResult {
    const pid = this.pid;
    if (!pid) throw new Error(`VM ${this.name} is not running`);
    const env = Object.entries({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C.UTF-8",
      ...opts.env,
    }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync("nsenter", ["-t", String(pid), "-a", "env", "-i", ...env, ...argv], {
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

  // exec with the VM command's output passed straight through (progress of a long step).
  execInherit(argv: string[], env: Record<string, string> = {}): number {
    const pid = this.pid;
    if (!pid) throw new Error(`VM ${this.name} is not running`);
    const vars = Object.entries({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C.UTF-8",
      ...env,
    }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync("nsenter", ["-t", String(pid), "-a", "env", "-i", ...vars, ...argv], {
      stdio: "inherit",
    });
    return r.status ?? -1;
  }

  // exec that throws with the output when the command fails.
  must(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.exec(argv, opts);
    if (r.code !== 0)
      throw new Error(`in VM ${this.name}: ${argv.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  consoleTail(): string {
    return existsSync(this.consoleFile) ? readFileSync(this.consoleFile, "utf8").slice(-20_000) : "";
  }

  async poweroff(): Promise<void> {
    if (!this.running) return;
    if (this.pid)
      spawnSync("nsenter", ["-t", String(this.pid), "-a", "systemctl", "poweroff"], { timeout: 5000 });
    const deadline = Date.now() + 10_000;
    while (this.running && Date.now() < deadline) await sleep(100);
    if (this.running) process.kill(this.nspawnPid, "SIGKILL");
    while (this.running) await sleep(50);
  }

  async destroy(): Promise<void> {
    try {
      await this.poweroff();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}
