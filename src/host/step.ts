// A step of host apply: observe (impure, read-only), plan (pure), then, after the executor ran
// the plan, verify the live result.
import type { Action, PlanContext, StepName } from "./types.js";

export interface Step<Seen> {
  name: StepName;
  title: string;
  observe(ctx: PlanContext): Seen;
  plan(ctx: PlanContext, seen: Seen): Action[];
  // Problems with the live system after the actions ran (empty when all is well). May wait
  // for a daemon to come up.
  verify?(ctx: PlanContext): Promise<string[]>;
}

// Erases the observation type so steps of different kinds fit in one list.
// biome-ignore lint/suspicious/noExplicitAny: each step pairs its own observe and plan.
export type AnyStep = Step<any>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Polls until check returns no problems or the time is up; returns the last problems.
export async function waitFor(check: () => string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problems = check();
    if (problems.length === 0 || Date.now() >= deadline) return problems;
    await sleep(200);
  }
}
