// What deploy remembers between runs, in the deploy directory next to the bundle: where the host
// is, which availability domain worked (so a re-run never moves the instance) and the last
// verify summary. Never a secret.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Summary } from "../verify/types.js";

export const STATE_FILE = ".moat-deploy.json";
export const KNOWN_HOSTS_FILE = "known_hosts";

export type VerifySummary = Pick<Summary, "ok" | "passed" | "failed" | "skipped">;

export interface DeployState {
  name: string;
  target: string;
  host?: string;
  port?: number;
  user?: string;
  instanceId?: string;
  adIndex?: number;
  sshPublicKey?: string;
  appliedAt?: string;
  firstDeployedAt: string;
  lastDeployedAt: string;
  lastVerify?: VerifySummary;
}

export function readState(dir: string): DeployState | null {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")) as DeployState;
}

export function writeState(dir: string, state: DeployState): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, STATE_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}
