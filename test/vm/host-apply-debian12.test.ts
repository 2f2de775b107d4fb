// `moat host apply` on a booted Debian 12 (bookworm, cached base built from its own archive with
// bookworm-updates and bookworm-security): Docker 20.10 rootless and the Python Compose v1, which
// has no `up --wait`, so host apply waits for the container itself. First converge, a no-op
// re-run, the container's posture, the firewall with real packets, `moat verify` green, and an
// OpenClaw-profile container (with a healthcheck) that host apply waits on until it is healthy,
// with its negative control: one that never turns healthy fails the step (Compose v1 alone
// would report success).
// The lab is the verify lab (fake DNS, an allowlisted host), so verify's allowed paths pass too.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { postureProblems } from "../../src/host/steps/agent.js";
import {
  AGENT_UID,
  assertAgentPosture,
  assertAgentUidsConfined,
  assertContainerConfined,
  assertFirstConverge,
  assertNoOpRerun,
  hostProbes,
} from "../support/host-checks.js";
import {
  AS_AGENT,
  IMDS_V4,
  openclawStandinTar,
  VM_IMAGE_TAR,
  VM_NODE,
  VM_PACKAGE,
  VM_SPEC,
} from "../support/host-lab.js";
import { needsRoot } from "../support/root.js";
import { TELEGRAM_TOKEN_FILE, VerifyLab, verifySpec } from "../support/verify-lab.js";

const CONTAINER = "moat-verify-agent";
const OPENCLAW_PORT = 18789;
const OPENCLAW_CONTAINER = "moat-bkwclaw-agent";

const openclawSpec = (command: string[]) => `version: 1
name: bkwclaw
target: { kind: lab }
agent:
  profile: openclaw
  image: moat-test/openclaw-standin:1.0
  command: ${JSON.stringify(command)}
  port: ${OPENCLAW_PORT}
access:
  sshUsers: [root]
messengers:
  telegram: { botToken: { file: ${TELEGRAM_TOKEN_FILE} }, allowFrom: [111111] }
`;

describe("moat host apply on a booted Debian 12", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 600_000,
}, () => {
  const lab = new VerifyLab("bkw", undefined, { release: "debian-12" });
  const dir = mkdtempSync(join(tmpdir(), "moat-bkw-"));
  const checks = hostProbes(lab, CONTAINER);
  const docker = (...args: string[]) => lab.vm.must([...AS_AGENT, "docker", ...args]);
  const health = () => docker("inspect", "--format", "{{.State.Health.Status}}", OPENCLAW_CONTAINER).trim();

  before(async () => {
    await lab.up(verifySpec());
  });
  after(async () => {
    try {
      await lab.down();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("boots Debian 12 with bookworm, -updates and -security in its apt sources", () => {
    assert.match(lab.vm.must(["cat", "/etc/debian_version"]), /^12\./);
    const sources = lab.vm.must(["cat", "/etc/apt/sources.list"]);
    assert.match(sources, /^deb http:\/\/deb\.debian\.org\/debian bookworm main$/m);
    assert.match(sources, /^deb http:\/\/deb\.debian\.org\/debian bookworm-updates main$/m);
    assert.match(sources, /^deb http:\/\/deb\.debian\.org\/debian-security bookworm-security main$/m);
  });

  it("converges a fresh system, every step changing something, with Compose v1 and its own wait", () => {
    const report = assertFirstConverge(lab);
    const agent = report.steps.find((s) => s.step === "agent")?.actions.join("\n") ?? "";
    assert.match(agent, /docker-compose -p moat-verify -f \/etc\/moat\/compose\/compose\.yaml up -d/);
    assert.match(agent, new RegExp(`wait for the agent container ${CONTAINER} to run`));
    assert.match(lab.vm.must(["docker-compose", "version", "--short"]), /^1\.29\./);
    assert.match(docker("version", "--format", "{{.Server.Version}}"), /^20\.10\./);
  });

  it("changes nothing on a second run", () => {
    assertNoOpRerun(lab, 5000);
  });

  it("runs the agent under rootless Docker with its posture: read-only root, no capabilities, seccomp, not root", () => {
    assertAgentPosture(lab, checks);
    assert.equal(lab.vm.exec(["systemctl", "is-active", "docker.service"]).stdout.trim(), "inactive");
    const [inspect] = JSON.parse(docker("inspect", CONTAINER));
    assert.deepEqual(postureProblems(inspect), []);
    assert.deepEqual(inspect.HostConfig.CapDrop, ["ALL"]);
    assert.ok(
      inspect.HostConfig.SecurityOpt.some((o: string) => o.startsWith("seccomp={")),
      "Moat's profile",
    );
    const status = checks.inContainer("cat /proc/self/status");
    assert.match(status, /^CapBnd:\s+0+$/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.equal(checks.inContainer("id -u").trim(), "1000");
    // The tmpfs is the agent's own, with Moat's options (uid/gid/mode work on Docker 20.10 too).
    assert.match(
      checks.inContainer("grep ' /tmp ' /proc/mounts"),
      /noexec.*size=65536k.*mode=700,uid=\d+,gid=\d+/,
    );
    assert.match(checks.inContainer("touch /tmp/ok && echo writable"), /writable/);
  });

  it("Moat's table is loaded and confines the agent's uids and container; other users reach metadata", () => {
    assert.ok(checks.tableLoaded());
    assertAgentUidsConfined(checks);
    assertContainerConfined(checks);
  });

  it("negative control: without Moat's table the agent's uid reaches metadata; apply puts it back", () => {
    checks.dropTable();
    try {
      assert.equal(checks.probe(AGENT_UID, IMDS_V4, 80), "open", "InstanceServices ACCEPT lets it through");
    } finally {
      const { report } = lab.apply(["--only", "firewall"]);
      assert.deepEqual(
        report.steps.map((s) => [s.step, s.status]),
        [["firewall", "changed"]],
      );
    }
    assert.equal(checks.probe(AGENT_UID, IMDS_V4, 80), "ECONNREFUSED");
  });

  it("moat verify passes on the converged system", () => {
    const r = lab.vm.exec([VM_NODE, `${VM_PACKAGE}/bin/moat.js`, "verify", "-c", VM_SPEC, "--json"], {
      timeoutMs: 60_000,
    });
    const report = JSON.parse(r.stdout) as {
      checks: { id: string; status: string; detail: string }[];
      summary: { ok: boolean };
    };
    const failed = report.checks.filter((c) => c.status === "fail").map((c) => `${c.id}: ${c.detail}`);
    assert.deepEqual(failed, []);
    assert.equal(r.code, 0);
    assert.ok(report.summary.ok);
    // cgroup v1 (this machine) skips the limits; the spec has no Tailscale.
    const skipped = report.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped, ["container.limits", "host.tailscale"]);
    console.log(`# debian-12 verify: ${report.checks.length} checks, skipped ${skipped.join(", ")}`);
  });

  it("negative control: a container that never turns healthy fails the agent step, naming it", () => {
    lab.vm.copyIn(openclawStandinTar(dir, OPENCLAW_PORT), VM_IMAGE_TAR);
    // Runs, but never answers its healthcheck: Compose v1 reports success all the same.
    lab.vm.must(["sh", "-c", `cat > ${VM_SPEC}`], { input: openclawSpec(["sleep", "infinity"]) });
    const { code, report } = lab.apply();
    assert.equal(code, 1);
    const agent = report.steps.find((s) => s.step === "agent");
    assert.equal(agent?.status, "failed");
    assert.match(
      agent?.error ?? "",
      new RegExp(
        `wait for the agent container ${OPENCLAW_CONTAINER} .*did not report it within 180000 ms`,
        "s",
      ),
    );
    assert.notEqual(health(), "healthy");
  });

  it("with a healthcheck (OpenClaw profile), apply returns only once the container is healthy", () => {
    lab.vm.must(["sh", "-c", `cat > ${VM_SPEC}`], { input: openclawSpec(["node", "/standin.js"]) });
    const { code, report } = lab.apply();
    const summary = report.steps.map((s) => `${s.step}:${s.status}${s.error ? ` ${s.error}` : ""}`);
    assert.equal(code, 0, summary.join("\n"));
    const agent = report.steps.find((s) => s.step === "agent");
    assert.match(
      agent?.actions.join("\n") ?? "",
      new RegExp(`wait for the agent container ${OPENCLAW_CONTAINER}`),
    );
    assert.equal(health(), "healthy");
    console.log(`# debian-12 agent step with a healthcheck: ${agent?.durationMs} ms`);
    // The token reaches the container from the root-only env file (Compose v1 interpolates it too).
    const env = docker("inspect", "--format", "{{json .Config.Env}}", OPENCLAW_CONTAINER);
    assert.match(env, /OPENCLAW_GATEWAY_TOKEN=[0-9a-f]{64}/);
    const [inspect] = JSON.parse(docker("inspect", OPENCLAW_CONTAINER));
    assert.deepEqual(postureProblems(inspect), []);
  });
});
