// `moat logs`: the gateway's audit trail in readable form, on the VM or, from the operator's
// machine, over deploy's pinned SSH connection (see where.ts).
import { type Command, Option } from "commander";
import { DEFAULT_AUDIT_LOG } from "../gateway/audit.js";
import { formatRecord, parseAuditLine } from "../gateway/audit-format.js";
import { viewAudit } from "../gateway/audit-view.js";
import { parseDuration } from "../gateway/duration.js";
import { SPEC_ON_VM } from "../render/paths.js";
import { CliFailure, configOption } from "./util.js";
import { observeWhere } from "./where.js";

export interface LogsFlags {
  config: string;
  dir?: string;
  identity?: string;
  local?: boolean;
  auditLog: string;
  since?: string;
  denied?: boolean;
  json?: boolean;
  follow?: boolean;
  untilStdinCloses?: boolean;
}

function sinceInstant(since: string | undefined, now = Date.now()): number | undefined {
  if (since === undefined) return undefined;
  try {
    return now - parseDuration(since);
  } catch (err) {
    throw new CliFailure(`--since: ${(err as Error).message}`);
  }
}

// The flags the VM side is asked to run with: always --json, so the operator's side formats
// (and escapes) what comes back itself.
export function remoteLogsArgs(f: Pick<LogsFlags, "since" | "denied" | "follow">): string[] {
  return [
    "logs",
    "--local",
    "--json",
    ...(f.since ? ["--since", f.since] : []),
    ...(f.denied ? ["--denied"] : []),
    ...(f.follow ? ["--follow", "--until-stdin-closes"] : []),
  ];
}

const printer = (json: boolean) => (line: string) => {
  if (json) {
    process.stdout.write(`${line}\n`);
    return;
  }
  const r = parseAuditLine(line);
  if (r) process.stdout.write(`${formatRecord(r)}\n`);
};

async function localLogs(f: LogsFlags): Promise<void> {
  const print = printer(!!f.json);
  const view = viewAudit(
    { file: f.auditLog, filter: { since: sinceInstant(f.since), denied: !!f.denied }, follow: !!f.follow },
    (line) => print(line),
  );
  if (f.follow) {
    process.once("SIGINT", () => view.stop());
    process.once("SIGTERM", () => view.stop());
    // Run over SSH by the operator's `moat logs --follow`: its end of the channel closing is the stop.
    if (f.untilStdinCloses) {
      process.stdin.on("end", () => view.stop()).on("close", () => view.stop());
      process.stdin.resume();
    }
  }
  await view.done;
}

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description(
      "the gateway's audit trail, readable: time, who, what, verdict, reason (on the VM, or over SSH)",
    )
    .option(...configOption)
    .option("--dir <dir>", "deploy directory, from the operator's machine (default .moat/<name>)")
    .option("-i, --identity <file>", "SSH private key, from the operator's machine")
    .option("--local", "read this machine's audit trail even where a deploy state is found")
    .option("--audit-log <file>", "the gateway's audit trail on the VM", DEFAULT_AUDIT_LOG)
    .option("--since <duration>", "only the last 15m, 1h, 2d, …")
    .option("--denied", "only refusals (egress denies, Telegram drops and refusals, LLM refusals)")
    .option("--json", "the audit lines themselves, filtered, unchanged (JSON lines)")
    .option("-f, --follow", "keep printing new lines (follows rotation); Ctrl-C ends")
    .addOption(new Option("--until-stdin-closes").hideHelp())
    .addHelpText(
      "after",
      `\nOn a Moat VM (where ${SPEC_ON_VM} exists) it reads ${DEFAULT_AUDIT_LOG}, as root.\n` +
        "Beside a moat.yaml that `moat deploy` deployed from, it runs there over deploy's pinned SSH connection.",
    )
    .action(async (flags: LogsFlags) => {
      sinceInstant(flags.since);
      if ((await observeWhere(flags)) === "vm") return localLogs(flags);
      const { remoteLogs } = await import("../deploy/deploy.js");
      const print = printer(!!flags.json);
      await remoteLogs({
        config: flags.config,
        ...(flags.dir && { dir: flags.dir }),
        ...(flags.identity && { identity: flags.identity }),
        args: remoteLogsArgs(flags),
        follow: !!flags.follow,
        onLine: print,
        onStderrLine: (l) => process.stderr.write(`${l}\n`),
      });
    });
}
