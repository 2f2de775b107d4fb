// Step 8: the drift timer, which runs `moat host drift` every five minutes as root.
import { DRIFT_TIMER, DRIFT_UNIT } from "../../render/systemd.js";
import { planFiles, unitFile, writesAny } from "../files.js";
import { observeFiles, unitState } from "../shell.js";
import type { Step } from "../step.js";
import type { Action, FileSeen, PlanContext } from "../types.js";

export interface DriftSeen {
  files: ReadonlyMap<string, FileSeen>;
  timer: { enabled: string; active: string };
}

const driftFiles = (ctx: PlanContext) => [
  unitFile(ctx.artifacts, DRIFT_UNIT),
  unitFile(ctx.artifacts, DRIFT_TIMER),
];

function planDrift(ctx: PlanContext, seen: DriftSeen): Action[] {
  const files = driftFiles(ctx);
  const actions = planFiles(files, seen.files);
  if (
    writesAny(
      actions,
      files.map((f) => f.path),
    )
  )
    actions.push({ kind: "run", argv: ["systemctl", "daemon-reload"], why: "reload unit files" });
  if (seen.timer.enabled !== "enabled" || seen.timer.active !== "active")
    actions.push({
      kind: "run",
      argv: ["systemctl", "enable", "--now", DRIFT_TIMER],
      why: "check for drift every five minutes",
    });
  return actions;
}

export const driftStep: Step<DriftSeen> = {
  name: "drift",
  title: "the drift timer",
  observe: (ctx) => ({
    files: observeFiles(driftFiles(ctx).map((f) => f.path)),
    timer: unitState(DRIFT_TIMER),
  }),
  plan: planDrift,
};
