// The agent container's seccomp profile, in Docker's JSON format, vendored as data in
// seccomp-syscalls.ts (nothing is downloaded at deploy time).
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";
import { onVm } from "./paths.js";
import {
  DEPLOY_ARCHES,
  DOCKER_DEFAULT_RULES,
  MOAT_PERSONALITIES,
  MOAT_REMOVED,
  MOAT_REMOVED_CAP_GATED,
  MOAT_RESTRICTED,
  MOAT_SOCKET_FAMILIES,
  type SyscallRule,
} from "./seccomp-syscalls.js";

export const SECCOMP_PATH = "seccomp/moat-seccomp.json";
export const SECCOMP_ON_VM = onVm(SECCOMP_PATH);

export interface SeccompProfile {
  defaultAction: "SCMP_ACT_ERRNO";
  defaultErrnoRet: number;
  archMap: { architecture: string; subArchitectures: string[] | null }[];
  syscalls: SyscallRule[];
}

const EPERM = 1;
const deployGoArches: readonly string[] = DEPLOY_ARCHES.map((a) => a.goArch);

export function dockerDefaultProfile(): SeccompProfile {
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    archMap: DEPLOY_ARCHES.map((a) => ({ architecture: a.architecture, subArchitectures: [...a.compat] })),
    syscalls: DOCKER_DEFAULT_RULES.map((r) => structuredClone(r)),
  };
}

const inertOnDeployArches = (r: SyscallRule) =>
  r.includes?.arches !== undefined && !r.includes.arches.some((a) => deployGoArches.includes(a));

// One Docker rule as Moat keeps it, or null when Moat drops it entirely.
function tighten(rule: SyscallRule): SyscallRule | null {
  if (inertOnDeployArches(rule)) return null;
  if (rule.includes?.caps) {
    const undocumented = rule.names.filter(
      (n) => !(n in MOAT_REMOVED_CAP_GATED) && !(n in MOAT_REMOVED) && !(n in MOAT_RESTRICTED),
    );
    if (undocumented.length)
      throw new Error(`undocumented capability-gated removal: ${undocumented.join(", ")}`);
    return null;
  }
  if (rule.names.includes("socket") || rule.names.includes("personality")) return null;
  const names = rule.names.filter((n) => !(n in MOAT_REMOVED));
  if (names.length === 0) return null;
  const kept: SyscallRule = { ...structuredClone(rule), names };
  // Docker lifts the clone/clone3 limits for CAP_SYS_ADMIN; Moat keeps them for every container.
  if (kept.excludes?.caps) {
    const { caps: _lifted, ...rest } = kept.excludes;
    if (Object.keys(rest).length) kept.excludes = rest;
    else delete kept.excludes;
  }
  return kept;
}

const argEqRules = (name: string, values: number[]): SyscallRule[] =>
  values.map((value) => ({
    names: [name],
    action: "SCMP_ACT_ALLOW",
    args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
  }));

export function moatProfile(): SeccompProfile {
  const kept = DOCKER_DEFAULT_RULES.map(tighten).filter((r): r is SyscallRule => r !== null);
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    archMap: DEPLOY_ARCHES.map((a) => ({ architecture: a.architecture, subArchitectures: null })),
    syscalls: [
      ...kept,
      ...argEqRules("socket", Object.values(MOAT_SOCKET_FAMILIES)),
      ...argEqRules("personality", Object.values(MOAT_PERSONALITIES)),
    ],
  };
}

function seccompProfile(choice: MoatSpec["hardening"]["seccomp"]): SeccompProfile {
  return choice === "docker-default" ? dockerDefaultProfile() : moatProfile();
}

export function renderSeccomp(spec: MoatSpec): Artifact[] {
  const content = `${JSON.stringify(seccompProfile(spec.hardening.seccomp), null, 2)}\n`;
  return [{ kind: "seccomp", path: SECCOMP_PATH, content, mode: 0o644 }];
}
