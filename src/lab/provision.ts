// How a lab VM gets what `moat host apply` needs before it boots: a fresh copy of the base
// rootfs, the spec, Moat's package, a Node to run it, and the agent's image tarball (with its
// `.changes.json` image config when one lies next to it). `moat lab up` and the VM tests both
// provision through here, so they run host apply on the same layout.
import { existsSync, realpathSync } from "node:fs";
import { IMPORT_CHANGES_SUFFIX } from "../render/paths.js";
import type { LabVm } from "./vm.js";

// Where the inputs land inside the VM (root's home: host apply installs its own copies).
export const VM_NODE = "/root/bootstrap-node/bin/node";
export const VM_PACKAGE = "/root/agentmoat";
export const VM_SPEC = "/root/moat.yaml";
export const VM_IMAGE_TAR = "/root/agent-image.tar";

export interface VmInputs {
  specText: string;
  // The built Moat package directory (src/lab/package.ts).
  packageDir: string;
  // A rootfs tarball host apply imports as the agent's image.
  imageTar: string;
  // Further files written before boot, by path in the VM.
  files?: Record<string, { content: string | Buffer; mode?: number }>;
}

export function provisionVm(vm: LabVm, base: string, inputs: VmInputs): void {
  vm.prepare(base, { [VM_SPEC]: { content: inputs.specText, mode: 0o600 }, ...inputs.files });
  vm.copyIn(inputs.packageDir, VM_PACKAGE);
  vm.copyIn(realpathSync(process.execPath), VM_NODE);
  vm.copyIn(inputs.imageTar, VM_IMAGE_TAR);
  const changes = `${inputs.imageTar}${IMPORT_CHANGES_SUFFIX}`;
  if (existsSync(changes)) vm.copyIn(changes, `${VM_IMAGE_TAR}${IMPORT_CHANGES_SUFFIX}`);
}
