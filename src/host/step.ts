// A step of host apply: observe (impure, read-only), plan (pure), then, after the executor ran
// the plan, verify the live result.
import type { Action, PlanContext, StepName } from "./types.js";

export interface Step<Seen> {
  name: StepName;
  title: string;
  observe(ctx: PlanContext): Seen;
  plan(ctx: PlanContext, seen: Seen): Action[];
  // Problems with the live system after the actions ran (empty when all is well). May wait
  // for a daemon to come up, saying what it waits for once that takes a while.
  verify?(ctx: PlanContext, say: Say): Promise<string[]>;
}

// Erases the observation type so steps of different kinds fit in one list.
// biome-ignore lint/suspicious/noExplicitAny: each step pairs its own observe and plan.
export type AnyStep = Step<any>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Where a step says what it is still waiting for (progress on the operator's terminal).
export type Say = (what: string) => void;

// A wait shorter than this is not worth a line; after it, one line every SAY_EVERY_MS.
export const QUIET_WAIT_MS = 5_000;
const SAY_EVERY_MS = 10_000;

// What a wait that has gone on for a while prints: the first thing not yet so, and the clock.
export function waitingLine(problems: readonly string[], elapsedMs: number, timeoutMs: number): string {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  const clock = `${Math.round(elapsedMs / 1000)} s of ${Math.round(timeoutMs / 1000)} s`;
  return `still waiting for ${problems[0] ?? "the check"}${more}, ${clock}`;
}

// Whether a wait that began at `startedMs` and last spoke at `saidMs` (or never) says something now.
export const dueToSay = (nowMs: number, startedMs: number, saidMs: number | null) =>
  nowMs - startedMs >= QUIET_WAIT_MS && (saidMs === null || nowMs - saidMs >= SAY_EVERY_MS);

// Polls until check returns no problems or the time is up; returns the last problems.
export async function waitFor(
  check: () => string[],
  timeoutMs: number,
  say: Say = () => {},
): Promise<string[]> {
  const started = Date.now();
  let said: number | null = null;
  for (;;) {
    const problems = check();
    const now = Date.now();
    if (problems.length === 0 || now >= started + timeoutMs) return problems;
    if (dueToSay(now, started, said)) {
      say(waitingLine(problems, now - started, timeoutMs));
      said = now;
    }
    await sleep(200);
  }
}
