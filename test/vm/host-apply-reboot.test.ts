// A converged VM rebooted: what host apply set up must come back from the disk alone, in the
// right order. The firewall unit loads Moat's table before the agent's user manager may start
// (moat-firewall.service is RequiredBy and Before user@<agent uid>.service), so the agent never
// runs unfenced; the negative control makes the table unloadable at boot and shows the agent
// then does not start at all, although its uid would reach the metadata service.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AGENT_UID, GATEWAY, hostProbes, SUBUID } from "../support/host-checks.js";
import { AS_AGENT, HostLab, IMDS_V4, IMDS_V6, labSpec } from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";

const CONTAINER = "moat-reboot-agent";
const NFT_FILE = "/etc/moat/nftables/moat.nft";
const AGENT_MANAGER = `user@${AGENT_UID}.service`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a converged VM after a reboot", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 600_000,
}, () => {
  const lab = new HostLab("reboot");
  const { probe } = hostProbes(lab, CONTAINER);
  const unit = (name: string, property: string) =>
    lab.vm.exec(["systemctl", "show", name, "-p", property, "--value"]).stdout.trim();
  const containerRunning = () =>
    lab.vm.exec([...AS_AGENT, "docker", "inspect", "-f", "{{.State.Running}}", CONTAINER]).stdout.trim() ===
    "true";
  const waitForContainer = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (containerRunning()) return true;
      await sleep(500);
    }
    return false;
  };
  // Processes of the agent's uid or its subuid range (a container's processes map there).
  const agentProcesses = () =>
    lab.vm
      .must(["ps", "-e", "-o", "uid=,args="])
      .split("\n")
      .map((l) => l.trim().match(/^(\d+)\s+(.*)$/))
      .filter((m): m is RegExpMatchArray => !!m && (Number(m[1]) === AGENT_UID || Number(m[1]) >= 1000000))
      .map((m) => `${m[1]} ${m[2]}`);

  before(async () => {
    await lab.up(labSpec("reboot"));
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.filter((s) => s.status === "failed")));
  });
  after(async () => {
    await lab.down();
  });

  it("comes back from its disk: firewall first, then the agent's manager, the gateway and the agent", async () => {
    const started = Date.now();
    await lab.reboot();
    assert.ok(await waitForContainer(120_000), "the agent's container restarts with its rootless Docker");
    console.log(`# reboot → agent running again: ${Date.now() - started} ms`);

    for (const name of [
      "moat-firewall.service",
      "moat-gateway-net.service",
      "moat-gateway.service",
      AGENT_MANAGER,
    ])
      assert.equal(unit(name, "ActiveState"), "active", name);
    const firewallUp = Number(unit("moat-firewall.service", "ActiveEnterTimestampMonotonic"));
    const managerStart = Number(unit(AGENT_MANAGER, "InactiveExitTimestampMonotonic"));
    assert.ok(firewallUp > 0 && managerStart > 0, "both units report when they started");
    assert.ok(
      firewallUp <= managerStart,
      `the table was loaded (${firewallUp} µs) before the agent's manager started (${managerStart} µs)`,
    );
  });

  it("after the reboot the agent's uids reach the gateway and not the metadata service", () => {
    for (const uid of [AGENT_UID, SUBUID]) {
      assert.equal(probe(uid, IMDS_V4, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V4}`);
      assert.equal(probe(uid, IMDS_V6, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V6}`);
      assert.equal(probe(uid, GATEWAY.host, GATEWAY.port), "open", `uid ${uid} → gateway`);
    }
    assert.equal(probe(0, IMDS_V4, 80), "open", "root still reaches metadata (the cloud needs it)");
  });

  it("host apply after the reboot changes nothing", () => {
    const { code, report } = lab.apply();
    assert.equal(code, 0);
    for (const s of report.steps) assert.equal(s.status, "unchanged", `${s.step}: ${s.actions.join("; ")}`);
  });

  it("negative control: with the table unloadable at boot, the agent does not start", async () => {
    lab.vm.must([
      "sh",
      "-c",
      `cp ${NFT_FILE} /root/moat.nft.good && echo 'this is not nftables' >> ${NFT_FILE}`,
    ]);
    await lab.reboot();
    // Give the agent's manager and Docker the time they took on a good boot.
    await sleep(20_000);
    assert.equal(unit("moat-firewall.service", "ActiveState"), "failed");
    assert.notEqual(unit(AGENT_MANAGER, "ActiveState"), "active", "the agent's manager must not start");
    assert.equal(containerRunning(), false);
    assert.deepEqual(agentProcesses(), [], "nothing runs as the agent or its subuids");
    // What the ordering prevents: without the table, the agent's uid would reach metadata.
    assert.equal(probe(AGENT_UID, IMDS_V4, 80), "open");

    lab.vm.must(["cp", "/root/moat.nft.good", NFT_FILE]);
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.filter((s) => s.status === "failed")));
    assert.equal(report.steps.find((s) => s.step === "firewall")?.status, "changed");
    assert.ok(await waitForContainer(60_000), "host apply brings the agent back");
    assert.equal(probe(AGENT_UID, IMDS_V4, 80), "ECONNREFUSED");
  });
});
