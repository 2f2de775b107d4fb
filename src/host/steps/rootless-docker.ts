// Step 4: Docker for the agent, rootless, as a systemd user unit of the agent user; the
// distribution's rootful daemon and containerd (docker.io enables both on install) disabled, so the only
// Docker on the host is one whose root is the agent's unprivileged uid.
import { readdirSync, realpathSync } from "node:fs";
import { agentCommand, agentHome } from "../../render/paths.js";
import {
  DOCKERD_ROOTLESS,
  ROOTLESS_DOCKER_UNIT_PATH,
  TUN_TMPFILES_PATH,
} from "../../render/rootless-docker.js";
import type { MoatSpec } from "../../spec/schema.js";
import {
  APPARMOR_DIR,
  LOADED_PROFILES,
  loadedProfileNames,
  planUserns,
  RESTRICT_USERNS,
  type UsernsSeen,
} from "../apparmor.js";
import { artifactFile, planFiles, writesAny } from "../files.js";
import { MOAT_ROOTLESS_LAUNCHER } from "../rootless-launcher.js";
import { linkTarget, modeOf, observeFiles, output, readText, run, unitState } from "../shell.js";
import { type Step, waitFor } from "../step.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";

// Where distributions ship the rootless launcher: Docker's own packages, then Debian/Ubuntu's.
const LAUNCHER_CANDIDATES = [
  "/usr/bin/dockerd-rootless.sh",
  "/usr/share/docker.io/contrib/dockerd-rootless.sh",
];
// The launcher finds rootlesskit on its unit's PATH (src/render/rootless-docker.ts), in this order.
const ROOTLESSKIT_CANDIDATES = ["/usr/local/bin/rootlesskit", "/usr/bin/rootlesskit"];
const TUN = "/dev/net/tun";
export const TUN_TMPFILES = "/etc/tmpfiles.d/moat-tun.conf";
// containerd comes with docker.io and runs as root; the rootless daemon starts its own.
const ROOTFUL = ["docker.service", "docker.socket", "containerd.service"];

const userUnitDir = (spec: MoatSpec) => `${agentHome(spec)}/.config/systemd/user`;

export interface RootlessSeen {
  files: ReadonlyMap<string, FileSeen>;
  launchers: string[];
  launcherLink: string | null;
  wantsLink: string | null;
  tunMode: number | null;
  rootful: { unit: string; enabled: string; active: string }[];
  userManager: string;
  userDocker: { enabled: string; active: string };
  userns: UsernsSeen;
}

// The agent's unit, and Moat's own launcher when the distribution ships none.
export function rootlessFiles(ctx: PlanContext, ownLauncher = false): FileWant[] {
  const { agentUser } = ctx.spec.host;
  const unit = artifactFile(
    ctx.artifacts,
    ROOTLESS_DOCKER_UNIT_PATH,
    `${userUnitDir(ctx.spec)}/docker.service`,
  );
  const launcher = {
    path: DOCKERD_ROOTLESS,
    content: MOAT_ROOTLESS_LAUNCHER,
    mode: 0o755,
    owner: "root",
    group: "root",
  };
  return [{ ...unit, owner: agentUser, group: agentUser }, ...(ownLauncher ? [launcher] : [])];
}

export const tunFile = (ctx: PlanContext) => artifactFile(ctx.artifacts, TUN_TMPFILES_PATH, TUN_TMPFILES);

// slirp4netns opens the tun device from inside the agent's user namespace: now, and at boot.
export function planTun(
  ctx: PlanContext,
  files: ReadonlyMap<string, FileSeen>,
  mode: number | null,
): Action[] {
  const actions = planFiles([tunFile(ctx)], files);
  if (mode !== null && (mode & 0o666) !== 0o666)
    actions.push({ kind: "chmod", path: TUN, mode: 0o666, why: `make ${TUN} usable by rootless networking` });
  return actions;
}

export function planRootless(ctx: PlanContext, seen: RootlessSeen): Action[] {
  const { agentUser, agentUid } = ctx.spec.host;
  const actions: Action[] = [];
  const launcher = seen.launchers[0];
  // Ubuntu's docker.io ships no launcher (src/host/rootless-launcher.ts); Debian's does.
  const ownLauncher = !launcher && ctx.distro.id === "ubuntu";
  if (!launcher && !ownLauncher)
    return [{ kind: "fail", message: `no dockerd-rootless.sh in ${LAUNCHER_CANDIDATES.join(" or ")}` }];
  if (launcher && seen.launcherLink !== launcher)
    actions.push({
      kind: "symlink",
      path: DOCKERD_ROOTLESS,
      target: launcher,
      why: `link ${DOCKERD_ROOTLESS} to ${launcher}`,
    });
  actions.push(...planTun(ctx, seen.files, seen.tunMode));
  // Before the user manager starts, since it starts rootlesskit.
  actions.push(...planUserns(seen.userns));
  const rootfulOn = seen.rootful.filter((u) => u.enabled === "enabled" || u.active === "active");
  if (rootfulOn.length)
    actions.push({
      kind: "run",
      argv: ["systemctl", "disable", "--now", ...rootfulOn.map((u) => u.unit)],
      why: "turn off the rootful Docker daemon and its containerd",
    });
  const files = rootlessFiles(ctx, ownLauncher);
  const fileActions = planFiles(files, seen.files);
  actions.push(...fileActions);
  const wants = `${userUnitDir(ctx.spec)}/default.target.wants/docker.service`;
  if (seen.wantsLink !== "../docker.service")
    actions.push({
      kind: "symlink",
      path: wants,
      target: "../docker.service",
      why: "start rootless Docker with the agent's user manager",
    });
  const user = `user@${agentUid}.service`;
  if (seen.userManager !== "active")
    actions.push({
      kind: "run",
      argv: ["systemctl", "start", user],
      why: `start ${agentUser}'s user manager`,
    });
  const scope = ["systemctl", "--user", "-M", `${agentUser}@`];
  const unitChanged = writesAny(
    fileActions,
    files.map((f) => f.path),
  );
  if (unitChanged || seen.wantsLink !== "../docker.service")
    actions.push({ kind: "run", argv: [...scope, "daemon-reload"], why: "reload the agent's user units" });
  if (seen.userDocker.active !== "active")
    actions.push({ kind: "run", argv: [...scope, "start", "docker.service"], why: "start rootless Docker" });
  else if (unitChanged)
    actions.push({
      kind: "run",
      argv: [...scope, "restart", "docker.service"],
      why: "restart rootless Docker with its new unit",
    });
  return actions;
}

// The agent's Docker answers, runs rootless, and is the only daemon.
function rootlessProblems(info: string | null, rootfulActive: boolean): string[] {
  const problems: string[] = [];
  if (info === null) problems.push("the agent's Docker does not answer");
  else if (!/rootless/.test(info)) problems.push("the agent's Docker is not rootless");
  if (rootfulActive) problems.push("the rootful docker.service is running");
  return problems;
}

export function agentDocker(spec: MoatSpec, args: string[]): string | null {
  const cmd = agentCommand(spec, ["docker", ...args]);
  return output(cmd.argv, { env: cmd.env });
}

function observeUserns(): UsernsSeen {
  const found = ROOTLESSKIT_CANDIDATES.find((p) => modeOf(p) !== null);
  const rootlesskit = found ? realpathSync(found) : null;
  const profiles: UsernsSeen["profiles"] = [];
  const restrict = readText(RESTRICT_USERNS);
  if (restrict !== null && rootlesskit) {
    const names = (() => {
      try {
        return readdirSync(APPARMOR_DIR, { withFileTypes: true });
      } catch {
        return [];
      }
    })();
    for (const entry of names.filter((e) => e.isFile())) {
      const path = `${APPARMOR_DIR}/${entry.name}`;
      const text = readText(path);
      if (text?.includes(rootlesskit)) profiles.push({ path, text });
    }
  }
  return { restrict, rootlesskit, profiles, loaded: loadedProfileNames(readText(LOADED_PROFILES) ?? "") };
}

export const rootlessDockerStep: Step<RootlessSeen> = {
  name: "rootless-docker",
  title: "rootless Docker for the agent",
  observe: (ctx) => {
    const home = userUnitDir(ctx.spec);
    return {
      files: observeFiles([...rootlessFiles(ctx, true).map((f) => f.path), TUN_TMPFILES]),
      launchers: LAUNCHER_CANDIDATES.filter((p) => modeOf(p) !== null),
      launcherLink: linkTarget(DOCKERD_ROOTLESS),
      wantsLink: linkTarget(`${home}/default.target.wants/docker.service`),
      tunMode: modeOf(TUN),
      rootful: ROOTFUL.map((unit) => ({ unit, ...unitState(unit) })),
      userManager: unitState(`user@${ctx.spec.host.agentUid}.service`).active,
      userDocker: unitState("docker.service", ctx.spec.host.agentUser),
      userns: observeUserns(),
    };
  },
  plan: planRootless,
  verify: (ctx, say) =>
    waitFor(
      () =>
        rootlessProblems(
          agentDocker(ctx.spec, ["info", "--format", "{{json .SecurityOptions}}"]),
          run(["systemctl", "is-active", "docker.service"]).stdout.trim() === "active",
        ),
      30_000,
      say,
    ),
};
