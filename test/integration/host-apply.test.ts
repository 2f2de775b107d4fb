// `moat host apply` converging a real Debian 13 system booted under systemd-nspawn in a test
// namespace (test/support/host-lab.ts): first converge, a no-op re-run, --check, a failing step
// and its recovery, the firewall with real packets from the agent's uids, and a container of
// the agent's rootless Docker reaching the gateway and nothing else. Each security claim is
// paired with a negative control that breaks it and shows the probe notices.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AS_AGENT,
  HostLab,
  IMDS_V4,
  IMDS_V6,
  labSpec,
  OTHER_PORT,
  OTHER_V4,
  OTHER_V6,
} from "../support/host-lab.js";
import { GREETING, HTTP_PROBE_CLIENT, probeWith } from "../support/tcp-probe.js";

const AGENT_UID = 2000;
const SUBUID = 1000005;
const OTHER_USER_UID = 4242;
const GATEWAY = { host: "198.18.0.1", port: 3128 };
const CONTAINER = "moat-hostapply-agent";

describe("moat host apply on a booted Debian 13", { concurrency: false, timeout: 360_000 }, () => {
  const lab = new HostLab("apply");
  const probe = (uid: number, host: string, port: number) =>
    probeWith(HTTP_PROBE_CLIENT, lab.vmNs, uid, host, port);
  const dropTable = () => lab.vm.must(["nft", "delete", "table", "inet", "moat"]);
  const tableLoaded = () => lab.vm.exec(["nft", "list", "table", "inet", "moat"]).code === 0;
  // A shell in the agent's container, through the agent user's rootless Docker.
  const inContainer = (script: string) =>
    lab.vm.exec([...AS_AGENT, "docker", "exec", CONTAINER, "sh", "-c", script]).stdout;
  const containerReaches = (host: string, port: number) =>
    inContainer(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} 2>&1 | head -c 200`);

  before(async () => {
    await lab.up(labSpec("hostapply"));
  });
  after(async () => {
    await lab.down();
  });

  it("converges a fresh system, every step changing something", () => {
    const { code, report } = lab.apply();
    const summary = report.steps.map((s) => `${s.step}:${s.status}${s.error ? ` ${s.error}` : ""}`);
    assert.equal(code, 0, summary.join("\n"));
    assert.ok(report.ok);
    for (const s of report.steps) assert.equal(s.status, "changed", `${s.step} should have changed`);
    const withoutPackages = report.steps
      .filter((s) => s.step !== "packages")
      .reduce((t, s) => t + s.durationMs, 0);
    const packages = report.steps.find((s) => s.step === "packages")?.durationMs ?? 0;
    console.log(
      `# first converge: ${report.durationMs} ms (apt install from local archives ${packages} ms; other steps ${withoutPackages} ms)`,
    );
  });

  it("changes nothing on a second run, within 5 s", () => {
    const { code, report } = lab.apply();
    assert.equal(code, 0);
    for (const s of report.steps) assert.equal(s.status, "unchanged", `${s.step}: ${s.actions.join("; ")}`);
    console.log(`# no-op re-run: ${report.durationMs} ms`);
    assert.ok(report.durationMs <= 5000, `no-op run took ${report.durationMs} ms`);
  });

  it("refuses metadata to the agent's uid and its subuid range, v4 and v6, despite InstanceServices", () => {
    for (const uid of [AGENT_UID, SUBUID]) {
      assert.equal(probe(uid, IMDS_V4, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V4}`);
      assert.equal(probe(uid, IMDS_V6, 80), "ECONNREFUSED", `uid ${uid} → ${IMDS_V6}`);
      assert.equal(probe(uid, OTHER_V4, OTHER_PORT), "ECONNREFUSED", `uid ${uid} → other host`);
      assert.equal(probe(uid, OTHER_V6, OTHER_PORT), "ECONNREFUSED", `uid ${uid} → other host v6`);
      assert.equal(probe(uid, GATEWAY.host, GATEWAY.port), "open", `uid ${uid} → gateway`);
    }
    // The cloud still needs metadata: root and other users reach it.
    for (const uid of [0, OTHER_USER_UID]) {
      assert.equal(probe(uid, IMDS_V4, 80), "open", `uid ${uid} → ${IMDS_V4}`);
      assert.equal(probe(uid, IMDS_V6, 80), "open", `uid ${uid} → ${IMDS_V6}`);
    }
  });

  it("a container of the agent's rootless Docker reaches the gateway and nothing else", () => {
    assert.match(containerReaches(GATEWAY.host, GATEWAY.port), /^HTTP\/1\.[01] /);
    for (const [host, port] of [
      [IMDS_V4, 80],
      [OTHER_V4, OTHER_PORT],
    ] as const) {
      assert.doesNotMatch(containerReaches(host, port), new RegExp(GREETING), `container → ${host}`);
    }
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
    const ps = lab.vm.must(["ps", "-o", "user:20,args", "-C", "node"]);
    assert.match(ps, /moat-gateway\s+\/usr\/bin\/node \/opt\/moat\/bin\/moat\.js gateway/);
    assert.match(inContainer("grep CapEff /proc/self/status"), /CapEff:\s+0000000000000000/);
    assert.match(inContainer("grep NoNewPrivs /proc/self/status"), /NoNewPrivs:\s+1/);
    assert.match(inContainer("touch /x 2>&1 || echo read-only"), /read-only/i);
  });
});
