// Disposable Debian VMs for host-apply tests: the lab's VM (src/lab/vm.ts) booted from a private
// copy of the lab's cached base rootfs, inside a test network namespace linked only to other test
// namespaces. Copies are named after the test process, so a crashed run's leftovers are found.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LAB_CACHE } from "../../src/lab/rootfs.js";
import { LabVm } from "../../src/lab/vm.js";

export { ensureBaseRootfs } from "../../src/lab/rootfs.js";
export const CACHE = LAB_CACHE;

export class TestVm extends LabVm {
  constructor(name: string, netnsName: string) {
    super(
      name,
      netnsName,
      join(CACHE, `run-${name}-${process.pid}`),
      join(CACHE, `run-${name}-${process.pid}.console`),
    );
  }

  consoleLog(): string {
    return this.consoleTail();
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      rmSync(this.consoleFile, { force: true });
    }
  }
}

// Leftovers of earlier runs whose test process is gone (a crashed run cannot clean up after itself).
export function removeStaleCopies(): void {
  if (!existsSync(CACHE)) return;
  for (const entry of readdirSync(CACHE)) {
    const m = entry.match(/^run-.+-(\d+)(\.console)?$|^base-.+\.building-(\d+)$/);
    const pid = Number(m?.[1] ?? m?.[3]);
    if (!pid || existsSync(`/proc/${pid}`)) continue;
    rmSync(join(CACHE, entry), { recursive: true, force: true });
  }
}
