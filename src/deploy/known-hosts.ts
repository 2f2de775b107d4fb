// Host keys, trusted on first use and pinned after: a moat-owned file in OpenSSH's known_hosts
// format next to the deploy state, so a changed key (a new VM at an old address, or someone in
// the middle) stops deploy instead of handing it secrets.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DeployProblem } from "./problem.js";

export class HostKeyMismatch extends DeployProblem {
  override readonly name = "HostKeyMismatch";
  override readonly code = "MOAT_DEPLOY_HOST_KEY_MISMATCH";
}

export interface HostKey {
  type: string;
  // The key blob as the server sends it, base64.
  base64: string;
}

// OpenSSH's spelling of a host: the bare name on port 22, [name]:port otherwise.
export const hostPattern = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

// The key type is the blob's first field (a length-prefixed string).
export function keyFromBlob(blob: Buffer): HostKey {
  const len = blob.readUInt32BE(0);
  return { type: blob.subarray(4, 4 + len).toString("latin1"), base64: blob.toString("base64") };
}

export const fingerprint = (key: HostKey) =>
  `SHA256:${createHash("sha256").update(Buffer.from(key.base64, "base64")).digest("base64").replace(/=+$/, "")}`;

function parseKnownHosts(text: string): { pattern: string; key: HostKey }[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/\s+/))
    .filter((f) => f.length >= 3)
    .map(([pattern, type, base64]) => ({
      pattern: pattern as string,
      key: { type: type as string, base64: base64 as string },
    }));
}

export type HostKeyVerdict = "known" | "new" | "mismatch";

export function judgeHostKey(text: string, pattern: string, key: HostKey): HostKeyVerdict {
  const mine = parseKnownHosts(text).filter((e) => e.pattern.split(",").includes(pattern));
  if (!mine.length) return "new";
  return mine.some((e) => e.key.type === key.type && e.key.base64 === key.base64) ? "known" : "mismatch";
}

// The key types already pinned for a host, to ask the server for one of those first.
const pinnedTypes = (text: string, pattern: string): string[] =>
  parseKnownHosts(text)
    .filter((e) => e.pattern.split(",").includes(pattern))
    .map((e) => e.key.type);

export class KnownHosts {
  constructor(readonly file: string) {}

  private text(): string {
    return existsSync(this.file) ? readFileSync(this.file, "utf8") : "";
  }

  pinned(host: string, port: number): string[] {
    return pinnedTypes(this.text(), hostPattern(host, port));
  }

  // Records a first-seen key; throws on a key that differs from the pinned one.
  check(host: string, port: number, key: HostKey): HostKeyVerdict {
    const pattern = hostPattern(host, port);
    const verdict = judgeHostKey(this.text(), pattern, key);
    if (verdict === "mismatch")
      throw new HostKeyMismatch(
        `the host key of ${pattern} changed (now ${key.type} ${fingerprint(key)}); refusing to connect. ` +
          `If the machine was really replaced, delete its line from ${this.file} and deploy again.`,
      );
    if (verdict === "new") {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(this.file, `${this.text()}${pattern} ${key.type} ${key.base64}\n`, { mode: 0o644 });
    }
    return verdict;
  }

  forget(): void {
    if (existsSync(this.file)) writeFileSync(this.file, "");
  }
}
