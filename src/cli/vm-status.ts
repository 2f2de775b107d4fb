// `moat status` on the VM itself (see where.ts for when that is).
import { loadSpecFile } from "../spec/load.js";
import { formatVmStatus, vmProblems } from "../status/format.js";
import { observeVmStatus } from "../status/vm-status.js";
import { CliFailure, EXIT, paint } from "./util.js";
import { VM_SPEC } from "./where.js";

export async function localStatus(json: boolean): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new CliFailure(
      "moat status reads the VM as root (sudo moat status): the agent's docker, the gateway's state",
    );
  const spec = loadSpecFile(VM_SPEC);
  const s = await observeVmStatus(spec);
  process.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : formatVmStatus(s, new Date(), paint));
  if (vmProblems(s).length) process.exitCode = EXIT.failed;
}
