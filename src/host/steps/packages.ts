// Step 1: distribution packages, the Node runtime the gateway runs on, and Moat itself under
// /opt/moat. The runtime is the Node that runs host apply (package.json engines guarantees a
// recent one), copied under /opt/moat so no third-party apt repository is needed for it.
import {
  INSTALLED_MOAT_JS,
  MOAT_COMMAND,
  MOAT_INSTALL_DIR,
  RUNTIME_DIR,
  RUNTIME_NODE,
  SYSTEM_NODE,
} from "../../render/paths.js";
import { nodeIsRecentEnough, packagesFor } from "../distro.js";
import { planFiles } from "../files.js";
import { type MoatSource, moatSource, type NodeSource, nodeSource } from "../runtime.js";
import { observeFile, output, readText } from "../shell.js";
import type { Step } from "../step.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";

const STAMP = ".moat-stamp";

export interface PackagesSeen {
  installed: string[];
  aptListsPresent: boolean;
  systemNode: { version: string | null; linkTarget: string | null; exists: boolean };
  runtimeStamp: string | null;
  moatStamp: string | null;
  node: NodeSource;
  moat: MoatSource;
  command: FileSeen;
}

// So the owner types \`sudo moat status\` on the VM, not the runtime's and the package's paths.
export const moatCommand = (): FileWant => ({
  path: MOAT_COMMAND,
  content: `#!/bin/sh\n# Moat's CLI on this VM, written by moat host apply.\nexec ${RUNTIME_NODE} ${INSTALLED_MOAT_JS} "$@"\n`,
  mode: 0o755,
  owner: "root",
  group: "root",
});

export function planPackages(ctx: PlanContext, seen: PackagesSeen): Action[] {
  const actions: Action[] = [];
  const missing = packagesFor(ctx.distro).filter((p) => !seen.installed.includes(p));
  if (missing.length) {
    if (!seen.aptListsPresent)
      actions.push({ kind: "run", argv: ["apt-get", "update", "-qq"], why: "read the package lists" });
    actions.push({
      kind: "run",
      argv: ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing],
      why: `install ${missing.join(", ")}`,
    });
  }
  if (!nodeIsRecentEnough(seen.node.version)) {
    actions.push({
      kind: "fail",
      message: `host apply runs on Node ${seen.node.version}; the gateway needs ≥ 20.19`,
    });
    return actions;
  }
  if (seen.runtimeStamp !== seen.node.stamp) {
    actions.push({
      kind: "install-tree",
      from: seen.node.binary,
      to: RUNTIME_NODE,
      stampPath: `${RUNTIME_DIR}/${STAMP}`,
      stamp: seen.node.stamp,
      why: `install the Node runtime ${seen.node.version} as ${RUNTIME_NODE}`,
    });
  }
  if (seen.moat.root !== MOAT_INSTALL_DIR && seen.moatStamp !== seen.moat.stamp) {
    if (!seen.moat.built) {
      actions.push({
        kind: "fail",
        message: `${seen.moat.root} has no dist/: run \`npm run build\` there first`,
      });
      return actions;
    }
    actions.push({
      kind: "install-tree",
      from: seen.moat.root,
      to: MOAT_INSTALL_DIR,
      stampPath: `${MOAT_INSTALL_DIR}/${STAMP}`,
      keep: ["node"],
      stamp: seen.moat.stamp,
      why: `install Moat ${seen.moat.version} in ${MOAT_INSTALL_DIR}`,
    });
  }
  actions.push(...planFiles([moatCommand()], new Map([[MOAT_COMMAND, seen.command]])));
  const node = seen.systemNode;
  if (!node.exists) {
    actions.push({
      kind: "symlink",
      path: SYSTEM_NODE,
      target: RUNTIME_NODE,
      why: `link ${SYSTEM_NODE} to Moat's runtime`,
    });
  } else if (node.linkTarget !== RUNTIME_NODE && !(node.version && nodeIsRecentEnough(node.version))) {
    // Replacing a distribution's binary would break its package; say what to do instead.
    actions.push({
      kind: "fail",
      message: `${SYSTEM_NODE} is Node ${node.version ?? "(unrunnable)"}, older than 20.19, and the gateway unit runs it; remove the distribution's nodejs (apt-get remove nodejs) and re-run`,
    });
  }
  return actions;
}

function observePackages(ctx: PlanContext): PackagesSeen {
  const wanted = packagesFor(ctx.distro);
  // Every package dpkg knows, with its state; dpkg's own format syntax, not a JS template.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query --showformat
  const format = "${Package} ${db:Status-Status}\\n";
  const installed = (output(["dpkg-query", "-W", "-f", format]) ?? "")
    .split("\n")
    .map((l) => l.split(" "))
    .filter(([name, status]) => name && status === "installed" && wanted.includes(name))
    .map(([name]) => name as string);
  const lists = output(["sh", "-c", "ls /var/lib/apt/lists/ | grep -c _Packages || true"]) ?? "0";
  const nodeVersion = output([SYSTEM_NODE, "--version"])?.trim() ?? null;
  return {
    installed,
    aptListsPresent: Number(lists.trim()) > 0,
    systemNode: {
      version: nodeVersion,
      linkTarget: output(["readlink", SYSTEM_NODE])?.trim() ?? null,
      exists: output(["test", "-e", SYSTEM_NODE]) !== null || output(["test", "-L", SYSTEM_NODE]) !== null,
    },
    runtimeStamp: readText(`${RUNTIME_DIR}/${STAMP}`),
    moatStamp: readText(`${MOAT_INSTALL_DIR}/${STAMP}`),
    node: nodeSource(),
    moat: moatSource(),
    command: observeFile(MOAT_COMMAND),
  };
}

export const packagesStep: Step<PackagesSeen> = {
  name: "packages",
  title: "packages, Node runtime and Moat",
  observe: observePackages,
  plan: planPackages,
};
