// `moat host apply` converging a real Debian 13 system booted under systemd-nspawn in a test
// namespace (test/support/host-lab.ts): first converge, a no-op re-run, --check, a failing step
// and its recovery, the firewall with real packets from the agent's uids, and a container of
// the agent's rootless Docker reaching the gateway and nothing else. Each security claim is
// paired with a negative control that breaks it and shows the probe notices.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AGENT_UID,
  assertAgentPosture,
  assertAgentUidsConfined,
  assertContainerConfined,
  assertFirstConverge,
  assertNoOpRerun,
  hostProbes,
  SUBUID,
} from "../support/host-checks.js";
import { AS_AGENT, HostLab, IMDS_V4, IMDS_V6, labSpec, OTHER_PORT, OTHER_V4 } from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";
import { GREETING } from "../support/tcp-probe.js";

describe("moat host apply on a booted Debian 13", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 360_000,
}, () => {
  const lab = new HostLab("apply");
  const CONTAINER = "moat-hostapply-agent";
  const checks = hostProbes(lab, CONTAINER);
  const { probe, dropTable, tableLoaded, containerReaches } = checks;
  // The operator's side of the published port, as root in the VM; "open" once anything answers.
  const publishedPort = () => probe(0, "127.0.0.1", 8080);

  before(async () => {
    await lab.up(labSpec("hostapply"));
  });
  after(async () => {
    await lab.down();
  });

  it("converges a fresh system, every step changing something", () => {
    assertFirstConverge(lab);
  });

  it("changes nothing on a second run, within 5 s", () => {
    assertNoOpRerun(lab, 5000);
  });

  it("moat is on root's PATH on the VM", () => {
    const r = lab.vm.exec(["sh", "-lc", "moat --version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/);
  });

  it("refuses metadata to the agent's uid and its subuid range, v4 and v6, despite InstanceServices", () => {
    assertAgentUidsConfined(checks);
  });

  it("a container of the agent's rootless Docker reaches the gateway and nothing else", () => {
    assertContainerConfined(checks);
  });

  // The operator's access: RootlessKit, as the agent's uid, answers the port published on the
  // VM's loopback, the one answer the firewall lets the agent's uids give (issue 13 item 9).
  it("the published loopback port reaches a listener in the agent's container", () => {
    lab.vm.must([
      ...AS_AGENT,
      "docker",
      "exec",
      "-d",
      CONTAINER,
      "nc",
      "-ll",
      "-p",
      "8080",
      "-e",
      "echo",
      "hi",
    ]);
    // nc starts in the background; give it a few tries to listen.
    let seen = publishedPort();
    for (let i = 0; i < 5 && seen !== "open"; i++) seen = publishedPort();
    assert.equal(seen, "open");
  });

  it("negative control: without the firewall's exception for it, the published port answers no one", () => {
    const chain = lab.vm.must(["nft", "-a", "list", "chain", "inet", "moat", "agent_egress"]);
    const handle = chain.match(/ct direction reply .* # handle (\d+)/)?.[1];
    assert.ok(handle, chain);
    lab.vm.must(["nft", "delete", "rule", "inet", "moat", "agent_egress", "handle", handle]);
    try {
      assert.equal(publishedPort(), "timeout");
    } finally {
      lab.apply(["--only", "firewall"]);
    }
    assert.equal(publishedPort(), "open");
  });

  it("negative control: without Moat's table the same probes get through, and apply puts it back", () => {
    dropTable();
    try {
      assert.equal(
        probe(AGENT_UID, IMDS_V4, 80),
        "open",
        "InstanceServices ACCEPT lets the agent reach metadata",
      );
      assert.equal(probe(SUBUID, IMDS_V6, 80), "open");
      assert.equal(probe(AGENT_UID, OTHER_V4, OTHER_PORT), "open");
      assert.match(containerReaches(OTHER_V4, OTHER_PORT), new RegExp(GREETING));
      assert.match(containerReaches(IMDS_V4, 80), new RegExp(GREETING));
    } finally {
      const { report } = lab.apply(["--only", "firewall"]);
      assert.deepEqual(
        report.steps.map((s) => [s.step, s.status]),
        [["firewall", "changed"]],
      );
    }
    assert.equal(probe(AGENT_UID, IMDS_V4, 80), "ECONNREFUSED");
    assert.doesNotMatch(containerReaches(OTHER_V4, OTHER_PORT), new RegExp(GREETING));
  });

  it("--check reports drift and changes nothing", () => {
    dropTable();
    const { code, report } = lab.apply(["--check"]);
    assert.equal(code, 0);
    const firewall = report.steps.find((s) => s.step === "firewall");
    assert.equal(firewall?.status, "would-change");
    assert.ok(firewall?.actions.some((a) => a.includes("start") || a.includes("reload")));
    for (const s of report.steps.filter((x) => x.step !== "firewall"))
      assert.equal(s.status, "unchanged", s.step);
    assert.equal(tableLoaded(), false, "--check must not load the table");
  });

  it("a failing step stops the run, keeps earlier steps, and a re-run carries on", () => {
    const launcher = "/usr/share/docker.io/contrib/dockerd-rootless.sh";
    lab.vm.must(["mv", launcher, `${launcher}.away`]);
    lab.vm.must(["rm", "/usr/local/bin/dockerd-rootless.sh"]);
    const failed = lab.apply();
    assert.equal(failed.code, 1);
    const status = Object.fromEntries(failed.report.steps.map((s) => [s.step, s.status]));
    assert.equal(status.firewall, "changed", "the table dropped by the previous test is reloaded");
    assert.equal(status["rootless-docker"], "failed");
    assert.match(
      failed.report.steps.find((s) => s.step === "rootless-docker")?.error ?? "",
      /no dockerd-rootless\.sh/,
    );
    for (const later of ["gateway", "agent", "access", "drift"])
      assert.equal(status[later], "skipped", later);
    assert.equal(tableLoaded(), true, "the earlier step's work stays");

    lab.vm.must(["mv", `${launcher}.away`, launcher]);
    const recovered = lab.apply();
    assert.equal(recovered.code, 0);
    const after = Object.fromEntries(recovered.report.steps.map((s) => [s.step, s.status]));
    assert.equal(after["rootless-docker"], "changed");
    for (const s of ["packages", "firewall", "users", "gateway", "agent", "access", "drift"])
      assert.equal(after[s], "unchanged", s);
  });

  it("moat host drift (the timer's command) puts back a dropped table and logs it", () => {
    dropTable();
    const r = lab.vm.exec([
      "/usr/bin/node",
      "/opt/moat/bin/moat.js",
      "host",
      "drift",
      "-c",
      "/etc/moat/moat.yaml",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /moat drift: firewall drifted, re-applied/);
    assert.match(r.stdout, /moat drift: gateway unchanged/);
    assert.equal(tableLoaded(), true);
    assert.equal(probe(AGENT_UID, IMDS_V4, 80), "ECONNREFUSED");
    // The installed unit runs the same command.
    lab.vm.must(["systemctl", "start", "moat-drift.service"]);
    assert.match(
      lab.vm.must(["journalctl", "-u", "moat-drift.service", "-o", "cat", "--no-pager"]),
      /moat drift: firewall unchanged/,
    );
  });

  it("the agent container runs hardened and the gateway as its own user", () => {
    assertAgentPosture(lab, checks);
  });
});
