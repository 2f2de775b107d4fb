import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LabState } from "../../src/lab/lab.js";
import { openPlan, parsePort, readTokenCommand } from "../../src/lab/open.js";
import { specFrom } from "../helpers.js";
import { listenersOf, notOnLoopback } from "../support/listeners.js";

const yamlFor = (agent: string) =>
  `version: 1\nname: demo\ntarget: { kind: lab }\nagent: ${agent}\naccess: { sshUsers: [root] }\n`;

const state: LabState = {
  name: "demo",
  flavour: "oci",
  namespaces: { vm: "moat-lab-demo-vm", cloud: "moat-lab-demo-cloud" },
  nspawnPid: 1,
  cloudPid: 2,
  rootfs: "/var/lib/moat-lab/demo/rootfs",
  startedAt: "2026-12-03T00:00:00.000Z",
};

describe("moat lab open: the plan", () => {
  it("forwards to the agent's port inside the VM's namespace, over a socket in the state directory", () => {
    const spec = specFrom(yamlFor("{ profile: openclaw }"));
    const plan = openPlan(spec, state, 0, 77);
    assert.equal(plan.vmNetns, "moat-lab-demo-vm");
    assert.equal(plan.agentPort, spec.agent.port);
    assert.match(plan.socket, /\/demo\/open-77\.sock$/);
    assert.deepEqual(plan.token, {
      onVm: "/etc/moat-secrets/agent-compose.env",
      here: "/var/lib/moat-lab/demo/rootfs/etc/moat-secrets/agent-compose.env",
      variable: "OPENCLAW_GATEWAY_TOKEN",
    });
    assert.equal(
      readTokenCommand(plan.token as NonNullable<typeof plan.token>),
      "sudo sed -n 's/^OPENCLAW_GATEWAY_TOKEN=//p' /var/lib/moat-lab/demo/rootfs/etc/moat-secrets/agent-compose.env",
    );
  });

  it("names no token for an agent Moat gives none", () => {
    const spec = specFrom(yamlFor("{ profile: custom, image: busybox:1.36, port: 8080, writablePaths: [] }"));
    assert.equal(openPlan(spec, state, 0).token, undefined);
  });

  it("takes --port 0-65535 and refuses anything else by name", () => {
    assert.equal(parsePort(undefined, 18789), 18789);
    assert.equal(parsePort("0", 18789), 0);
    assert.equal(parsePort("8080", 18789), 8080);
    for (const bad of ["-1", "65536", "80x", "", "1e3"]) assert.throws(() => parsePort(bad, 1), /--port/);
  });
});

describe("listening sockets of a process, from ss", () => {
  const table = [
    'tcp   LISTEN 0      511        127.0.0.1:41234      0.0.0.0:*    users:(("node",pid=42,fd=20))',
    'tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=7,fd=3))',
    'tcp   LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=7,fd=4))',
    'udp   UNCONN 0      0                  *:5353             *:*    users:(("node",pid=421,fd=9))',
    'tcp   LISTEN 0      511            [::1]:9464          [::]:*    users:(("node",pid=42,fd=21))',
  ].join("\n");

  it("finds exactly that pid's sockets", () => {
    assert.deepEqual(listenersOf(table, 42), [
      { proto: "tcp", local: "127.0.0.1:41234" },
      { proto: "tcp", local: "[::1]:9464" },
    ]);
    assert.deepEqual(listenersOf(table, 4), []);
  });

  it("sees loopback as loopback and everything else as not (the check can fail)", () => {
    assert.deepEqual(notOnLoopback(listenersOf(table, 42)), []);
    assert.deepEqual(
      notOnLoopback(listenersOf(table, 7)).map((l) => l.local),
      ["0.0.0.0:22", "[::]:22"],
    );
    assert.deepEqual(notOnLoopback(listenersOf(table, 421)), [{ proto: "udp", local: "*:5353" }]);
  });
});
