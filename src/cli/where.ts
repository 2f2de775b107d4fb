// `moat status` and `moat logs` run where the owner is: on a Moat VM they read it; on the
// operator's machine, beside a moat.yaml that `moat deploy` deployed from, they reach that VM
// over deploy's pinned SSH connection. `--local` forces the first (it is also what the remote
// side is asked to run, so the VM never guesses).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUNDLE_DIR } from "../render/paths.js";
import { CliFailure } from "./util.js";

export const VM_SPEC = `${BUNDLE_DIR}/moat.yaml`;

export type Where = "vm" | "deployed";

export interface WhereFacts {
  local: boolean;
  // The operator's moat.yaml exists and deploy left its state for it.
  deployedFromHere: boolean;
  // /etc/moat/moat.yaml exists: host apply made this machine a Moat VM.
  onMoatVm: boolean;
}

// A deploy state beside the config wins over being a VM (an operator may test from one); with
// neither, "deployed", so the operator gets deploy's own "not deployed from here" error.
export function whereToRun(f: WhereFacts): Where {
  if (f.local) return "vm";
  if (f.deployedFromHere) return "deployed";
  return f.onMoatVm ? "vm" : "deployed";
}

export async function observeWhere(opts: { config: string; dir?: string; local?: boolean }): Promise<Where> {
  let deployedFromHere = false;
  if (!opts.local && existsSync(opts.config)) {
    const { deployDir, loadDeploySpec } = await import("../deploy/deploy.js");
    const { STATE_FILE } = await import("../deploy/state.js");
    try {
      const { spec } = loadDeploySpec(opts.config);
      deployedFromHere = existsSync(join(deployDir(opts.config, spec, opts.dir), STATE_FILE));
    } catch {
      // An invalid moat.yaml here: deploy's path reports it, unless this is a VM.
    }
  }
  const onMoatVm = existsSync(VM_SPEC);
  if (!opts.local && !onMoatVm && !existsSync(opts.config))
    throw new CliFailure(
      `no ${opts.config} here and this is not a Moat VM (no ${VM_SPEC}): run it beside the moat.yaml you deployed from (-c), or on the VM`,
    );
  return whereToRun({ local: !!opts.local, deployedFromHere, onMoatVm });
}
