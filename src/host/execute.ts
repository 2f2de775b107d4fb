// The executor: carries out planned actions as root. Each action is idempotent by itself, so a
// run stopped half-way is finished by the next one.

import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { MoatError } from "../errors.js";
import { agentCommand } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import { HOST_STATE_DIR } from "./files.js";
import { keyringProblems } from "./openpgp.js";
import { accounts, groups, run } from "./shell.js";
import { dueToSay, type Say, sleep, waitingLine } from "./step.js";
import type { Action } from "./types.js";

export class ActionFailed extends MoatError {
  override readonly name = "ActionFailed";
  readonly code = "MOAT_HOST_ACTION_FAILED";
}

const uidOf = (name: string) => {
  const a = accounts().find((x) => x.name === name);
  if (!a) throw new ActionFailed(`no user ${name}`);
  return a.uid;
};
const gidOf = (name: string) => {
  const g = groups().find((x) => x.name === name);
  if (!g) throw new ActionFailed(`no group ${name}`);
  return g.gid;
};

// Missing parents take the owner of their nearest existing ancestor (so ~agent/.config stays the agent's).
function ensureParent(path: string): void {
  const missing: string[] = [];
  let dir = dirname(path);
  while (!existsSync(dir)) {
    missing.unshift(dir);
    dir = dirname(dir);
  }
  const { uid, gid } = statSync(dir);
  for (const d of missing) {
    mkdirSync(d, { mode: 0o755 });
    chownSync(d, uid, gid);
  }
}

// Written beside the target and renamed over it: a reader never sees half a file.
function writeAtomically(
  path: string,
  content: string | Buffer,
  mode: number,
  uid: number,
  gid: number,
): void {
  ensureParent(path);
  const tmp = `${path}.moat-tmp`;
  writeFileSync(tmp, content, { mode });
  chownSync(tmp, uid, gid);
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function envFromFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0 && !line.startsWith("#")) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

function runAction(spec: MoatSpec, a: Extract<Action, { kind: "run" }>): void {
  // Secrets from envFile travel in the environment, never in argv (visible in /proc to all).
  const secrets = a.envFile ? envFromFile(a.envFile) : {};
  const cmd = a.asAgent ? agentCommand(spec, a.argv) : { argv: a.argv, env: {} };
  const r = run(cmd.argv, {
    ...(a.stdinFile && { stdinFile: a.stdinFile }),
    env: { ...cmd.env, ...secrets },
  });
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-6).join("\n");
    throw new ActionFailed(`\`${a.argv.join(" ")}\` exited ${r.code}${tail ? `:\n${tail}` : ""}`);
  }
}

// A signing key is trusted only when it is the pinned one: checked in memory before it is
// written, and read back afterwards so what apt will read is what was checked.
async function fetchKey(a: Extract<Action, { kind: "fetch-key" }>): Promise<void> {
  if (!a.url.startsWith("https://")) throw new ActionFailed(`refusing to fetch a key over ${a.url}`);
  let bytes: Buffer;
  try {
    // Redirects are followed: trust comes from the fingerprint below, not from where bytes came from.
    const res = await fetch(a.url, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    const cause = (err as Error).cause as Error | undefined;
    throw new ActionFailed(
      `cannot download ${a.url}: ${(err as Error).message}${cause?.message ? ` (${cause.message})` : ""}`,
    );
  }
  const before = keyringProblems(bytes, a.fingerprint, a.url);
  if (before.length) throw new ActionFailed(before.join("; "));
  writeAtomically(a.file.path, bytes, a.file.mode, uidOf(a.file.owner), gidOf(a.file.group));
  const after = keyringProblems(readFileSync(a.file.path), a.fingerprint, a.file.path);
  if (after.length) {
    rmSync(a.file.path, { force: true });
    throw new ActionFailed(after.join("; "));
  }
}

async function awaitOutput(spec: MoatSpec, a: Extract<Action, { kind: "await" }>, say: Say): Promise<void> {
  const started = Date.now();
  const deadline = started + a.timeoutMs;
  let said: number | null = null;
  const pattern = new RegExp(a.match);
  const cmd = a.asAgent ? agentCommand(spec, a.argv) : { argv: a.argv, env: {} };
  for (;;) {
    const r = run(cmd.argv, { timeoutMs: 10_000, env: cmd.env });
    if (r.code === 0 && pattern.test(r.stdout)) return;
    const now = Date.now();
    if (dueToSay(now, started, said)) {
      say(waitingLine([a.why], now - started, a.timeoutMs));
      said = now;
    }
    if (now >= deadline) {
      const last = (r.stdout || r.stderr).trim().split("\n").slice(-3).join("; ");
      throw new ActionFailed(
        `${a.why}: \`${a.argv.join(" ")}\` did not report it within ${a.timeoutMs} ms${last ? ` (last: ${last})` : ""}`,
      );
    }
    await sleep(500);
  }
}

export async function execute(spec: MoatSpec, a: Action, say: Say = () => {}): Promise<void> {
  switch (a.kind) {
    case "fetch-key":
      return fetchKey(a);
    case "await":
      return awaitOutput(spec, a, say);
    case "write":
      writeAtomically(a.file.path, a.file.content, a.file.mode, uidOf(a.file.owner), gidOf(a.file.group));
      return;
    case "mkdir":
      ensureParent(a.path);
      if (!existsSync(a.path)) mkdirSync(a.path, { mode: a.mode });
      chownSync(a.path, uidOf(a.owner), gidOf(a.group));
      chmodSync(a.path, a.mode);
      return;
    case "symlink": {
      ensureParent(a.path);
      const tmp = `${a.path}.moat-tmp`;
      rmSync(tmp, { force: true });
      symlinkSync(a.target, tmp);
      const { uid, gid } = statSync(dirname(a.path));
      lchownSync(tmp, uid, gid);
      renameSync(tmp, a.path);
      return;
    }
    case "chmod":
      chmodSync(a.path, a.mode);
      return;
    case "install-tree": {
      // Into a fresh sibling, then swapped in, so a failed copy leaves the old install working.
      const next = `${a.to}.moat-next`;
      rmSync(next, { recursive: true, force: true });
      ensureParent(a.to);
      if (lstatSync(a.from).isDirectory()) {
        cpSync(a.from, next, {
          recursive: true,
          filter: (src) => !/^\/(\.git|src|test|node)(\/|$)/.test(src.slice(a.from.length)),
        });
      } else {
        cpSync(a.from, next);
      }
      for (const entry of a.keep ?? []) {
        if (existsSync(`${a.to}/${entry}`)) renameSync(`${a.to}/${entry}`, `${next}/${entry}`);
      }
      rmSync(a.to, { recursive: true, force: true });
      renameSync(next, a.to);
      writeAtomically(a.stampPath, a.stamp, 0o644, 0, 0);
      return;
    }
    case "record": {
      let content = a.content ?? "";
      if (a.command) {
        const r = run(a.command);
        if (r.code !== 0)
          throw new ActionFailed(`\`${a.command.join(" ")}\` exited ${r.code}: ${r.stderr.trim()}`);
        content = r.stdout;
      }
      if (!existsSync(HOST_STATE_DIR)) mkdirSync(HOST_STATE_DIR, { mode: 0o700 });
      writeAtomically(`${HOST_STATE_DIR}/${a.name}`, content, 0o600, 0, 0);
      return;
    }
    case "run":
      runAction(spec, a);
      return;
    case "fail":
      throw new ActionFailed(a.message);
  }
}
