// `moat host apply` pulling the agent's image from a real registry (test/support/fake-registry.ts)
// with no --import-image, out of the agent's reach (issue 13): root's skopeo pulls through the
// gateway's pull listener on loopback (registry hosts of agent.image, CONNECT only) and the agent's
// rootless daemon loads the archive. The daemon has no proxy, and the agent's own listener refuses
// the registry (served by the gateway's own routes), so neither the agent nor its daemon can reach
// it — no `docker push` to an attacker's namespace. Evidence from three sides: the registry's log
// (manifest and blob GETs), the gateway's audit log (the CONNECT allowed, listener "pull") and
// Moat's firewall (the agent's uid refused loopback). Negative controls: with the gateway stopped
// host apply's pull fails and the registry sees nothing; a registry the spec does not name is
// refused by the pull listener too.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type FakeRegistry, type RegistryRequest, startFakeRegistry } from "../support/fake-registry.js";
import { AGENT_UID, GATEWAY } from "../support/host-checks.js";
import { AS_AGENT, labSpec, VM_IMAGE_TAR } from "../support/host-lab.js";
import { busyboxRootfsTar } from "../support/moat-package.js";
import { needsRoot } from "../support/root.js";
import { probeWith } from "../support/tcp-probe.js";
import { VerifyLab } from "../support/verify-lab.js";

const REGISTRY = "registry.moat-test.example";
const UNLISTED_REGISTRY = "unlisted-registry.moat-test.example";
// Public-looking (the gateway refuses private answers); it exists only in the test's cloud namespace.
const REGISTRY_IP = "93.184.215.31";
const REPO_TAG = "moat-test/busybox:1.36";
const IMAGE = `${REGISTRY}/${REPO_TAG}`;
const CONTAINER = "moat-pull-agent";
const PULL_LISTENER = { host: "127.0.0.1", port: GATEWAY.port };
const AUDIT_LOG = "/var/log/moat/gateway-audit.log";
// Where a Debian system takes local CAs into its store (/etc/ssl/certs), which Go programs read.
const VM_CA = "/usr/local/share/ca-certificates/moat-test-registry.crt";

const CONNECT_CLIENT = `
const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(3000, () => done("timeout"));
s.on("connect", () => done("open"));
s.on("error", (e) => done(e.code || e.message));
`;
// A CONNECT for \`target\` through the proxy given as arguments: the status line's code, or the error.
const tunnelClient = (target: string) => `
const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(5000, () => done("timeout"));
s.on("connect", () => s.write("CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n"));
let buf = "";
s.on("data", (d) => { buf += d; if (buf.includes("\\r\\n\\r\\n")) done(buf.split("\\r\\n")[0] + " | " + buf.split("\\r\\n\\r\\n")[1].trim()); });
s.on("error", (e) => done(e.code || e.message));
`;

interface AuditLine {
  method: string;
  host: string;
  port: number;
  addr?: string;
  client: string;
  decision: string;
  code: string;
  reason: string;
  listener?: string;
}

describe("moat host apply pulls the agent's image through the gateway's pull listener, as root", {
  skip: needsRoot("boots an nspawn VM in a network namespace"),
  concurrency: false,
  timeout: 600_000,
}, () => {
  const lab = new VerifyLab("pull", undefined, {
    seedTelegramToken: false,
    zone: { [REGISTRY]: REGISTRY_IP, [UNLISTED_REGISTRY]: REGISTRY_IP },
  });
  lab.importImage = false;
  const dir = mkdtempSync(join(tmpdir(), "moat-pull-registry-"));
  let registry: FakeRegistry;

  const agentDocker = (...args: string[]) =>
    lab.vm.exec([...AS_AGENT, "docker", ...args], { timeoutMs: 120_000 });
  const audit = (): AuditLine[] =>
    lab.vm
      .exec(["cat", AUDIT_LOG])
      .stdout.split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditLine);
  const removeAgentAndImage = () => {
    agentDocker("rm", "-f", CONTAINER);
    agentDocker("image", "rm", IMAGE);
    assert.notEqual(agentDocker("image", "inspect", IMAGE).code, 0, "the image is gone");
  };
  // A pull asks for the tag's manifest, then the config and layer blobs.
  const pulledFromRegistry = (requests: RegistryRequest[]) => {
    const gets = requests.filter((r) => r.method === "GET" && r.status === 200);
    return {
      manifest: gets.some((r) => r.uri.startsWith("/v2/moat-test/busybox/manifests/")),
      blobs: gets.filter((r) => r.uri.startsWith("/v2/moat-test/busybox/blobs/sha256:")).length,
      agents: [...new Set(gets.map((r) => r.userAgent.split("/")[0]))],
    };
  };
  const gatewayListening = async () => {
    for (let i = 0; i < 100; i++) {
      if (probeWith(CONNECT_CLIENT, lab.vmNs, 0, PULL_LISTENER.host, PULL_LISTENER.port) === "open") return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the gateway did not listen again");
  };
  const agentStep = (report: { steps: { step: string; status: string; error?: string }[] }) =>
    report.steps.find((s) => s.step === "agent");

  before(async () => {
    await lab.up(labSpec("pull").replace("image: moat-test/busybox:1.36", `image: ${IMAGE}`));
    registry = await startFakeRegistry(lab.net, {
      ns: lab.cloudNs,
      ip: REGISTRY_IP,
      names: [REGISTRY, UNLISTED_REGISTRY],
      dir,
      image: REPO_TAG,
      rootfsTar: busyboxRootfsTar(),
    });
    // As a real VM trusts a public registry's CA: in the system store, nothing Moat configures.
    lab.vm.must(["sh", "-c", `cat > ${VM_CA} && update-ca-certificates`], { input: registry.ca });
  });
  after(async () => {
    try {
      await lab.down();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("converges with no image given: root's skopeo pulls through the pull listener, the agent's daemon loads it", () => {
    const start = Date.now();
    const { code, report } = lab.apply();
    const summary = report.steps.map((s) => `${s.step}:${s.status}${s.error ? ` ${s.error}` : ""}`);
    assert.equal(code, 0, summary.join("\n"));
    console.log(
      `# first converge with a pull: ${Date.now() - start} ms (agent step ${report.steps.find((s) => s.step === "agent")?.durationMs} ms)`,
    );
    assert.equal(agentDocker("inspect", "-f", "{{.State.Running}}", CONTAINER).stdout.trim(), "true");

    const got = pulledFromRegistry(registry.requests());
    assert.ok(got.manifest, "the registry served the manifest");
    assert.ok(got.blobs >= 2, `the registry served the config and the layer (${got.blobs} blob GETs)`);
    assert.deepEqual(got.agents, ["skopeo"], "skopeo pulled, not the agent's Docker");
    const connect = audit().find((a) => a.host === REGISTRY);
    assert.deepEqual(
      connect && [
        connect.method,
        connect.port,
        connect.addr,
        connect.client,
        connect.decision,
        connect.listener,
      ],
      ["CONNECT", 443, REGISTRY_IP, "127.0.0.1", "allow", "pull"],
      "the gateway's pull listener allowed the CONNECT to the registry, from loopback",
    );
  });

  it("the agent's uid: its CONNECT to the registry is refused (served by the gateway's own routes), and it cannot reach the pull listener", () => {
    const served = registry.requests().length;
    const refused = probeWith(
      tunnelClient(`${REGISTRY}:443`),
      lab.vmNs,
      AGENT_UID,
      GATEWAY.host,
      GATEWAY.port,
    );
    assert.equal(
      refused,
      `HTTP/1.1 403 Forbidden | moat: denied: ${REGISTRY} is served only by the gateway's own routes (host apply's image pull, for agent.image); the agent may not reach it directly`,
    );
    const deny = audit().find((a) => a.host === REGISTRY && a.decision === "deny");
    assert.deepEqual(deny && [deny.code, deny.listener], ["gateway-route", undefined]);
    // Moat's table refuses loopback to the agent's uids; root reaches the same listener.
    assert.equal(
      probeWith(CONNECT_CLIENT, lab.vmNs, AGENT_UID, PULL_LISTENER.host, PULL_LISTENER.port),
      "ECONNREFUSED",
    );
    assert.equal(probeWith(CONNECT_CLIENT, lab.vmNs, 0, PULL_LISTENER.host, PULL_LISTENER.port), "open");
    assert.equal(registry.requests().length, served, "the registry was never reached");
  });

  it("the agent's daemon has no proxy and no way out: its own pull (or push) goes nowhere", () => {
    const env = lab.vm.must([
      "sh",
      "-c",
      `tr '\\0' '\\n' < /proc/$(pgrep -u ${AGENT_UID} -x dockerd)/environ`,
    ]);
    assert.doesNotMatch(env, /PROXY/i, "the daemon runs without a proxy");
    const served = registry.requests().length;
    const auditLines = audit().length;
    const r = agentDocker("pull", `${REGISTRY}/moat-test/other:1.0`);
    assert.notEqual(r.code, 0, "the daemon's pull must fail");
    console.log(`# the agent's daemon pulling by itself: ${r.stderr.trim()}`);
    assert.equal(registry.requests().length, served, "the registry was never reached");
    assert.equal(audit().length, auditLines, "nothing went through the gateway");
  });

  it("negative control: with the gateway stopped host apply's pull fails, naming it, and works once it is back", async () => {
    removeAgentAndImage();
    const served = registry.requests().length;
    lab.vm.must(["systemctl", "stop", "moat-gateway.service"]);
    try {
      // --only agent: the gateway step would start it again.
      const { code, report } = lab.apply(["--only", "agent"]);
      assert.notEqual(code, 0, "host apply must fail without the gateway");
      const step = agentStep(report);
      console.log(`# host apply's pull with the gateway stopped: ${step?.error}`);
      assert.equal(step?.status, "failed");
      assert.match(step?.error ?? "", /skopeo/);
      assert.equal(registry.requests().length, served, "the registry was never reached");
    } finally {
      lab.vm.must(["systemctl", "start", "moat-gateway.service"]);
      await gatewayListening();
    }
    const { code, report } = lab.apply();
    assert.equal(code, 0, JSON.stringify(report.steps.map((s) => [s.step, s.status, s.error])));
    assert.equal(agentStep(report)?.status, "changed");
    assert.ok(pulledFromRegistry(registry.requests().slice(served)).manifest);
    assert.equal(agentDocker("inspect", "-f", "{{.State.Running}}", CONTAINER).stdout.trim(), "true");
  });

  it("a registry host the spec does not name is refused by the pull listener too, with the reason", () => {
    const served = registry.requests().length;
    const r = lab.vm.exec(
      [
        "env",
        `HTTPS_PROXY=http://${PULL_LISTENER.host}:${PULL_LISTENER.port}`,
        "skopeo",
        "inspect",
        `docker://${UNLISTED_REGISTRY}/${REPO_TAG}`,
      ],
      { timeoutMs: 60_000 },
    );
    assert.notEqual(r.code, 0, "the pull must fail");
    console.log(`# skopeo from an unlisted registry: ${r.stderr.trim().split("\n").at(-1)}`);
    const deny = audit().find((a) => a.host === UNLISTED_REGISTRY);
    assert.deepEqual(deny && [deny.method, deny.decision, deny.code, deny.reason, deny.listener], [
      "CONNECT",
      "deny",
      "not-allowlisted",
      `${UNLISTED_REGISTRY} is not in the registry hosts of agent.image`,
      "pull",
    ]);
    assert.equal(registry.requests().length, served, "the registry was never reached");
  });

  it("the same image: host apply's pull against a docker import of its tarball", () => {
    removeAgentAndImage();
    let start = Date.now();
    const { code, report } = lab.apply();
    const applyMs = Date.now() - start;
    assert.equal(code, 0, JSON.stringify(report.steps.map((s) => [s.step, s.status, s.error])));
    removeAgentAndImage();
    start = Date.now();
    // The tarball is root's: the shell opens it before dropping to the agent user.
    const imported = lab.vm.exec([
      "sh",
      "-c",
      `${AS_AGENT.join(" ")} docker import - ${IMAGE} < ${VM_IMAGE_TAR}`,
    ]);
    const importMs = Date.now() - start;
    assert.equal(imported.code, 0, imported.stderr);
    console.log(`# ${IMAGE}: host apply with a pull ${applyMs} ms (whole run), docker import ${importMs} ms`);
    assert.ok(applyMs < 60_000, `host apply with a pull took ${applyMs} ms`);
  });
});
