// Step 7: how people reach the VM. The sshd drop-in is installed only after `sshd -t` accepts the
// whole configuration with it, so a bad drop-in can never lock the current session out; then
// sshd reloads (existing sessions survive a reload). The fail2ban jail follows, then Tailscale
// (tailscale.ts), which closes public SSH last, once the tailnet is up.
import { FAIL2BAN_JAIL_PATH } from "../../render/fail2ban.js";
import { SSHD_DROPIN_PATH } from "../../render/sshd.js";
import { artifactFile, planFiles } from "../files.js";
import { observeFiles, unitState } from "../shell.js";
import type { Step } from "../step.js";
import type { Action, FileSeen, FileWant, PlanContext } from "../types.js";
import {
  liveTailscale,
  observeTailscale,
  planTailscale,
  type TailscaleSeen,
  tailscaleProblems,
} from "./tailscale.js";

const SSHD_DROPIN = "/etc/ssh/sshd_config.d/50-moat.conf";
const FAIL2BAN_JAIL = "/etc/fail2ban/jail.d/moat-sshd.local";
// sshd -t reads the candidate through this copy of the main config, which includes it.
const SSHD_CANDIDATE = "/run/moat-sshd-candidate.conf";

export interface AccessSeen {
  files: ReadonlyMap<string, FileSeen>;
  sshd: { enabled: string; active: string };
  fail2ban: { enabled: string; active: string };
  tailscale: TailscaleSeen;
}

function accessFiles(ctx: PlanContext): FileWant[] {
  return [
    artifactFile(ctx.artifacts, SSHD_DROPIN_PATH, SSHD_DROPIN),
    artifactFile(ctx.artifacts, FAIL2BAN_JAIL_PATH, FAIL2BAN_JAIL),
  ];
}

function planAccess(ctx: PlanContext, seen: AccessSeen): Action[] {
  const [sshd, jail] = accessFiles(ctx);
  const actions: Action[] = [];
  if (sshd) {
    const write = planFiles([sshd], seen.files);
    if (write.length) {
      // Test first with the drop-in next to the live one, then install it.
      actions.push({
        kind: "write",
        file: { ...sshd, path: `${SSHD_DROPIN}.candidate` },
        why: "stage the sshd drop-in",
      });
      actions.push({
        kind: "run",
        argv: [
          "sh",
          "-c",
          `sed 's#^Include /etc/ssh/sshd_config.d/\\*.conf#Include ${SSHD_DROPIN}.candidate /etc/ssh/sshd_config.d/*.conf#' /etc/ssh/sshd_config > ${SSHD_CANDIDATE} && mkdir -p /run/sshd && /usr/sbin/sshd -t -f ${SSHD_CANDIDATE}; r=$?; rm -f ${SSHD_CANDIDATE}; exit $r`,
        ],
        why: "check the sshd configuration with the drop-in (sshd -t)",
      });
      actions.push(...write);
      actions.push({
        kind: "run",
        argv: ["rm", "-f", `${SSHD_DROPIN}.candidate`],
        why: "remove the staged copy",
      });
      if (seen.sshd.active === "active")
        actions.push({
          kind: "run",
          argv: ["systemctl", "reload", "ssh.service"],
          why: "reload sshd (sessions stay)",
        });
    }
  }
  if (jail) {
    const write = planFiles([jail], seen.files);
    actions.push(...write);
    if (seen.fail2ban.enabled !== "enabled")
      actions.push({
        kind: "run",
        argv: ["systemctl", "enable", "fail2ban.service"],
        why: "start fail2ban at boot",
      });
    if (seen.fail2ban.active !== "active")
      actions.push({ kind: "run", argv: ["systemctl", "start", "fail2ban.service"], why: "start fail2ban" });
    else if (write.length)
      actions.push({
        kind: "run",
        argv: ["systemctl", "reload", "fail2ban.service"],
        why: "reload fail2ban with the jail",
      });
  }
  actions.push(...planTailscale(ctx, seen.tailscale));
  return actions;
}

export const accessStep: Step<AccessSeen> = {
  name: "access",
  title: "sshd, fail2ban and Tailscale",
  observe: (ctx) => ({
    files: observeFiles(accessFiles(ctx).map((f) => f.path)),
    sshd: unitState("ssh.service"),
    fail2ban: unitState("fail2ban.service"),
    tailscale: observeTailscale(ctx),
  }),
  plan: planAccess,
  verify: async (ctx) => tailscaleProblems(ctx.spec, liveTailscale()),
};
