// The vocabulary of `moat verify`: a check is data (an id, a title, whether it gates the exit
// code) plus one async probe of the live system that returns its verdict.
import type { MoatSpec } from "../spec/schema.js";

type CheckStatus = "pass" | "fail" | "skip";

export interface Verdict {
  status: CheckStatus;
  detail: string;
  // One line telling the operator what to do; only shown for a failure.
  fix?: string;
}

export interface Check {
  id: string;
  title: string;
  // A failing required check makes `moat verify` exit 1; a skip never does.
  required: boolean;
  run(ctx: VerifyContext): Promise<Verdict>;
}

export interface CheckResult {
  id: string;
  title: string;
  required: boolean;
  status: CheckStatus;
  detail: string;
  fix: string;
  durationMs: number;
}

// What `moat verify --json` prints (and deploy reads back over SSH).
export interface VerifyReport {
  checks: Omit<CheckResult, "durationMs">[];
  summary: Summary;
}

export interface Summary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  // Every required check passed or was skipped with a reason.
  ok: boolean;
  durationMs: number;
}

// What every check may read: the spec, and observations shared between checks (each taken once).
export interface VerifyContext {
  spec: MoatSpec;
  observe: Observations;
}

export interface Observations {
  // `docker inspect` of the agent's container through the agent's rootless daemon; null if absent.
  container(): Promise<ContainerInspect | null>;
  // A shell command run inside the agent's container as its own user.
  inContainer(script: string, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  // `ss -Hltunp`: every listening socket with its process.
  listeners(): Promise<Listener[]>;
  // The real secret values the gateway holds, by the spec field that references them.
  secrets(): Promise<{ field: string; value: string | null; problem?: string }[]>;
}

export interface Listener {
  proto: "tcp" | "udp";
  address: string;
  port: number;
  process: string;
  uid: number | null;
}

export interface ContainerInspect {
  Id?: string;
  State?: { Running?: boolean; Pid?: number };
  Config?: { User?: string; Env?: string[] | null };
  HostConfig?: {
    Privileged?: boolean;
    ReadonlyRootfs?: boolean;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    SecurityOpt?: string[] | null;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    Tmpfs?: Record<string, string> | null;
    Memory?: number;
    PidsLimit?: number | null;
  };
  Mounts?: { Type: string; Source: string; Destination: string; RW: boolean }[];
}

export const pass = (detail: string): Verdict => ({ status: "pass", detail });
export const fail = (detail: string, fix: string): Verdict => ({ status: "fail", detail, fix });
export const skip = (detail: string): Verdict => ({ status: "skip", detail });
