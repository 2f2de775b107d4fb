// Commands as root inside a running lab's VM, whatever kind of VM it is. Today every lab VM is
// systemd-nspawn, entered with nsenter at its init; a VM of another kind (a full emulated one, for
// another architecture) adds its way in here and every caller — exec, shell, chat — follows.
import { spawn, spawnSync } from "node:child_process";
import { constants } from "node:os";
import { LabError, type LabState, labVm, readState } from "./lab.js";
import { type ExecResult, processAlive } from "./vm.js";

const VM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function runningLab(name: string): LabState {
  const state = readState(name);
  if (!state || !processAlive(state.nspawnPid))
    throw new LabError(`lab ${name} is not up; \`moat lab up\` first`);
  return state;
}

// The command line on this machine that runs `argv` as root in the VM, with a clean environment.
function vmCommandLine(state: LabState, argv: string[], env: Record<string, string>): string[] {
  const pid = labVm(state).pid;
  if (!pid) throw new LabError(`lab ${state.name}'s VM has no init process; is it still booting?`);
  const vars = Object.entries({ PATH: VM_PATH, LANG: "C.UTF-8", HOME: "/root", ...env });
  return ["nsenter", "-t", String(pid), "-a", "env", "-i", ...vars.map(([k, v]) => `${k}=${v}`), ...argv];
}

// Runs with this terminal's stdin, stdout and stderr; resolves to the command's exit status
// (128 + the signal's number when a signal ended it, as a shell reports it).
export function runInLabVm(
  state: LabState,
  argv: string[],
  env: Record<string, string> = {},
): Promise<number> {
  const [file, ...args] = vmCommandLine(state, argv, env) as [string, ...string[]];
  // Ctrl-C and Ctrl-\ reach the whole foreground group: they are the command's to handle (a
  // shell ignores them at its prompt), and this process must outlive it, as system(3) does.
  const ignore = () => {};
  process.on("SIGINT", ignore).on("SIGQUIT", ignore);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(file, args, { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  }).finally(() => process.off("SIGINT", ignore).off("SIGQUIT", ignore));
}

// Runs and captures the output (for reading the VM's files and logs).
export function readFromLabVm(state: LabState, argv: string[]): ExecResult {
  const [file, ...args] = vmCommandLine(state, argv, {}) as [string, ...string[]];
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 60_000, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ?? ""}` };
}
