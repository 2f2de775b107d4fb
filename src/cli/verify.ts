// `moat verify`: as root on the VM, prove the perimeter from the agent's side.
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { loadSpecFile } from "../spec/load.js";
import { CHECKS } from "../verify/checks/index.js";
import { formatJson, formatJunit, formatTable } from "../verify/format.js";
import { LAST_VERIFY_FILE, lastVerifyRecord, writeLastVerify } from "../verify/last-result.js";
import { liveObservations } from "../verify/observe.js";
import { runChecks, summarise } from "../verify/run.js";
import { CliFailure, configOption, EXIT, paint } from "./util.js";

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("probe the running perimeter from the agent's uid and container (root, on the VM)")
    .option(...configOption)
    .option("--json", 'print {"checks":[…],"summary":{…}}')
    .option("--junit <file>", "also write a JUnit XML report")
    .option("--only <ids>", "run only these check ids (comma-separated)")
    .action(async (opts: { config: string; json?: boolean; junit?: string; only?: string }) => {
      const spec = loadSpecFile(opts.config);
      if (process.getuid?.() !== 0) throw new CliFailure("verify runs as root on the VM");
      const only = opts.only?.split(",").map((s) => s.trim());
      const unknown = only?.filter((id) => !CHECKS.some((c) => c.id === id)) ?? [];
      if (unknown.length)
        throw new CliFailure(
          `unknown check ${unknown.join(", ")}; checks: ${CHECKS.map((c) => c.id).join(", ")}`,
        );
      const started = performance.now();
      const checks = only ? CHECKS.filter((c) => only.includes(c.id)) : CHECKS;
      const results = await runChecks(checks, { spec, observe: liveObservations(spec) });
      const summary = summarise(results, performance.now() - started);
      process.stdout.write(opts.json ? formatJson(results, summary) : formatTable(results, summary, paint));
      if (opts.junit) writeFileSync(opts.junit, formatJunit(results, summary));
      // For `moat status`; a VM where it cannot be written still gets its verify result.
      try {
        writeLastVerify(lastVerifyRecord(results, summary, new Date(), only));
      } catch (err) {
        process.stderr.write(
          `moat verify: could not record the result in ${LAST_VERIFY_FILE}: ${(err as Error).message}\n`,
        );
      }
      if (!summary.ok) process.exitCode = EXIT.failed;
    });
}
