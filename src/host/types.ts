// The vocabulary of host apply: steps, what a step observed, and the actions it plans.
// Planning is pure (observations in, actions out); only src/host/shell.ts and execute.ts act.
import type { Artifact } from "../render/artifact.js";
import type { MoatSpec } from "../spec/schema.js";
import type { Distro } from "./distro.js";

// Apply order. The firewall comes before the users: the agent's uid must never exist, let alone
// run a user manager (linger), without its firewall loaded.
export const STEPS = [
  "packages",
  "firewall",
  "users",
  "rootless-docker",
  "gateway",
  "agent",
  "access",
  "drift",
] as const;
export type StepName = (typeof STEPS)[number];

// A file as it should be on the VM. Owner and group are names; modes are octal numbers.
export interface FileWant {
  path: string;
  content: string;
  mode: number;
  owner: string;
  group: string;
  // Content that must never be printed (secrets): reports show the path only.
  secret?: boolean;
}

// A file as observed; content null when absent.
export interface FileSeen {
  path: string;
  content: string | null;
  mode: number;
  owner: string;
  group: string;
}

export type Action =
  | { kind: "write"; file: FileWant; why: string }
  | { kind: "mkdir"; path: string; mode: number; owner: string; group: string; why: string }
  | { kind: "symlink"; path: string; target: string; why: string }
  | { kind: "chmod"; path: string; mode: number; why: string }
  | {
      kind: "run";
      argv: string[];
      why: string;
      // Run as the agent user with its runtime dir and Docker socket.
      asAgent?: boolean;
      // Environment read by the executor from a root-only file at run time, so a secret is
      // neither on a command line nor in the plan.
      envFile?: string;
      // A file whose bytes are the command's stdin (opened by root, e.g. an image tarball).
      stdinFile?: string;
    }
  // Copy a file or tree (the Node runtime, the Moat package) into place, then write its stamp
  // (what was installed) so the next run can tell it is current.
  // `keep` names entries of the old tree carried into the new one (the runtime inside /opt/moat).
  | {
      kind: "install-tree";
      from: string;
      to: string;
      stampPath: string;
      stamp: string;
      keep?: string[];
      why: string;
    }
  // Download a signing key over HTTPS and install it only if it is exactly the pinned key
  // (checked before writing and again on the written file).
  | {
      kind: "fetch-key";
      url: string;
      file: Omit<FileWant, "content">;
      fingerprint: string;
      why: string;
    }
  // Wait until a command's stdout matches (a daemon reporting a state), or fail after timeoutMs.
  | { kind: "await"; argv: string[]; match: string; timeoutMs: number; why: string; asAgent?: boolean }
  // Record a post-change fingerprint in host apply's private state directory.
  | { kind: "record"; name: string; command?: string[]; content?: string; why: string }
  // The plan found something it must not fix by itself.
  | { kind: "fail"; message: string };

// Everything a planner may read besides its own observations.
export interface PlanContext {
  spec: MoatSpec;
  specText: string;
  artifacts: ReadonlyMap<string, Artifact>;
  distro: Distro;
  // A rootfs tarball to `docker import` as the agent's image when it is missing, instead of
  // pulling it (air-gapped hosts, the lab).
  importImage?: string;
}

type StepStatus = "changed" | "unchanged" | "would-change" | "failed" | "skipped";

export interface StepReport {
  step: StepName;
  status: StepStatus;
  actions: string[];
  durationMs: number;
  error?: string;
  problems?: string[];
}

export interface ApplyReport {
  ok: boolean;
  check: boolean;
  steps: StepReport[];
  durationMs: number;
}
