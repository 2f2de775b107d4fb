// The thin imperative shell under host apply: run a command, read a file, look up an account.
// Synchronous on purpose: steps run one after another and each command's result decides the next.
import { spawnSync } from "node:child_process";
import { closeSync, lstatSync, openSync, readFileSync, readlinkSync } from "node:fs";
import type { FileSeen } from "./types.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string | Buffer;
  // A file streamed to stdin (an image tarball can be larger than a Buffer is allowed to be).
  stdinFile?: string;
  timeoutMs?: number;
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

const BASE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  DEBIAN_FRONTEND: "noninteractive",
};

export function run(argv: string[], opts: RunOptions = {}): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("empty command");
  const stdin = opts.stdinFile === undefined ? "pipe" : openSync(opts.stdinFile, "r");
  const r = (() => {
    try {
      return spawnSync(cmd, args, {
        encoding: "utf8",
        env: { ...BASE_ENV, ...opts.env },
        input: opts.input,
        stdio: [stdin, "pipe", "pipe"],
        timeout: opts.timeoutMs ?? 600_000,
        maxBuffer: 64 << 20,
      });
    } finally {
      if (typeof stdin === "number") closeSync(stdin);
    }
  })();
  const spawnError = r.error ? `${r.error.message}\n` : "";
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: spawnError + (r.stderr ?? "") };
}

// stdout of a command that must succeed; null when it fails (an observation, not an action).
export function output(argv: string[], opts: RunOptions = {}): string | null {
  const r = run(argv, opts);
  return r.code === 0 ? r.stdout : null;
}

export function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function linkTarget(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function table(path: string): string[][] {
  return (readText(path) ?? "")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

export function accounts(): Account[] {
  return table("/etc/passwd").map(([name = "", , uid = "", gid = "", , home = "", shell = ""]) => ({
    name,
    uid: Number(uid),
    gid: Number(gid),
    home,
    shell,
  }));
}

// Group name → member names (supplementary membership only, as /etc/group lists it).
export function groups(): { name: string; gid: number; members: string[] }[] {
  return table("/etc/group").map(([name = "", , gid = "", members = ""]) => ({
    name,
    gid: Number(gid),
    members: members.split(",").filter(Boolean),
  }));
}

export function observeFile(path: string): FileSeen {
  try {
    const st = lstatSync(path);
    const owner = accounts().find((a) => a.uid === st.uid)?.name ?? String(st.uid);
    const group = groups().find((g) => g.gid === st.gid)?.name ?? String(st.gid);
    const content = st.isFile() ? readFileSync(path, "utf8") : null;
    return { path, content, mode: st.mode & 0o7777, owner, group };
  } catch {
    return { path, content: null, mode: 0, owner: "", group: "" };
  }
}

export const observeFiles = (paths: string[]) => new Map(paths.map((p) => [p, observeFile(p)]));

export function modeOf(path: string): number | null {
  try {
    return lstatSync(path).mode & 0o7777;
  } catch {
    return null;
  }
}

// systemd's view of a unit: enabled/disabled/… and active/inactive/…
export function unitState(unit: string, userOf?: string): { enabled: string; active: string } {
  const scope = userOf ? ["--user", "-M", `${userOf}@`] : [];
  const enabled = run(["systemctl", ...scope, "is-enabled", unit]).stdout.trim() || "unknown";
  const active = run(["systemctl", ...scope, "is-active", unit]).stdout.trim() || "unknown";
  return { enabled, active };
}
