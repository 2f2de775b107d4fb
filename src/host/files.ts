// Files as desired state: where each bundle artifact lands on the VM, and the writes a set of
// wanted files needs given what is on disk. Pure.
import type { Artifact } from "../render/artifact.js";
import { onVm } from "../render/paths.js";

export { HOST_STATE_DIR } from "../render/paths.js";

import type { Action, FileSeen, FileWant } from "./types.js";

export const SYSTEMD_DIR = "/etc/systemd/system";

const octal = (mode: number) => `0${mode.toString(8)}`;

// A root-owned copy of a bundle artifact at the given place (its bundle place by default).
export function artifactFile(
  artifacts: ReadonlyMap<string, Artifact>,
  bundlePath: string,
  at?: string,
): FileWant {
  const a = artifacts.get(bundlePath);
  if (!a) throw new Error(`the bundle has no ${bundlePath}`);
  return {
    path: at ?? onVm(bundlePath),
    content: a.content,
    mode: a.mode ?? 0o644,
    owner: "root",
    group: "root",
  };
}

export const unitFile = (artifacts: ReadonlyMap<string, Artifact>, unit: string) =>
  artifactFile(artifacts, `systemd/${unit}`, `${SYSTEMD_DIR}/${unit}`);

// Why a file must be written, or null when it is as wanted.
function fileDifference(want: FileWant, seen: FileSeen | undefined): string | null {
  if (!seen || seen.content === null) return `create ${want.path}`;
  if (seen.content !== want.content) return `update ${want.path}`;
  const diffs: string[] = [];
  if (seen.mode !== want.mode) diffs.push(`mode ${octal(seen.mode)}→${octal(want.mode)}`);
  if (seen.owner !== want.owner || seen.group !== want.group)
    diffs.push(`owner ${seen.owner}:${seen.group}→${want.owner}:${want.group}`);
  return diffs.length ? `fix ${want.path} (${diffs.join(", ")})` : null;
}

export function planFiles(wants: FileWant[], seen: ReadonlyMap<string, FileSeen>): Action[] {
  const actions: Action[] = [];
  for (const want of wants) {
    const why = fileDifference(want, seen.get(want.path));
    if (why) actions.push({ kind: "write", file: want, why });
  }
  return actions;
}

export const writesAny = (actions: Action[], paths: string[]) =>
  actions.some((a) => a.kind === "write" && paths.includes(a.file.path));

// One line per action for reports; never a file's content.
export function describe(action: Action): string {
  switch (action.kind) {
    case "write":
    case "mkdir":
    case "symlink":
    case "chmod":
    case "install-tree":
    case "record":
      return action.why;
    case "fetch-key":
      return `${action.why}: ${action.url} → ${action.file.path} (fingerprint ${action.fingerprint})`;
    case "await":
      return `${action.why}: ${action.argv.join(" ")}`;
    case "run":
      return `${action.why}: ${action.argv.join(" ")}${action.asAgent ? " (as the agent user)" : ""}`;
    case "fail":
      return `cannot continue: ${action.message}`;
  }
}
