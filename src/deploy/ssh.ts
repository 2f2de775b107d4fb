// SSH to the VM with the ssh2 library: host keys pinned in Moat's own known_hosts, the key from
// the spec/--identity or the usual ~/.ssh ids and the agent, commands with stdin (how secrets
// travel: never on a command line) and SFTP uploads.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { HostKeyMismatch, type KnownHosts, keyFromBlob } from "./known-hosts.js";
import type { SshEndpoint } from "./plan.js";
import { DeployProblem } from "./problem.js";

const { Client, utils } = ssh2;

export class SshUnavailable extends DeployProblem {
  override readonly name = "SshUnavailable";
  override readonly code = "MOAT_DEPLOY_SSH_UNAVAILABLE";
}

export interface SshAuth {
  identityFile?: string;
  privateKey?: Buffer;
  agent?: string;
}

const expandHome = (p: string) => (p.startsWith("~/") ? join(homedir(), p.slice(2)) : p);
const DEFAULT_IDS = ["id_ed25519", "id_ecdsa", "id_rsa"];

// The key given, else the first usual id that exists; the agent whenever SSH_AUTH_SOCK is set.
export function sshAuth(identityFile?: string, env: NodeJS.ProcessEnv = process.env): SshAuth {
  const agent = env.SSH_AUTH_SOCK || undefined;
  const file = identityFile
    ? expandHome(identityFile)
    : DEFAULT_IDS.map((n) => join(homedir(), ".ssh", n)).find((p) => existsSync(p));
  if (identityFile && !existsSync(expandHome(identityFile)))
    throw new SshUnavailable(`SSH key ${identityFile} does not exist`);
  if (!file && !agent)
    throw new SshUnavailable(
      "no SSH key: set target.identityFile or --identity, create ~/.ssh/id_ed25519 (ssh-keygen -t ed25519), or start ssh-agent",
    );
  if (!file) return { ...(agent && { agent }) };
  const privateKey = readFileSync(file);
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    if (agent) return { identityFile: file, agent };
    throw new SshUnavailable(
      `cannot use ${file}: ${parsed.message} (for a key with a passphrase, add it to ssh-agent)`,
    );
  }
  return { identityFile: file, privateKey, ...(agent && { agent }) };
}

// The OpenSSH public key line for the cloud's authorized_keys: KEY.pub if present, else derived.
export function publicKeyLine(auth: SshAuth): string {
  if (!auth.identityFile)
    throw new SshUnavailable(
      "cloud targets need a key file for the instance (--identity or ~/.ssh/id_ed25519)",
    );
  const pub = `${auth.identityFile}.pub`;
  if (existsSync(pub)) return readFileSync(pub, "utf8").trim();
  const parsed = auth.privateKey ? utils.parseKey(auth.privateKey) : new Error("no key");
  if (parsed instanceof Error)
    throw new SshUnavailable(`cannot read the public half of ${auth.identityFile}: ${pub} is missing`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return `${key.type} ${key.getPublicSSH().toString("base64")} moat-deploy`;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  // Written to the command's stdin, then closed.
  stdin?: string;
  // Instead: stdin is held open until this settles, then closed (a long-running remote command
  // that ends when its stdin does, like `moat logs --follow --until-stdin-closes`).
  stdinOpenUntil?: Promise<unknown>;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
}

export interface Remote {
  endpoint: SshEndpoint;
  run(command: string, opts?: RunOptions): Promise<RunResult>;
  upload(local: string, remote: string, mode: number): Promise<void>;
  close(): void;
}

const lineSplitter = (emit?: (line: string) => void) => {
  let rest = "";
  return {
    push(chunk: string) {
      if (!emit) return;
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) emit(l);
    },
    flush() {
      if (emit && rest) emit(rest);
      rest = "";
    },
  };
};

function connectSsh(
  endpoint: SshEndpoint,
  auth: SshAuth,
  knownHosts: KnownHosts,
  timeoutMs = 20_000,
): Promise<Remote> {
  const client = new Client();
  let mismatch: HostKeyMismatch | undefined;
  const pinned = knownHosts.pinned(endpoint.host, endpoint.port);
  return new Promise((resolve, reject) => {
    client
      .on("ready", () => resolve(remoteOf(client, endpoint)))
      .on("error", (err) => {
        client.end();
        reject(mismatch ?? err);
      })
      .connect({
        host: endpoint.host,
        port: endpoint.port,
        username: endpoint.user,
        ...(auth.privateKey && { privateKey: auth.privateKey }),
        ...(auth.agent && { agent: auth.agent }),
        readyTimeout: timeoutMs,
        // Ask for a pinned key type, so a host with several keys is compared with the one on record.
        ...(pinned.length && {
          algorithms: { serverHostKey: pinned as ssh2.ServerHostKeyAlgorithm[] },
        }),
        hostVerifier: (blob: Buffer) => {
          try {
            knownHosts.check(endpoint.host, endpoint.port, keyFromBlob(blob));
            return true;
          } catch (err) {
            if (err instanceof HostKeyMismatch) mismatch = err;
            return false;
          }
        },
      });
  });
}

function remoteOf(client: InstanceType<typeof Client>, endpoint: SshEndpoint): Remote {
  return {
    endpoint,
    run: (command, opts = {}) =>
      new Promise((resolve, reject) => {
        client.exec(command, (err, stream) => {
          if (err) return reject(err);
          let stdout = "";
          let stderr = "";
          const out = lineSplitter(opts.onStdoutLine);
          const errLines = lineSplitter(opts.onStderrLine);
          stream.on("data", (d: Buffer) => {
            stdout += d.toString();
            out.push(d.toString());
          });
          stream.stderr.on("data", (d: Buffer) => {
            stderr += d.toString();
            errLines.push(d.toString());
          });
          stream.on("close", (code: number | null) => {
            out.flush();
            errLines.flush();
            resolve({ code: code ?? -1, stdout, stderr });
          });
          if (opts.stdinOpenUntil) opts.stdinOpenUntil.finally(() => stream.end());
          else stream.end(opts.stdin ?? "");
        });
      }),
    upload: (local, remote, mode) =>
      new Promise((resolve, reject) => {
        client.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.fastPut(local, remote, { mode }, (e) => {
            sftp.end();
            if (e) reject(e);
            else resolve();
          });
        });
      }),
    close: () => client.end(),
  };
}

// A command line for the remote shell; every word quoted.
export const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
export const commandLine = (argv: readonly string[]) => argv.map(shellQuote).join(" ");

// Tries each candidate until one answers or the deadline passes, telling what it waits for.
// A changed host key stops at once: waiting would not make it trustworthy.
export async function reachHost(
  candidates: readonly SshEndpoint[],
  auth: SshAuth,
  knownHosts: KnownHosts,
  // authRefusedIsFinal: an existing host that refuses the key will not change its mind (a new
  // cloud VM may simply not have installed it yet).
  opts: {
    timeoutMs: number;
    onWait?: (message: string) => void;
    pollMs?: number;
    authRefusedIsFinal?: boolean;
  },
): Promise<Remote> {
  const started = Date.now();
  const errors = new Map<string, string>();
  for (;;) {
    for (const c of candidates) {
      try {
        return await connectSsh(c, auth, knownHosts, 15_000);
      } catch (err) {
        if (err instanceof HostKeyMismatch) throw err;
        const where = `${c.user}@${c.host}:${c.port}`;
        const message = (err as Error).message;
        if (opts.authRefusedIsFinal && /authentication methods failed/i.test(message))
          throw new SshUnavailable(
            `${where} refused the key (${message}); check target.user and the key (-i)`,
          );
        errors.set(where, message);
      }
    }
    const elapsed = Date.now() - started;
    const summary = [...errors].map(([where, why]) => `${where}: ${why}`).join("; ");
    if (elapsed >= opts.timeoutMs)
      throw new SshUnavailable(`no SSH after ${Math.round(elapsed / 1000)} s (${summary})`);
    opts.onWait?.(`waiting for SSH (${Math.round(elapsed / 1000)} s): ${summary}`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 5000));
  }
}
