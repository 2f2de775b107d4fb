// Host apply: for each step, observe, plan, and (unless checking) execute and verify. The first
// failing step stops the run; the steps before it keep what they did, and a re-run picks up
// from what it then observes.
import { readFileSync } from "node:fs";
import { renderBundle } from "../render/index.js";
import type { MoatSpec } from "../spec/schema.js";
import { parseOsRelease } from "./distro.js";
import { ActionFailed, execute } from "./execute.js";
import { describe } from "./files.js";
import { run } from "./shell.js";
import type { AnyStep, Say } from "./step.js";
import { accessStep } from "./steps/access.js";
import { agentStep } from "./steps/agent.js";
import { driftStep } from "./steps/drift.js";
import { firewallStep } from "./steps/firewall.js";
import { gatewayStep } from "./steps/gateway.js";
import { packagesStep } from "./steps/packages.js";
import { rootlessDockerStep } from "./steps/rootless-docker.js";
import { usersStep } from "./steps/users.js";
import { type ApplyReport, type PlanContext, STEPS, type StepName, type StepReport } from "./types.js";

const STEP_DEFS: Record<StepName, AnyStep> = {
  packages: packagesStep,
  firewall: firewallStep,
  users: usersStep,
  "rootless-docker": rootlessDockerStep,
  gateway: gatewayStep,
  agent: agentStep,
  access: accessStep,
  drift: driftStep,
};

// What the drift timer re-checks: the firewall, the daemons and the container's posture (each
// step's verify checks the live result, e.g. the gateway's listening sockets).
export const DRIFT_STEPS = [
  "firewall",
  "rootless-docker",
  "gateway",
  "agent",
] as const satisfies readonly StepName[];

export interface ApplyOptions {
  check?: boolean;
  only?: StepName[];
  importImage?: string;
  // Called as each step starts and ends, for progress on a terminal.
  onStep?: (step: StepName, report?: StepReport) => void;
  // Called when a step has waited a while for something (a daemon, a healthcheck), saying what.
  onWaiting?: (step: StepName, what: string) => void;
}

function planContext(spec: MoatSpec, specText: string, importImage?: string): PlanContext {
  const bundle = renderBundle(spec);
  const arch = run(["dpkg", "--print-architecture"]).stdout.trim();
  return {
    spec,
    specText,
    artifacts: new Map(bundle.map((a) => [a.path, a])),
    distro: parseOsRelease(readFileSync("/etc/os-release", "utf8"), arch),
    ...(importImage && { importImage }),
  };
}

async function runStep(ctx: PlanContext, def: AnyStep, check: boolean, say: Say): Promise<StepReport> {
  const started = Date.now();
  const report = (r: Omit<StepReport, "step" | "durationMs">): StepReport => ({
    step: def.name,
    durationMs: Date.now() - started,
    ...r,
  });
  let actions: ReturnType<AnyStep["plan"]>;
  try {
    actions = def.plan(ctx, def.observe(ctx));
  } catch (err) {
    return report({ status: "failed", actions: [], error: `could not plan: ${(err as Error).message}` });
  }
  const lines = actions.map(describe);
  if (check) {
    const fail = actions.find((a) => a.kind === "fail");
    if (fail) return report({ status: "failed", actions: lines, error: describe(fail) });
    return report({ status: actions.length ? "would-change" : "unchanged", actions: lines });
  }
  for (const [i, action] of actions.entries()) {
    try {
      await execute(ctx.spec, action, say);
    } catch (err) {
      const message = err instanceof ActionFailed ? err.message : (err as Error).message;
      return report({ status: "failed", actions: lines.slice(0, i + 1), error: `${lines[i]}: ${message}` });
    }
  }
  const problems = def.verify ? await def.verify(ctx, say) : [];
  if (problems.length) {
    return report({
      status: "failed",
      actions: lines,
      problems,
      error: `not converged: ${problems.join("; ")}`,
    });
  }
  return report({ status: actions.length ? "changed" : "unchanged", actions: lines });
}

export async function applyHost(
  spec: MoatSpec,
  specText: string,
  opts: ApplyOptions = {},
): Promise<ApplyReport> {
  const started = Date.now();
  const ctx = planContext(spec, specText, opts.importImage);
  const selected = STEPS.filter((s) => !opts.only || opts.only.includes(s));
  const steps: StepReport[] = [];
  let failed = false;
  for (const name of selected) {
    if (failed) {
      steps.push({ step: name, status: "skipped", actions: [], durationMs: 0 });
      continue;
    }
    opts.onStep?.(name);
    const say: Say = (what) => opts.onWaiting?.(name, what);
    const r = await runStep(ctx, STEP_DEFS[name], opts.check ?? false, say);
    opts.onStep?.(name, r);
    steps.push(r);
    // --check goes on past a failure: later steps show what they would do now.
    if (r.status === "failed" && !opts.check) failed = true;
  }
  const ok = steps.every((s) => s.status !== "failed");
  return { ok, check: opts.check ?? false, steps, durationMs: Date.now() - started };
}
