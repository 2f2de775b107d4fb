// The SSH lockdown's rules load in the real nft (tools tier: needs nftables and root, for a
// throwaway network namespace; the renderer's pure cases are in test/unit/host-tailscale.test.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { sshLockdownRules } from "../../src/render/ssh-lockdown.js";
import { specFrom } from "../helpers.js";
import { needsRoot } from "../support/root.js";
import { TS, yaml } from "../support/tailscale-host.js";

describe("ssh lockdown renderer", {
  skip: needsRoot("nft in a throwaway network namespace (unshare -n)"),
}, () => {
  it("loads with the real nft in a throwaway network namespace", () => {
    const rules = sshLockdownRules(specFrom(yaml(TS, "[203.0.113.7/32]")));
    const out = execFileSync("unshare", ["-n", "sh", "-c", "nft -f - && nft list table inet moat_ssh"], {
      input: rules,
      encoding: "utf8",
    });
    assert.match(out, /iifname \{ "lo", "tailscale0" \} accept/);
  });
});
