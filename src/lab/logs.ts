// `moat lab logs`: what happened in the lab, read where it happened. The gateway's audit trail by
// `moat logs` inside the VM (asked for JSON, formatted and escaped here), the agent container's
// log by rootless docker as the agent's user inside the VM (every line escaped: the agent writes
// it), and the fake cloud's requests from events.jsonl in the lab's state directory.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { formatRecord, parseAuditLine, terminalSafe } from "../gateway/audit-format.js";
import { FileTail } from "../gateway/audit-tail.js";
import { agentContainerName } from "../render/compose.js";
import { agentCommand } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import { EVENTS_FILE } from "./cloud.js";
import { formatCloudEvent } from "./event-format.js";
import { LabError, labVm, readState, stateDir, VM_NODE, VM_PACKAGE } from "./lab.js";
import { processAlive } from "./vm.js";

export type LabLogSource = "gateway" | "agent" | "cloud";

export interface LabLogsOptions {
  source: LabLogSource;
  follow: boolean;
  write: (line: string) => void;
  // Resolves when a follow should end (Ctrl-C); without follow it is not waited for.
  until: Promise<void>;
}

const VM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A command inside the VM whose output is read line by line as it comes.
function streamInVm(
  pid: number,
  argv: string[],
  env: Record<string, string>,
  onLine: (line: string, stream: "out" | "err") => void,
  until: Promise<void>,
): Promise<number> {
  const vars = Object.entries({ PATH: VM_PATH, LANG: "C.UTF-8", ...env }).map(([k, v]) => `${k}=${v}`);
  const child = spawn("nsenter", ["-t", String(pid), "-a", "env", "-i", ...vars, ...argv], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  createInterface({ input: child.stdout }).on("line", (l) => onLine(l, "out"));
  createInterface({ input: child.stderr }).on("line", (l) => onLine(l, "err"));
  // The stop: closing stdin ends `moat logs --until-stdin-closes`; a signal ends the rest.
  until.then(() => {
    child.stdin.end();
    child.kill("SIGTERM");
  });
  return new Promise((resolve) => {
    child.on("error", () => resolve(-1));
    child.on("close", (code) => resolve(code ?? 0));
  });
}

export async function labLogs(spec: MoatSpec, opts: LabLogsOptions): Promise<number> {
  const state = readState(spec.name);
  if (!state || !processAlive(state.nspawnPid))
    throw new LabError(`lab ${spec.name} is not up; \`moat lab up\` first`);
  const { write, follow } = opts;
  if (opts.source === "cloud") {
    const tail = new FileTail(
      join(stateDir(spec.name), EVENTS_FILE),
      (l) => {
        const text = formatCloudEvent(l);
        if (text) write(text);
      },
      "start",
    );
    tail.poll();
    if (follow) {
      tail.start();
      await opts.until;
    }
    tail.stop();
    return 0;
  }
  const pid = labVm(state).pid;
  if (opts.source === "gateway") {
    const argv = [VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "logs", "--local", "--json"];
    if (follow) argv.push("--follow", "--until-stdin-closes");
    return streamInVm(
      pid,
      argv,
      {},
      (line, stream) => {
        const r = stream === "out" ? parseAuditLine(line) : undefined;
        if (r) write(formatRecord(r));
        else if (stream === "err") process.stderr.write(`${terminalSafe(line)}\n`);
      },
      follow ? opts.until : new Promise(() => {}),
    );
  }
  const cmd = agentCommand(spec, [
    "docker",
    "logs",
    ...(follow ? ["--follow"] : []),
    agentContainerName(spec),
  ]);
  return streamInVm(
    pid,
    cmd.argv,
    cmd.env,
    (line) => write(terminalSafe(line)),
    follow ? opts.until : new Promise(() => {}),
  );
}
