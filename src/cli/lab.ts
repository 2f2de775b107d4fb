// `moat lab`: a simulated cloud VM on this machine (see src/lab/lab.ts).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { runCloud } from "../lab/cloud.js";
import { setLabLlmScript } from "../lab/control.js";
import { labDown, labStatus, labUp, labVerify } from "../lab/lab.js";
import { type LabLogSource, labLogs } from "../lab/logs.js";
import { loadSpecFile } from "../spec/load.js";
import { readLlmScript, registerLabChat } from "./lab-chat.js";
import { registerLabOpen } from "./lab-open.js";
import { CliFailure, configOption, EXIT, paint } from "./util.js";

const progress = (step: string, detail: string) =>
  process.stdout.write(`${paint("cyan", `▸ ${step}`)} ${detail}\n`);

export function registerLab(program: Command): void {
  const lab = program
    .command("lab")
    .description("a simulated cloud VM on this machine: namespaces, fake metadata and internet");

  lab
    .command("up")
    .description("build the lab, converge its VM with host apply and run verify inside (root)")
    .option(...configOption)
    .option(
      "--import-image <tar>",
      "the agent image as a rootfs tarball (the lab reaches no registry; for the openclaw profile it is built from npm when omitted)",
    )
    .option("--script <file>", "what the lab's model answers (JSON or YAML; see the README)")
    .action(async (opts: { config: string; importImage?: string; script?: string }) => {
      const spec = loadSpecFile(opts.config);
      const script = opts.script ? readLlmScript(opts.script) : undefined;
      const started = performance.now();
      const { applyCode, verifyCode } = await labUp(spec, {
        specText: readFileSync(opts.config, "utf8"),
        ...(opts.importImage && { imageTar: opts.importImage }),
        progress,
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (script) await setLabLlmScript(spec.name, script);
      if (applyCode !== 0) {
        process.exitCode = EXIT.failed;
        process.stderr.write(
          `${paint("red", "moat:")} host apply failed inside the lab VM; it stays up for a look (moat lab down removes it)\n`,
        );
        return;
      }
      process.stdout.write(
        `${verifyCode === 0 ? paint("green", "✓") : paint("red", "✗")} lab ${spec.name} up in ${seconds} s\n` +
          `  moat lab verify -c ${opts.config}   probe it again\n` +
          `  moat lab status -c ${opts.config}   what is running\n` +
          `  moat lab chat -c ${opts.config}     talk to the agent through Telegram\n` +
          `  moat lab down -c ${opts.config}     remove everything it made\n`,
      );
      if (verifyCode !== 0) process.exitCode = EXIT.failed;
    });

  lab
    .command("verify")
    .description("run `moat verify` inside the lab's VM; takes verify's flags")
    .option(...configOption)
    .option("--json", "print the report as JSON")
    .option("--junit <file>", "also write a JUnit XML report here")
    .option("--only <ids>", "run only these check ids (comma-separated)")
    .action((opts: { config: string; json?: boolean; junit?: string; only?: string }) => {
      const spec = loadSpecFile(opts.config);
      const args = [...(opts.json ? ["--json"] : []), ...(opts.only ? ["--only", opts.only] : [])];
      const code = labVerify(spec.name, args, opts.junit);
      if (code !== 0) process.exitCode = code > 0 ? code : EXIT.failed;
    });

  lab
    .command("status")
    .description("show what of the lab is up")
    .option(...configOption)
    .option("--json", "print the status as JSON")
    .action((opts: { config: string; json?: boolean }) => {
      const spec = loadSpecFile(opts.config);
      const s = labStatus(spec.name);
      if (opts.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else {
        process.stdout.write(`lab ${s.name}: ${s.up ? paint("green", "up") : paint("yellow", "down")}\n`);
        process.stdout.write(`  vm     ${s.vm}\n  cloud  ${s.cloud}\n`);
        for (const [ns, exists] of Object.entries(s.namespaces))
          process.stdout.write(`  netns  ${ns}: ${exists ? "present" : "absent"}\n`);
        if (s.startedAt) process.stdout.write(`  since  ${s.startedAt}\n`);
      }
      if (!s.up) process.exitCode = EXIT.failed;
    });

  lab
    .command("logs")
    .description("the gateway's decisions (default), the agent container's log, or the fake cloud's requests")
    .option(...configOption)
    .option("-f, --follow", "keep printing as they come; Ctrl-C ends")
    .option("--gateway", "the gateway's audit trail, readable (as `moat logs` prints it on a VM)")
    .option("--agent", "the agent container's log (docker logs, as the agent's user)")
    .option("--cloud", "the fake cloud's requests: metadata, DNS, LLM providers, Bot API, websites")
    .action(
      async (opts: {
        config: string;
        follow?: boolean;
        gateway?: boolean;
        agent?: boolean;
        cloud?: boolean;
      }) => {
        const spec = loadSpecFile(opts.config);
        const chosen = (["gateway", "agent", "cloud"] as const).filter((s) => opts[s]);
        if (chosen.length > 1)
          throw new CliFailure(
            `pick one of --gateway, --agent, --cloud (got ${chosen.map((c) => `--${c}`).join(", ")})`,
          );
        if (process.getuid?.() !== 0) throw new CliFailure("moat lab runs as root");
        // Ctrl-C ends a follow; without one, it interrupts as usual.
        const until = opts.follow
          ? new Promise<void>((resolve) => process.once("SIGINT", () => resolve()))
          : new Promise<void>(() => {});
        const source: LabLogSource = chosen[0] ?? "gateway";
        const code = await labLogs(spec, {
          source,
          follow: !!opts.follow,
          write: (line) => process.stdout.write(`${line}\n`),
          until,
        });
        if (code !== 0) process.exitCode = EXIT.failed;
      },
    );

  lab
    .command("down")
    .description("remove everything the lab made: VM, processes, namespaces, disk")
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const spec = loadSpecFile(opts.config);
      if (process.getuid?.() !== 0) throw new CliFailure("moat lab runs as root");
      const removed = await labDown(spec.name, progress);
      process.stdout.write(
        removed.length
          ? `removed:\n${removed.map((r) => `  ${r}\n`).join("")}`
          : `lab ${spec.name}: nothing to remove\n`,
      );
    });

  registerLabChat(lab);
  registerLabOpen(lab);

  // Run by `lab up` inside the cloud namespace; not for people.
  lab.command("cloud-services <stateDir>", { hidden: true }).action(async (dir: string) => {
    await runCloud(dir);
  });
}
