// Ubuntu 23.10+ (kernel.apparmor_restrict_unprivileged_userns=1) lets an unprivileged program
// create a user namespace only under an AppArmor profile that grants `userns`. rootlesskit is
// where rootless Docker creates the agent's namespace, so it needs one: Ubuntu 24.04's apparmor
// package ships it, and Moat writes its own only when no profile on the host covers the binary
// (two profiles attaching to one path conflict, and the kernel then confines neither). Pure.
import type { Action } from "./types.js";

export const RESTRICT_USERNS = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
export const APPARMOR_DIR = "/etc/apparmor.d";
export const MOAT_PROFILE_NAME = "moat-rootlesskit";
export const MOAT_PROFILE = `${APPARMOR_DIR}/${MOAT_PROFILE_NAME}`;
// The kernel's list of loaded profiles, one `name (mode)` per line.
export const LOADED_PROFILES = "/sys/kernel/security/apparmor/profiles";

export interface UsernsSeen {
  // The sysctl's value; null where the kernel has no such mediation (Debian, Ubuntu 22.04).
  restrict: string | null;
  rootlesskit: string | null;
  // Profile files under /etc/apparmor.d that name the rootlesskit binary.
  profiles: { path: string; text: string }[];
  loaded: string[];
}

export function renderRootlesskitProfile(binary: string): string {
  return [
    "# Written by Moat's host apply: lets rootlesskit create the user namespace rootless Docker",
    "# runs in (this kernel allows that only to programs whose AppArmor profile grants userns).",
    "abi <abi/4.0>,",
    "include <tunables/global>",
    "",
    `profile ${MOAT_PROFILE_NAME} ${binary} flags=(unconfined) {`,
    "  userns,",
    "}",
    "",
  ].join("\n");
}

// The name of a profile in `text` that attaches to `binary` and grants userns, or null. A
// profile header is `profile NAME PATH … {` or `PATH … {` (then the path is its name).
export function profileGrantingUserns(text: string, binary: string): string | null {
  const lines = text.split("\n").map((l) => l.replace(/#.*/, "").trim());
  for (const [i, line] of lines.entries()) {
    const header = line.match(/^(?:profile\s+(\S+)\s+)?(\/\S+)\s.*\{$/);
    if (!header || header[2] !== binary) continue;
    for (const body of lines.slice(i + 1)) {
      if (body.startsWith("}")) break;
      if (/^userns\s*,$/.test(body)) return header[1] ?? binary;
    }
  }
  return null;
}

export function loadedProfileNames(list: string): string[] {
  return list
    .split("\n")
    .map((l) => l.replace(/ \([^)]*\)$/, "").trim())
    .filter(Boolean);
}

export function planUserns(seen: UsernsSeen): Action[] {
  if (seen.restrict?.trim() !== "1") return [];
  const binary = seen.rootlesskit;
  if (!binary)
    return [{ kind: "fail", message: "no rootlesskit binary for the AppArmor user-namespace profile" }];
  const distribution = seen.profiles
    .filter((p) => p.path !== MOAT_PROFILE)
    .map((p) => ({ path: p.path, name: profileGrantingUserns(p.text, binary) }))
    .find((p) => p.name !== null);
  const ours = seen.profiles.find((p) => p.path === MOAT_PROFILE);
  const actions: Action[] = [];
  if (distribution?.name) {
    if (seen.loaded.includes(MOAT_PROFILE_NAME))
      actions.push({
        kind: "run",
        argv: ["apparmor_parser", "--remove", MOAT_PROFILE],
        why: `unload Moat's rootlesskit profile (${distribution.path} covers ${binary})`,
      });
    if (ours) actions.push({ kind: "run", argv: ["rm", "-f", MOAT_PROFILE], why: `remove ${MOAT_PROFILE}` });
    if (!seen.loaded.includes(distribution.name))
      actions.push({
        kind: "run",
        argv: ["apparmor_parser", "--replace", distribution.path],
        why: `load ${distribution.path}, which lets ${binary} create user namespaces`,
      });
    return actions;
  }
  const content = renderRootlesskitProfile(binary);
  if (ours?.text !== content)
    actions.push({
      kind: "write",
      file: { path: MOAT_PROFILE, content, mode: 0o644, owner: "root", group: "root" },
      why: `let ${binary} create user namespaces (AppArmor restricts them here)`,
    });
  if (ours?.text !== content || !seen.loaded.includes(MOAT_PROFILE_NAME))
    actions.push({
      kind: "run",
      argv: ["apparmor_parser", "--replace", MOAT_PROFILE],
      why: `load ${MOAT_PROFILE}`,
    });
  return actions;
}
