// `moat host apply` pulling the agent's image from a real registry (test/support/fake-registry.ts)
// through the gateway, with no --import-image: the image's registry host is on the gateway's
// allowlist because the spec names it, and the agent user's rootless dockerd reaches it only
// through the gateway. Evidence comes from three sides: Moat's own firewall counters (connections
// from the agent's uids to the gateway), the gateway's audit log (the CONNECT allowed) and the
// registry's log (the manifest and blob GETs). Negative controls: the daemon without its proxy
// environment is refused by the firewall; with the gateway stopped nothing is pulled; a registry
// host the spec does not name is refused by the gateway.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type FakeRegistry, type RegistryRequest, startFakeRegistry } from "../support/fake-registry.js";
import { AGENT_UID, GATEWAY } from "../support/host-checks.js";
import { AS_AGENT, labSpec, VM_IMAGE_TAR } from "../support/host-lab.js";
import { busyboxRootfsTar } from "../support/moat-package.js";
import { probeWith } from "../support/tcp-probe.js";
import { VerifyLab } from "../support/verify-lab.js";

const REGISTRY = "registry.moat-test.example";
const UNLISTED_REGISTRY = "unlisted-registry.moat-test.example";
// Public-looking (the gateway refuses private answers); it exists only in the test's cloud namespace.
const REGISTRY_IP = "93.184.215.31";
const REPO_TAG = "moat-test/busybox:1.36";
const IMAGE = `${REGISTRY}/${REPO_TAG}`;
const CONTAINER = "moat-pull-agent";
const GATEWAY_ADDRESS = `${GATEWAY.host}:${GATEWAY.port}`;
const AUDIT_LOG = "/var/log/moat/gateway-audit.log";
// Where a Debian system takes local CAs into its store (/etc/ssl/certs), which Go programs read.
const VM_CA = "/usr/local/share/ca-certificates/moat-test-registry.crt";
const NO_PROXY_DROPIN = "/home/moat-agent/.config/systemd/user/docker.service.d/no-proxy.conf";
const AS_AGENT_MANAGER = ["systemctl", "--user", "-M", "moat-agent@"];

const CONNECT_CLIENT = `
const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(3000, () => done("timeout"));
s.on("connect", () => done("open"));
s.on("error", (e) => done(e.code || e.message));
`;

interface AuditLine {
  method: string;
  host: string;
  port: number;
  addr?: string;
  decision: string;
  code: string;
  reason: string;
}

describe("moat host apply pulls the agent's image through the gateway", {
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
  // Packets of new connections from the agent's uids that Moat's table accepted to the gateway,
  // and refused with a reset (neither the gateway nor a reserved range).
  const counter = (rule: RegExp) => {
    const chain = lab.vm.must(["nft", "list", "chain", "inet", "moat", "agent_egress"]);
    const line = chain.split("\n").find((l) => rule.test(l));
    return Number(line?.match(/packets (\d+)/)?.[1] ?? Number.NaN);
  };
  const toGateway = () => counter(/ip daddr 198\.18\.0\.1 tcp dport 3128 counter/);
  const resetByFirewall = () => counter(/^\s*meta l4proto tcp counter packets \d+ bytes \d+ reject/);
  const removeAgentAndImage = () => {
    agentDocker("rm", "-f", CONTAINER);
    agentDocker("image", "rm", IMAGE);
    assert.notEqual(agentDocker("image", "inspect", IMAGE).code, 0, "the image is gone");
  };
  // Docker asks for the tag's manifest (HEAD), then GETs it by digest, then the config and layer blobs.
  const pulledFromRegistry = (requests: RegistryRequest[]) => {
    const gets = requests.filter(
      (r) => r.method === "GET" && r.status === 200 && /^docker\//.test(r.userAgent),
    );
    return {
      manifest: gets.some((r) => r.uri.startsWith("/v2/moat-test/busybox/manifests/")),
      blobs: gets.filter((r) => r.uri.startsWith("/v2/moat-test/busybox/blobs/sha256:")).length,
    };
  };
  // systemctl start returns before the gateway listens.
  const gatewayListening = async () => {
    for (let i = 0; i < 100; i++) {
      if (probeWith(CONNECT_CLIENT, lab.vmNs, 0, GATEWAY.host, GATEWAY.port) === "open") return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the gateway did not listen again");
  };
  // The agent's Docker pulls as it would for `compose up --pull missing`; timed.
  const pull = (image = IMAGE) => {
    const start = Date.now();
    const r = agentDocker("pull", image);
    return { ...r, ms: Date.now() - start };
  };

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

  it("converges with no image given: the registry serves the manifest and blobs, through the gateway", () => {
    const { code, report } = lab.apply();
    const summary = report.steps.map((s) => `${s.step}:${s.status}${s.error ? ` ${s.error}` : ""}`);
    assert.equal(code, 0, summary.join("\n"));
    const agent = report.steps.find((s) => s.step === "agent");
    console.log(`# first converge with a pull: ${report.durationMs} ms (agent step ${agent?.durationMs} ms)`);
    assert.equal(agentDocker("inspect", "-f", "{{.State.Running}}", CONTAINER).stdout.trim(), "true");

    const got = pulledFromRegistry(registry.requests());
    assert.ok(got.manifest, "the registry served the manifest to Docker");
    assert.ok(got.blobs >= 2, `the registry served the config and the layer (${got.blobs} blob GETs)`);
    const connect = audit().find((a) => a.host === REGISTRY);
    assert.deepEqual(
      connect && [connect.method, connect.port, connect.addr, connect.decision, connect.code],
      ["CONNECT", 443, REGISTRY_IP, "allow", "allowlisted"],
      "the gateway allowed the CONNECT to the registry",
    );
    // Only the agent's uids are counted by this rule, and nothing else of theirs talks to the gateway.
    assert.ok(toGateway() > 0, "the agent's uid opened the connections to the gateway");
  });

  it("negative control: the daemon without its proxy environment is refused by the firewall, the registry sees nothing", () => {
    // So the daemon is not stopped earlier by DNS (also refused to it): it knows the address.
    lab.vm.must(["sh", "-c", `echo '${REGISTRY_IP} ${REGISTRY}' >> /etc/hosts`]);
    lab.vm.must(["mkdir", "-p", dirname(NO_PROXY_DROPIN)]);
    lab.vm.must(["sh", "-c", `cat > ${NO_PROXY_DROPIN}`], {
      input: "[Service]\nUnsetEnvironment=HTTP_PROXY HTTPS_PROXY NO_PROXY\n",
    });
    lab.vm.must([...AS_AGENT_MANAGER, "daemon-reload"]);
    lab.vm.must([...AS_AGENT_MANAGER, "restart", "docker.service"]);
    try {
      removeAgentAndImage();
      const env = lab.vm.must(["sh", "-c", "tr '\\0' '\\n' < /proc/$(pgrep -u 2000 -x dockerd)/environ"]);
      assert.doesNotMatch(env, /PROXY/, "the daemon runs without a proxy");
      const served = registry.requests().length;
      const auditLines = audit().length;
      const resets = resetByFirewall();

      const r = pull();
      assert.notEqual(r.code, 0, "the pull must fail");
      console.log(`# direct pull refused: ${r.stderr.trim()}`);
      assert.match(
        r.stderr,
        new RegExp(`${REGISTRY_IP.replaceAll(".", "\\.")}:443: connect: connection refused`),
      );
      assert.ok(resetByFirewall() > resets, "Moat's table reset the daemon's connection");
      assert.equal(registry.requests().length, served, "the registry was never reached");
      assert.equal(audit().length, auditLines, "nothing went through the gateway");
      // The registry is reachable from this VM; only the agent's uid is kept from it.
      assert.equal(
        probeWith(CONNECT_CLIENT, lab.vmNs, 0, REGISTRY_IP, 443),
        "open",
        "root reaches the registry",
      );
      assert.equal(probeWith(CONNECT_CLIENT, lab.vmNs, AGENT_UID, REGISTRY_IP, 443), "ECONNREFUSED");
    } finally {
      lab.vm.must(["rm", "-f", NO_PROXY_DROPIN]);
      lab.vm.must(["sed", "-i", `/${REGISTRY}/d`, "/etc/hosts"]);
      lab.vm.must([...AS_AGENT_MANAGER, "daemon-reload"]);
      lab.vm.must([...AS_AGENT_MANAGER, "restart", "docker.service"]);
    }
    const again = pull();
    assert.equal(again.code, 0, again.stderr);
    console.log(`# pull through the gateway again with the proxy restored: ${again.ms} ms`);
  });

  it("negative control: with the gateway stopped the pull fails, and works once it is back", async () => {
    removeAgentAndImage();
    const served = registry.requests().length;
    lab.vm.must(["systemctl", "stop", "moat-gateway.service"]);
    try {
      const r = pull();
      assert.notEqual(r.code, 0, "the pull must fail");
      console.log(`# pull with the gateway stopped: ${r.stderr.trim()}`);
      assert.match(
        r.stderr,
        new RegExp(`proxyconnect tcp: dial tcp ${GATEWAY_ADDRESS}: connect: connection refused`),
      );
      assert.equal(registry.requests().length, served, "the registry was never reached");
    } finally {
      lab.vm.must(["systemctl", "start", "moat-gateway.service"]);
      await gatewayListening();
    }
    const before = toGateway();
    const again = pull();
    assert.equal(again.code, 0, again.stderr);
    assert.ok(toGateway() > before, "through the gateway, from the agent's uid");
    assert.ok(pulledFromRegistry(registry.requests().slice(served)).manifest);
  });

  it("a registry host the spec does not name is refused by the gateway, with the reason", () => {
    const served = registry.requests().length;
    const r = pull(`${UNLISTED_REGISTRY}/${REPO_TAG}`);
    assert.notEqual(r.code, 0, "the pull must fail");
    console.log(`# pull from an unlisted registry: ${r.stderr.trim()}`);
    const deny = audit().find((a) => a.host === UNLISTED_REGISTRY);
    assert.deepEqual(deny && [deny.method, deny.decision, deny.code, deny.reason], [
      "CONNECT",
      "deny",
      "not-allowlisted",
      `${UNLISTED_REGISTRY} is not in egress.allow`,
    ]);
    assert.equal(registry.requests().length, served, "the registry was never reached");
  });

  it("the same image: a pull through the gateway against a docker import of its tarball", () => {
    removeAgentAndImage();
    const pulled = pull();
    assert.equal(pulled.code, 0, pulled.stderr);
    removeAgentAndImage();
    const start = Date.now();
    // The tarball is root's: the shell opens it before dropping to the agent user.
    const imported = lab.vm.exec([
      "sh",
      "-c",
      `${AS_AGENT.join(" ")} docker import - ${IMAGE} < ${VM_IMAGE_TAR}`,
    ]);
    const importMs = Date.now() - start;
    assert.equal(imported.code, 0, imported.stderr);
    console.log(`# ${IMAGE}: pull through the gateway ${pulled.ms} ms, docker import ${importMs} ms`);
    // Without GODEBUG=netdns=cgo in the daemon's unit this took over 30 s (its own refused lookup).
    assert.ok(pulled.ms < 10_000, `the pull took ${pulled.ms} ms`);
    removeAgentAndImage();
  });

  it("host apply pulls again after the image is removed and the agent runs", () => {
    const served = registry.requests().length;
    const { code, report } = lab.apply();
    assert.equal(code, 0, report.steps.map((s) => `${s.step}:${s.status} ${s.error ?? ""}`).join("\n"));
    assert.equal(report.steps.find((s) => s.step === "agent")?.status, "changed");
    assert.ok(pulledFromRegistry(registry.requests().slice(served)).manifest);
    assert.equal(agentDocker("inspect", "-f", "{{.State.Running}}", CONTAINER).stdout.trim(), "true");
  });
});
