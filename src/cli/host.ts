// `moat host apply`: converge this machine (as root, on the VM) to the bundle rendered from moat.yaml.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { applyHost, DRIFT_STEPS } from "../host/apply.js";
import { STEPS, type StepName, type StepReport } from "../host/types.js";
import { loadSpecFile } from "../spec/load.js";
import { CliFailure, configOption, EXIT, paint } from "./util.js";

function parseSteps(list: string): StepName[] {
  const names = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(STEPS as readonly string[]).includes(n))
      throw new CliFailure(`unknown step "${n}"; steps: ${STEPS.join(", ")}`);
  }
  return names as StepName[];
}

const MARK: Record<StepReport["status"], string> = {
  changed: paint("green", "✓ changed"),
  unchanged: paint("dim", "· unchanged"),
  "would-change": paint("yellow", "~ would change"),
  failed: paint("red", "✗ failed"),
  skipped: paint("dim", "- skipped"),
};

function printStep(r: StepReport): void {
  process.stdout.write(
    `${MARK[r.status]}  ${r.step} ${paint("dim", `(${(r.durationMs / 1000).toFixed(1)} s)`)}\n`,
  );
  for (const a of r.actions) process.stdout.write(`    ${a}\n`);
  if (r.error) process.stdout.write(`    ${paint("red", r.error)}\n`);
}

// One plain line per step, for a deploy streaming this command's stderr from afar.
const progressLine = (r: StepReport) =>
  `step ${r.step} ${r.status} ${(r.durationMs / 1000).toFixed(1)}s${r.error ? `: ${r.error}` : ""}`;

export function registerHost(program: Command): void {
  const host = program.command("host").description("commands that run as root on the VM");
  host
    .command("apply")
    .description(`converge this host to moat.yaml, step by step (${STEPS.join(", ")})`)
    .option(...configOption)
    .option("--check", "print what would change and change nothing")
    .option("--only <steps>", "run only these steps (comma-separated)")
    .option("--import-image <tar>", "docker import this rootfs tarball as the agent image when it is missing")
    .option("--json", "print the report as JSON")
    .option(
      "--progress",
      "with --json, also print one line per finished step on stderr (moat deploy shows them)",
    )
    .action(
      async (opts: {
        config: string;
        check?: boolean;
        only?: string;
        importImage?: string;
        json?: boolean;
        progress?: boolean;
      }) => {
        const spec = loadSpecFile(opts.config);
        const only = opts.only ? parseSteps(opts.only) : undefined;
        if (process.getuid?.() !== 0) throw new CliFailure("host apply runs as root on the VM");
        const live = !opts.json && process.stdout.isTTY;
        const report = await applyHost(spec, readFileSync(opts.config, "utf8"), {
          check: opts.check ?? false,
          ...(only && { only }),
          ...(opts.importImage && { importImage: opts.importImage }),
          onStep: (step, r) => {
            if (opts.json) {
              if (r && opts.progress) process.stderr.write(`${progressLine(r)}\n`);
              return;
            }
            if (!r && live) process.stdout.write(paint("dim", `… ${step}\n`));
            if (r) printStep(r);
          },
          // A wait that goes on says what it waits for (also on stderr for deploy, which streams it).
          onWaiting: (step, what) => {
            if (opts.json) {
              if (opts.progress) process.stderr.write(`step ${step} ${what}\n`);
            } else process.stdout.write(paint("dim", `  … ${step}: ${what}\n`));
          },
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          const changed = report.steps.filter(
            (s) => s.status === "changed" || s.status === "would-change",
          ).length;
          const verb = report.check ? "would change" : "changed";
          process.stdout.write(
            `${report.ok ? paint("green", "✓") : paint("red", "✗")} ${changed} step(s) ${verb} in ${(report.durationMs / 1000).toFixed(1)} s\n`,
          );
        }
        if (!report.ok) process.exitCode = EXIT.failed;
      },
    );
  host
    .command("drift")
    .description(`re-check and re-apply what drifted (${DRIFT_STEPS.join(", ")}); run by moat-drift.timer`)
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const spec = loadSpecFile(opts.config);
      if (process.getuid?.() !== 0) throw new CliFailure("host drift runs as root on the VM");
      const report = await applyHost(spec, readFileSync(opts.config, "utf8"), { only: [...DRIFT_STEPS] });
      // One line per step for the journal: what drifted and what was done about it.
      for (const r of report.steps) {
        const detail = r.error ?? (r.actions.join("; ") || "as applied");
        process.stdout.write(
          `moat drift: ${r.step} ${r.status === "changed" ? "drifted, re-applied" : r.status}: ${detail}\n`,
        );
      }
      if (!report.ok) process.exitCode = EXIT.failed;
    });
}
