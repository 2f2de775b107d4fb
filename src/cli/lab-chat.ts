// `moat lab chat`, `moat lab exec` and `moat lab shell`: meeting the agent in a running lab.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { terminalSafe } from "../gateway/audit-format.js";
import {
  type ChatOutcome,
  chatOnce,
  describeSender,
  formatAudit,
  resolveSender,
  type Sender,
} from "../lab/chat.js";
import { setLabLlmScript } from "../lab/control.js";
import { runInLabVm, runningLab } from "../lab/exec.js";
import { parseLlmScript } from "../lab/fakes/llm-script.js";
import type { LabState } from "../lab/lab.js";
import { loadSpecFile } from "../spec/load.js";
import { CliFailure, configOption, EXIT, paint } from "./util.js";

const DEFAULT_TIMEOUT_S = 120;

// Reads and validates a script file (JSON or YAML) before anything is changed.
export function readLlmScript(file: string) {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliFailure(`--script ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseLlmScript(text, file);
}

function rootLab(config: string): LabState {
  if (process.getuid?.() !== 0) throw new CliFailure("moat lab runs as root");
  return runningLab(loadSpecFile(config).name);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const indent = (lines: string[]) => lines.map((l) => `    ${l}\n`).join("");
// The agent writes its replies: each line escaped for the terminal (audit-format.ts), as moat logs does.
const agentText = (text: string) => text.split("\n").map(terminalSafe).join("\n");

// Prints one exchange; returns whether it went as the allowlist says it should.
function printOutcome(sender: Sender, o: ChatOutcome): boolean {
  const out = (s: string) => process.stdout.write(s);
  if (o.kind === "reply") {
    for (const r of o.replies)
      out(`${paint("green", `← agent after ${seconds(r.ms)}:`)} ${agentText(r.text)}\n`);
    if (o.refusals.length)
      out(`  ${paint("yellow", "the gateway refused meanwhile:")}\n${indent(o.refusals.map(formatAudit))}`);
    return true;
  }
  if (o.kind === "dropped") {
    out(
      `${paint("green", "✓ no reply")}: the gateway dropped the message before the agent saw it (${seconds(o.ms)} after it was sent):\n` +
        indent(o.drops.map(formatAudit)),
    );
    return true;
  }
  if (o.kind === "stranger-answered") {
    for (const r of o.replies)
      out(`${paint("red", `← agent after ${seconds(r.ms)}:`)} ${agentText(r.text)}\n`);
    process.stderr.write(
      `${paint("red", "moat:")} the agent answered ${describeSender(sender)}: the Telegram allowlist did not hold\n`,
    );
    return false;
  }
  const why = o.polls
    ? `the agent polled the Bot API meanwhile (getUpdates calls: ${o.polls})`
    : "the agent did not poll the Bot API meanwhile (is it running? `moat lab status`)";
  process.stderr.write(
    `${paint("red", "moat:")} no ${sender.allowed ? "reply" : "reply and no drop in the gateway's audit"} within ${seconds(o.timeoutMs)}; ${why}\n` +
      (o.refusals.length ? `  the gateway refused meanwhile:\n${indent(o.refusals.map(formatAudit))}` : ""),
  );
  return false;
}

export function registerLabChat(lab: Command): void {
  lab
    .command("chat [text]")
    .description(
      "send a Telegram message to the lab's agent and print its reply (no TEXT: one message per line, interactive on a terminal)",
    )
    .option(...configOption)
    .option("--as <who>", "owner, stranger or a numeric Telegram user id", "owner")
    .option("--timeout <s>", "how long to wait for a reply, seconds", String(DEFAULT_TIMEOUT_S))
    .option("--script <file>", "first give the lab's model this script (JSON or YAML; see the README)")
    .action(
      async (
        text: string | undefined,
        opts: { config: string; as: string; timeout: string; script?: string },
      ) => {
        const timeoutS = Number(opts.timeout);
        if (!Number.isFinite(timeoutS) || timeoutS <= 0)
          throw new CliFailure(`--timeout ${opts.timeout}: expected a number of seconds above 0`);
        const script = opts.script ? readLlmScript(opts.script) : undefined;
        const state = rootLab(opts.config);
        const sender = resolveSender(loadSpecFile(opts.config), opts.as);
        if (script) {
          await setLabLlmScript(state.name, script);
          process.stdout.write(`the lab's model now follows ${opts.script} (${script.length} rules)\n`);
        }
        const send = async (line: string) => {
          process.stdout.write(`${paint("cyan", `→ ${describeSender(sender)}:`)} ${line}\n`);
          const outcome = await chatOnce(state, sender, line, timeoutS * 1000);
          if (!printOutcome(sender, outcome)) process.exitCode = EXIT.failed;
        };
        if (text !== undefined) return send(text);
        const terminal = process.stdin.isTTY === true;
        const rl = createInterface({ input: process.stdin, output: process.stdout, terminal });
        if (terminal)
          process.stdout.write(`chatting with lab ${state.name} as ${describeSender(sender)}; Ctrl-D ends\n`);
        rl.setPrompt("you> ");
        if (terminal) rl.prompt();
        for await (const line of rl) {
          if (line.trim()) await send(line);
          if (terminal) rl.prompt();
        }
        if (terminal) process.stdout.write("\n");
      },
    );

  lab
    .command("exec <command...>")
    .description("run a command as root inside the lab's VM (put it after --); exits with its status")
    .option(...configOption)
    .action(async (command: string[], opts: { config: string }) => {
      const state = rootLab(opts.config);
      process.exitCode = await runInLabVm(state, command, { TERM: process.env.TERM ?? "dumb" });
    });

  lab
    .command("shell")
    .description("an interactive root shell inside the lab's VM")
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const state = rootLab(opts.config);
      process.exitCode = await runInLabVm(
        state,
        ["/bin/sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"],
        {
          TERM: process.env.TERM ?? "xterm",
        },
      );
    });
}
