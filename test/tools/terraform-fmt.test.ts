// The golden Terraform of test/unit/cloud-render.test.ts against the real `terraform fmt` (tools
// tier: needs terraform, and skips without it; the golden files were confirmed with it).
import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const GOLDEN = join(import.meta.dirname, "../unit/golden/cloud");
const TERRAFORM = ["/usr/local/bin/terraform", "/usr/bin/terraform"].find(existsSync);

describe("terraform fmt layout", () => {
  it("the golden Terraform passes `terraform fmt -check` (when terraform is installed)", (t) => {
    if (!TERRAFORM) {
      t.skip("terraform not installed; the golden files were confirmed with it");
      return;
    }
    for (const name of readdirSync(GOLDEN)) {
      const r: SpawnSyncReturns<string> = spawnSync(
        TERRAFORM,
        ["fmt", "-check", "-diff", join(GOLDEN, name, "terraform")],
        {
          encoding: "utf8",
        },
      );
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });
});
