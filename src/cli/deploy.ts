// `moat deploy`, `moat status`, `moat destroy`: run on the operator's machine.
// The deploy modules (and the SSH library with them) load only when one of these commands runs,
// so the gateway and host apply, which share this CLI on the VM, never pay for them.
import * as prompts from "@clack/prompts";
import type { Command } from "commander";
import { DEFAULT_CAPACITY_POLICY } from "../deploy/capacity.js";
import type { Progress } from "../deploy/deploy.js";
import { isCloud } from "../deploy/plan.js";
import { SPEC_ON_VM } from "../render/paths.js";
import { loadSpecFile } from "../spec/load.js";
import { formatVmStatus, vmProblems } from "../status/format.js";
import type { VerifyReport } from "../verify/types.js";
import { CliFailure, configOption, EXIT, paint } from "./util.js";
import { observeWhere } from "./where.js";

const deployModule = () => import("../deploy/deploy.js");

const progress: Progress = {
  step: (step, text) => process.stdout.write(`${paint("bold", `▸ ${step}`)}  ${text}\n`),
  line: (text) => process.stdout.write(`  ${paint("dim", text)}\n`),
};

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliFailure(`${flag}: "${v}" is not a whole number ≥ 0`);
  return n;
};

function printVerify(v: VerifyReport): void {
  for (const c of v.checks.filter((c) => c.status === "fail"))
    process.stdout.write(
      `  ${paint("red", "✗")} ${c.id}: ${c.detail}${c.required ? "" : " (advisory)"}\n    fix: ${c.fix}\n`,
    );
  const s = v.summary;
  const verdict = s.ok ? paint("green", "perimeter holds") : paint("red", "perimeter NOT verified");
  process.stdout.write(`${verdict}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped\n`);
}

interface DeployFlags {
  config: string;
  dir?: string;
  sshUser?: string;
  identity?: string;
  importImage?: string;
  capacityAttempts: number;
  capacityWait: number;
  ads: number;
  sshTimeout?: number;
}

export function registerDeploy(program: Command): void {
  program
    .command("deploy")
    .description(
      "render, create the VM (oci, aws: OpenTofu/Terraform) or reach it (ssh), push Moat and the secrets, host apply, verify",
    )
    .option(...configOption)
    .option(
      "--dir <dir>",
      "deploy directory: bundle, Terraform state, pinned host keys (default .moat/<name>)",
    )
    .option("--ssh-user <user>", "log in as this user (default: target.user, or ubuntu on clouds)")
    .option("-i, --identity <file>", "SSH private key (default: target.identityFile, ~/.ssh/id_ed25519, …)")
    .option("--import-image <tar>", "push this rootfs tarball and docker import it as the agent image")
    .option(
      "--capacity-attempts <n>",
      "OCI: apply attempts while out of host capacity",
      positiveInt("--capacity-attempts"),
      DEFAULT_CAPACITY_POLICY.maxAttempts,
    )
    .option(
      "--capacity-wait <seconds>",
      "OCI: wait after a full round of availability domains (doubles each round)",
      positiveInt("--capacity-wait"),
      DEFAULT_CAPACITY_POLICY.waitSeconds,
    )
    .option(
      "--ads <n>",
      "OCI: availability domains to rotate through",
      positiveInt("--ads"),
      DEFAULT_CAPACITY_POLICY.ads,
    )
    .option("--ssh-timeout <seconds>", "how long to wait for SSH", positiveInt("--ssh-timeout"))
    .action(async (opts: DeployFlags) => {
      const { deploy } = await deployModule();
      const result = await deploy({
        config: opts.config,
        ...(opts.dir && { dir: opts.dir }),
        ...(opts.sshUser && { sshUser: opts.sshUser }),
        ...(opts.identity && { identity: opts.identity }),
        ...(opts.importImage && { importImage: opts.importImage }),
        ...(opts.sshTimeout !== undefined && { sshTimeoutMs: opts.sshTimeout * 1000 }),
        capacity: {
          ...DEFAULT_CAPACITY_POLICY,
          maxAttempts: Math.max(1, opts.capacityAttempts),
          waitSeconds: opts.capacityWait,
          ads: Math.max(1, opts.ads),
        },
        progress,
      });
      const changed = result.changedSteps.length ? result.changedSteps.join(", ") : "nothing";
      process.stdout.write(`\n${paint("green", "✓")} host apply: changed ${changed}\n`);
      printVerify(result.verify);
      process.stdout.write(`agent: ${result.access}\n`);
      if (!result.verify.summary.ok) process.exitCode = EXIT.failed;
    });

  program
    .command("status")
    .description(
      "on a Moat VM: the agent, the gateway, today's spend and the last verify; from the operator's machine: also what deploy left and a fresh verify, over SSH",
    )
    .option(...configOption)
    .option("--dir <dir>", "deploy directory (default .moat/<name>)")
    .option("-i, --identity <file>", "SSH private key")
    .option("--local", "report on this machine as a Moat VM even where a deploy state is found")
    .option("--json", "print the status as JSON")
    .addHelpText(
      "after",
      `\nOn a Moat VM (where ${SPEC_ON_VM} exists) it reads that VM, as root. Beside a moat.yaml\n` +
        "that `moat deploy` deployed from, it reaches the VM over deploy's pinned SSH connection.",
    )
    .action(
      async (opts: { config: string; dir?: string; identity?: string; local?: boolean; json?: boolean }) => {
        if ((await observeWhere(opts)) === "vm")
          return (await import("./vm-status.js")).localStatus(!!opts.json);
        const quiet: Progress = { step: () => {}, line: () => {} };
        const { status } = await deployModule();
        const r = await status({
          config: opts.config,
          ...(opts.dir && { dir: opts.dir }),
          ...(opts.identity && { identity: opts.identity }),
          progress: opts.json ? quiet : progress,
        });
        const ok = r.reachable && !!r.verify?.summary.ok && (!r.vm || vmProblems(r.vm).length === 0);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        } else {
          const s = r.state;
          process.stdout.write(
            `${s.name} (${s.target}) at ${s.user ?? "?"}@${s.host ?? "?"}${s.instanceId ? `, instance ${s.instanceId}` : ""}; last deployed ${s.lastDeployedAt}\n`,
          );
          if (r.outputs) process.stdout.write(`terraform outputs: ${JSON.stringify(r.outputs)}\n`);
          process.stdout.write(
            r.reachable
              ? `host: ${paint("green", "reachable")}\n`
              : `host: ${paint("red", `unreachable (${r.reachError})`)}\n`,
          );
          if (r.verify) printVerify(r.verify);
          if (r.vm) process.stdout.write(formatVmStatus(r.vm, new Date(), paint));
          if (r.vmError)
            process.stdout.write(`${paint("red", "moat status on the host failed:")} ${r.vmError}\n`);
        }
        if (!ok) process.exitCode = EXIT.failed;
      },
    );

  program
    .command("destroy")
    .description("destroy the cloud resources deploy created (asks first)")
    .option(...configOption)
    .option("--dir <dir>", "deploy directory (default .moat/<name>)")
    .option("--yes", "do not ask for confirmation")
    .action(async (opts: { config: string; dir?: string; yes?: boolean }) => {
      const spec = loadSpecFile(opts.config);
      if (!isCloud(spec))
        throw new CliFailure(
          `target.kind ${spec.target.kind}: destroy removes cloud resources deploy created, and this target has none`,
        );
      if (!opts.yes) {
        if (!process.stdin.isTTY)
          throw new CliFailure(
            `destroy deletes ${spec.name}'s VM and its disk; stdin is not a terminal, so pass --yes to confirm`,
          );
        const sure = await prompts.confirm({
          message: `Destroy ${spec.name} (${spec.target.kind}): its VM, disk and network?`,
          initialValue: false,
        });
        if (prompts.isCancel(sure) || !sure) throw new CliFailure("not destroyed");
      }
      const { destroy } = await deployModule();
      await destroy({ config: opts.config, ...(opts.dir && { dir: opts.dir }), progress });
      process.stdout.write(`${paint("green", "✓")} destroyed ${spec.name}\n`);
    });
}
