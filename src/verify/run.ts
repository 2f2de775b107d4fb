// Runs every check at once (most of a check's time is waiting on a probe) and turns thrown
// errors into failures, so one broken probe cannot hide the others' verdicts.
import type { Check, CheckResult, Summary, VerifyContext } from "./types.js";

export async function runChecks(checks: readonly Check[], ctx: VerifyContext): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (c) => {
      const started = performance.now();
      const verdict = await c.run(ctx).catch((err: unknown) => ({
        status: "fail" as const,
        detail: `the check itself failed: ${(err as Error).message ?? String(err)}`,
        fix: "run `moat verify` again as root on the VM; if it persists, report it",
      }));
      return {
        id: c.id,
        title: c.title,
        required: c.required,
        status: verdict.status,
        detail: verdict.detail,
        fix: verdict.status === "fail" ? (verdict.fix ?? "") : "",
        durationMs: Math.round(performance.now() - started),
      };
    }),
  );
}

export function summarise(results: readonly CheckResult[], durationMs: number): Summary {
  const count = (s: CheckResult["status"]) => results.filter((r) => r.status === s).length;
  return {
    total: results.length,
    passed: count("pass"),
    failed: count("fail"),
    skipped: count("skip"),
    ok: results.every((r) => !r.required || r.status !== "fail"),
    durationMs: Math.round(durationMs),
  };
}
