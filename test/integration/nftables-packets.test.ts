// Real packets through the rendered table, in namespaces linked only to each other: a "vm"
// with OCI's InstanceServices ACCEPT chain loaded first, and a "cloud" holding the metadata
// service (IPv4 and IPv6) and some other host. Connections run as the agent's uids via setpriv.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { addressHolder } from "../../src/lab/netns.js";
import { renderNftables } from "../../src/render/nftables.js";
import { specFrom } from "../helpers.js";
import { inNs, TestNet } from "../support/netns.js";
import { IMDS_V4, IMDS_V6, installInstanceServices } from "../support/oci-firewall.js";
import { needsRoot } from "../support/root.js";
import { holdConnection, probe, startListener } from "../support/tcp-probe.js";
import { startUdpEcho, udpProbe } from "../support/udp-probe.js";

const AGENT_UID = 45123;
const OTHER_UID = 45124;
const SUBID_START = 3100000;
const SUBID_COUNT = 65536;
const SPEC_YAML = `
version: 1
name: packets
target: { kind: lab }
host: { agentUid: ${AGENT_UID}, gatewayUid: ${OTHER_UID}, subidStart: ${SUBID_START}, subidCount: ${SUBID_COUNT} }
`;
const spec = specFrom(SPEC_YAML);
const GATEWAY = { host: spec.gateway.address, port: spec.gateway.port };
const OTHER_V4 = "192.0.2.1";
const OTHER_V6 = "2001:db8::1";
const VM_V4 = "192.0.2.2";
const VM_V6 = "2001:db8::2";
// The agent's API port, published on the VM's loopback for the operator (compose.ts).
const PUBLISHED = spec.agent.port;
// Ports the agent's uids (and, as a control, another user) listen on.
const AGENT_LISTENS = 7000;
const SUBUID_LISTENS = 7001;
const OTHER_LISTENS = 7002;
const AGENT_UDP = 7003;

const rendered = renderNftables(spec)[0]?.content ?? "";

// The mutations used as negative controls, applied to the rendered text.
const withoutBackstop = (text: string) =>
  text
    .split("\n")
    .filter((l) => !/^\s*ip6? daddr @backstop_v[46] /.test(l))
    .join("\n");
// Established traffic accepted in both directions again: a listener of the agent can answer.
const withAnswersAccepted = (text: string) => text.replaceAll("ct direction original ", "");
const withoutPublishedPort = (text: string) =>
  text
    .split("\n")
    .filter((l) => !l.includes("ct direction reply"))
    .join("\n");
// The operator's exception on any interface, not just loopback.
const withPublishedPortOnAnyInterface = (text: string) => text.replace(/oif "lo" (tcp sport \d+)/, "$1");
const withOpeningAccept = (text: string) =>
  text.replace(
    /(\n\s*ct direction original ct state established,related counter accept\n)/,
    `$1    ip daddr ${IMDS_V4} tcp dport 80 accept\n    ip6 daddr ${IMDS_V6} tcp dport 80 accept\n`,
  );
const withBackstopAfterEstablished = (text: string) => {
  const lines = text.split("\n");
  const backstop = lines.filter((l) => /^\s*ip6? daddr @backstop_v[46] /.test(l));
  const rest = lines.filter((l) => !backstop.includes(l));
  const established = rest.findIndex((l) => l.includes("ct state established,related"));
  rest.splice(established + 1, 0, ...backstop);
  return rest.join("\n");
};

describe("nftables backstop with real packets", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const net = new TestNet("moat-nftp");
  const dir = mkdtempSync(join(tmpdir(), "moat-nftp-"));
  let vm = "";
  let cloud = "";

  const load = (text: string) => {
    const file = join(dir, "moat.nft");
    writeFileSync(file, text);
    inNs(vm, "nft", ["-f", file]);
  };
  const unload = () => {
    try {
      inNs(vm, "nft", ["delete", "table", "inet", "moat"]);
    } catch {}
  };
  const metadataFrom = (uid: number) => ({
    v4: probe(vm, uid, IMDS_V4, 80),
    v6: probe(vm, uid, IMDS_V6, 80),
  });

  before(async () => {
    for (const uid of [AGENT_UID, OTHER_UID]) {
      assert.throws(() => execFileSync("getent", ["passwd", String(uid)]), `uid ${uid} must be unused here`);
    }
    vm = net.addNs("vm");
    cloud = net.addNs("cloud");
    net.link(vm, [`${VM_V4}/24`, `${VM_V6}/64`], cloud, [`${OTHER_V4}/24`, `${OTHER_V6}/64`]);
    addressHolder(cloud, "imds0", [`${IMDS_V4}/32`, `${IMDS_V6}/128`]);
    inNs(vm, "ip", ["route", "add", `${IMDS_V4}/32`, "via", OTHER_V4]);
    inNs(vm, "ip", ["-6", "route", "add", `${IMDS_V6}/128`, "via", OTHER_V6]);
    // A neighbour that routes the gateway's address to the VM, as a hostile VCN peer could.
    inNs(cloud, "ip", ["route", "add", `${GATEWAY.host}/32`, "via", "192.0.2.2"]);
    addressHolder(vm, "moat0", [`${GATEWAY.host}/32`]);

    // OCI's shipped rules (cloud-facts §1.1), loaded before Moat's, through iptables-nft.
    // INPUT's state match also turns conntrack on, as on the real image, so connections that
    // predate Moat's table are tracked as established.
    inNs(vm, "iptables", ["-A", "INPUT", "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"]);
    installInstanceServices(vm);

    await startListener(net, cloud, [
      `${IMDS_V4}:80`,
      `[${IMDS_V6}]:80`,
      `${OTHER_V4}:80`,
      `[${OTHER_V6}]:80`,
    ]);
    await startListener(net, vm, [`${GATEWAY.host}:${GATEWAY.port}`, `${GATEWAY.host}:9999`]);
    // Sockets the agent's uids own: what a hijacked agent (or RootlessKit, for the published
    // port) could listen on. The published port also on the VM's outside address, so the
    // operator's exception is seen not to open it from outside.
    await startListener(
      net,
      vm,
      [
        `${VM_V4}:${AGENT_LISTENS}`,
        `[${VM_V6}]:${AGENT_LISTENS}`,
        `127.0.0.1:${PUBLISHED}`,
        `${VM_V4}:${PUBLISHED}`,
      ],
      AGENT_UID,
    );
    await startListener(net, vm, [`${VM_V4}:${SUBUID_LISTENS}`], SUBID_START + 7);
    await startListener(net, vm, [`${VM_V4}:${OTHER_LISTENS}`], OTHER_UID);
    await startUdpEcho(net, vm, AGENT_UID, VM_V4, AGENT_UDP);
  });

  after(() => {
    net.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("negative control: without Moat's table the agent uid reaches metadata through OCI's ACCEPT", () => {
    unload();
    assert.deepEqual(metadataFrom(AGENT_UID), { v4: "open", v6: "open" });
  });

  it("refuses metadata to the agent uid over IPv4 and IPv6 despite OCI's ACCEPT chain", () => {
    load(rendered);
    assert.deepEqual(metadataFrom(AGENT_UID), { v4: "ECONNREFUSED", v6: "ECONNREFUSED" });
  });

  it("refuses metadata to both ends of the subuid range, not to the uid just past it", () => {
    load(rendered);
    assert.deepEqual(metadataFrom(SUBID_START), { v4: "ECONNREFUSED", v6: "ECONNREFUSED" });
    assert.deepEqual(metadataFrom(SUBID_START + SUBID_COUNT - 1), { v4: "ECONNREFUSED", v6: "ECONNREFUSED" });
    assert.deepEqual(metadataFrom(SUBID_START + SUBID_COUNT), { v4: "open", v6: "open" });
  });

  it("lets the agent uid reach the gateway's address and port, and nothing else", () => {
    load(rendered);
    for (const uid of [AGENT_UID, SUBID_START + 999]) {
      assert.equal(probe(vm, uid, GATEWAY.host, GATEWAY.port), "open");
      assert.notEqual(probe(vm, uid, GATEWAY.host, 9999), "open");
      assert.notEqual(probe(vm, uid, OTHER_V4, 80), "open");
      assert.notEqual(probe(vm, uid, OTHER_V6, 80), "open");
    }
  });

  it("leaves metadata open to root and to other users, because the cloud needs it", () => {
    load(rendered);
    assert.deepEqual(metadataFrom(0), { v4: "open", v6: "open" });
    assert.deepEqual(metadataFrom(OTHER_UID), { v4: "open", v6: "open" });
    assert.equal(probe(vm, OTHER_UID, OTHER_V4, 80), "open");
  });

  it("drops connections to the gateway's address that arrive from outside the VM", () => {
    unload();
    assert.equal(
      probe(cloud, 0, GATEWAY.host, GATEWAY.port),
      "open",
      "negative control: reachable without the table",
    );
    load(rendered);
    assert.notEqual(probe(cloud, 0, GATEWAY.host, GATEWAY.port), "open");
    assert.equal(probe(vm, AGENT_UID, GATEWAY.host, GATEWAY.port), "open");
  });

  it("reloads idempotently and leaves OCI's iptables-nft chains in place", () => {
    load(rendered);
    load(rendered);
    const tables = inNs(vm, "nft", ["list", "tables"]);
    assert.equal(tables.match(/table inet moat/g)?.length, 1);
    const instanceServices = inNs(vm, "iptables", ["-S", "InstanceServices"]);
    assert.match(
      instanceServices,
      /-A InstanceServices -d 169\.254\.169\.254\/32 -p tcp -m tcp --dport 80 -j ACCEPT/,
    );
    assert.deepEqual(metadataFrom(AGENT_UID), { v4: "ECONNREFUSED", v6: "ECONNREFUSED" });
  });

  it("keeps metadata closed even if a later rule of this table accepts it, because the backstop comes first", () => {
    load(withOpeningAccept(rendered));
    assert.deepEqual(metadataFrom(AGENT_UID), { v4: "ECONNREFUSED", v6: "ECONNREFUSED" });
  });

  it("negative control: without the backstop rows, such an accept opens metadata and the probe sees it", () => {
    load(withOpeningAccept(withoutBackstop(rendered)));
    assert.deepEqual(metadataFrom(AGENT_UID), { v4: "open", v6: "open" });
  });

  it("cuts a metadata connection the agent opened before the table loaded", async () => {
    unload();
    const held = await holdConnection(net, vm, AGENT_UID, IMDS_V4, 80);
    load(rendered);
    assert.notEqual(await held.retry(), "alive");
  });

  it("negative control: with the backstop after established, that connection survives", async () => {
    unload();
    const held = await holdConnection(net, vm, AGENT_UID, IMDS_V4, 80);
    load(withBackstopAfterEstablished(rendered));
    assert.equal(await held.retry(), "alive");
  });

  // Issue 13 item 9: an outside client must get nothing from a socket the agent's uids own.
  const answersFromOutside = () => ({
    agentV4: probe(cloud, 0, VM_V4, AGENT_LISTENS),
    agentV6: probe(cloud, 0, VM_V6, AGENT_LISTENS),
    subuid: probe(cloud, 0, VM_V4, SUBUID_LISTENS),
    publishedPortOutside: probe(cloud, 0, VM_V4, PUBLISHED),
    udp: udpProbe(cloud, VM_V4, AGENT_UDP),
  });
  const ALL_ANSWER = {
    agentV4: "open",
    agentV6: "open",
    subuid: "open",
    publishedPortOutside: "open",
    udp: "answered",
  };

  it("negative control: without the table, an outside client exchanges data with the agent's listeners", () => {
    unload();
    assert.deepEqual(answersFromOutside(), ALL_ANSWER);
  });

  it("gives an outside client nothing from a socket the agent's uid or subuids own, TCP or UDP", () => {
    load(rendered);
    assert.deepEqual(answersFromOutside(), {
      agentV4: "timeout",
      agentV6: "timeout",
      subuid: "timeout",
      publishedPortOutside: "timeout",
      udp: "timeout",
    });
  });

  it("still answers the operator on the published loopback port, and other users' listeners", () => {
    load(rendered);
    assert.equal(probe(vm, 0, "127.0.0.1", PUBLISHED), "open");
    assert.equal(probe(vm, OTHER_UID, "127.0.0.1", PUBLISHED), "open");
    assert.equal(probe(cloud, 0, VM_V4, OTHER_LISTENS), "open");
  });

  it("negative control: without the published port's exception, the operator's port stays silent", () => {
    load(withoutPublishedPort(rendered));
    assert.notEqual(probe(vm, 0, "127.0.0.1", PUBLISHED), "open");
  });

  it("lets no local client but the published port's reach an agent listener either", () => {
    load(rendered);
    assert.notEqual(probe(vm, 0, VM_V4, AGENT_LISTENS), "open");
    assert.notEqual(probe(vm, 0, VM_V4, SUBUID_LISTENS), "open");
  });

  it("negative control: with established accepted in both directions, the agent's listeners answer again", () => {
    load(withAnswersAccepted(rendered));
    assert.deepEqual(answersFromOutside(), ALL_ANSWER);
  });

  it("negative control: with the published port's exception on any interface, it answers from outside", () => {
    load(withPublishedPortOnAnyInterface(rendered));
    assert.equal(probe(cloud, 0, VM_V4, PUBLISHED), "open");
    assert.equal(probe(cloud, 0, VM_V4, AGENT_LISTENS), "timeout");
  });

  // moat verify's own check for it, run in the VM's namespace against this spec.
  const verifyAnswers = () => {
    const check = resolve("src/verify/checks/answers.ts");
    const helpers = resolve("test/helpers.ts");
    const script = `(async () => {
      const { agentListenersSilent } = await import(${JSON.stringify(check)});
      const { specFrom } = await import(${JSON.stringify(helpers)});
      const verdict = await agentListenersSilent.run({ spec: specFrom(process.env.SPEC), observe: {} });
      process.stdout.write(JSON.stringify(verdict));
    })();`;
    const out = execFileSync("ip", ["netns", "exec", vm, "npx", "tsx", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, SPEC: SPEC_YAML },
    });
    return JSON.parse(out) as { status: string; detail: string };
  };

  it("moat verify's net.agent-answers passes with the table loaded", () => {
    load(rendered);
    const verdict = verifyAnswers();
    assert.equal(verdict.status, "pass", verdict.detail);
    assert.match(
      verdict.detail,
      new RegExp(`uid ${AGENT_UID} \\(timeout\\), uid ${SUBID_START + 5} \\(timeout\\)`),
    );
  });

  it("negative control: net.agent-answers fails, naming both uids, with established accepted both ways", () => {
    load(withAnswersAccepted(rendered));
    const verdict = verifyAnswers();
    assert.equal(verdict.status, "fail");
    assert.match(
      verdict.detail,
      new RegExp(`uid ${AGENT_UID} on 127\\.0\\.0\\.1:\\d+, uid ${SUBID_START + 5} on`),
    );
  });

  it("cuts an inbound connection to the agent's listener that was open before the table loaded", async () => {
    unload();
    const held = await holdConnection(net, cloud, 0, VM_V4, AGENT_LISTENS);
    load(rendered);
    assert.notEqual(await held.retry(), "alive");
  });

  it("negative control: with established accepted in both directions, that connection survives", async () => {
    unload();
    const held = await holdConnection(net, cloud, 0, VM_V4, AGENT_LISTENS);
    load(withAnswersAccepted(rendered));
    assert.equal(await held.retry(), "alive");
  });
});
