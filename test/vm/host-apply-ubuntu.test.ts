// `moat host apply` converging booted Ubuntu 24.04 and 22.04 systems (debootstrapped from
// Ubuntu's archive with its -updates and -security pockets, so the packages are a cloud VM's):
// a first converge, a no-op re-run, and the live facts — the agent's container under rootless
// Docker with its posture, Moat's table loaded, metadata refused to the agent's uids (with the
// table dropped as the negative control) while other users reach it. One VM at a time.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { profileGrantingUserns, renderRootlesskitProfile } from "../../src/host/apparmor.js";
import type { ReleaseName } from "../../src/lab/rootfs.js";
import {
  AGENT_UID,
  assertAgentPosture,
  assertAgentUidsConfined,
  assertContainerConfined,
  assertFirstConverge,
  assertNoOpRerun,
  hostProbes,
} from "../support/host-checks.js";
import { HostLab, IMDS_V4, labSpec } from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";

const RELEASES: [ReleaseName, string][] = [
  ["ubuntu-24.04", "ubu24"],
  ["ubuntu-22.04", "ubu22"],
];

for (const [release, name] of RELEASES) {
  describe(`moat host apply on a booted ${release}`, {
    skip: needsRoot("boots an nspawn VM in a network namespace"),
    concurrency: false,
    timeout: 600_000,
  }, () => {
    const lab = new HostLab(name, undefined, release);
    const checks = hostProbes(lab, `moat-${name}-agent`);

    before(async () => {
      await lab.up(labSpec(name));
    });
    after(async () => {
      await lab.down();
    });

    it("converges a fresh system, every step changing something", () => {
      assertFirstConverge(lab);
    });

    it("changes nothing on a second run", () => {
      assertNoOpRerun(lab, 10_000);
    });

    it("the agent container runs under rootless Docker, hardened; the gateway as its own user", () => {
      assertAgentPosture(lab, checks);
      assert.equal(lab.vm.exec(["systemctl", "is-active", "docker.service"]).stdout.trim(), "inactive");
    });

    it("Moat's table is loaded and confines the agent's uids and container; other users reach metadata", () => {
      assert.ok(checks.tableLoaded());
      assertAgentUidsConfined(checks);
      assertContainerConfined(checks);
    });

    it("fail2ban's sshd jail runs on the journal backend", () => {
      const jail = lab.vm.must(["fail2ban-client", "status", "sshd"]);
      assert.match(jail, /Journal matches:.*_SYSTEMD_UNIT=ssh\.service/);
    });

    it("negative control: without Moat's table the agent reaches metadata; apply puts it back", () => {
      checks.dropTable();
      try {
        assert.equal(checks.probe(AGENT_UID, IMDS_V4, 80), "open");
      } finally {
        const { report } = lab.apply(["--only", "firewall"]);
        assert.deepEqual(
          report.steps.map((s) => [s.step, s.status]),
          [["firewall", "changed"]],
        );
      }
      assert.equal(checks.probe(AGENT_UID, IMDS_V4, 80), "ECONNREFUSED");
    });

    if (release === "ubuntu-24.04")
      it("AppArmor: Ubuntu's own profile lets the launcher's rootlesskit make user namespaces, and Moat's compiles", () => {
        const rootlesskit = lab.vm.must(["sh", "-c", "realpath $(command -v rootlesskit)"]).trim();
        const shipped = lab.vm.must(["cat", "/etc/apparmor.d/rootlesskit"]);
        // So on a kernel that restricts user namespaces, host apply leaves it to this profile.
        assert.equal(profileGrantingUserns(shipped, rootlesskit), "rootlesskit");
        lab.vm.writeFile("/root/moat-rootlesskit", renderRootlesskitProfile(rootlesskit));
        const r = lab.vm.exec(["apparmor_parser", "--skip-kernel-load", "/root/moat-rootlesskit"]);
        assert.equal(r.code, 0, r.stderr);
      });
  });
}
