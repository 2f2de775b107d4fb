import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gatewayMemory } from "../../src/gateway/body-budget.js";
import {
  GATEWAY_SANDBOX,
  missingSandboxing,
  parseUnit,
  renderSystemdUnits,
} from "../../src/render/systemd.js";
import { specFrom } from "../helpers.js";

const spec = specFrom();
const units = () =>
  new Map(renderSystemdUnits(spec).map((a) => [a.path.replace(/^systemd\//, ""), a.content]));
const unit = (name: string) => {
  const text = units().get(name);
  assert.ok(text, `${name} is rendered`);
  return text;
};
const values = (text: string, section: string, key: string) =>
  parseUnit(text)
    .filter((e) => e.section === section && e.key === key)
    .map((e) => e.value);

describe("systemd units", () => {
  it("renders the five units as systemd-unit artifacts", () => {
    const artifacts = renderSystemdUnits(spec);
    assert.deepEqual(artifacts.map((a) => a.path).sort(), [
      "systemd/moat-drift.service",
      "systemd/moat-drift.timer",
      "systemd/moat-firewall.service",
      "systemd/moat-gateway-net.service",
      "systemd/moat-gateway.service",
    ]);
    for (const a of artifacts) assert.equal(a.kind, "systemd-unit");
  });

  it("loads the firewall early, before the network and everything the agent runs on", () => {
    const text = unit("moat-firewall.service");
    assert.deepEqual(values(text, "Unit", "DefaultDependencies"), ["no"]);
    assert.deepEqual(values(text, "Unit", "Wants"), ["network-pre.target"]);
    const before = values(text, "Unit", "Before").join(" ").split(" ");
    for (const u of ["network-pre.target", "docker.service", "tailscaled.service", "user@2000.service"]) {
      assert.ok(before.includes(u), u);
    }
    assert.deepEqual(values(text, "Service", "Type"), ["oneshot"]);
    assert.deepEqual(values(text, "Service", "RemainAfterExit"), ["yes"]);
    assert.deepEqual(values(text, "Service", "ExecStart"), ["/usr/sbin/nft -f /etc/moat/nftables/moat.nft"]);
    assert.deepEqual(values(text, "Service", "ExecStop"), ["-/usr/sbin/nft delete table inet moat"]);
    assert.deepEqual(values(text, "Install", "RequiredBy"), ["user@2000.service"]);
    assert.doesNotMatch(text, /flush ruleset/);
  });

  it("runs the gateway as its own user, after its address and the firewall", () => {
    const text = unit("moat-gateway.service");
    assert.deepEqual(values(text, "Service", "User"), ["moat-gateway"]);
    assert.deepEqual(values(text, "Service", "ExecStart"), [
      "/usr/bin/node /opt/moat/bin/moat.js gateway -c /etc/moat/moat.yaml",
    ]);
    assert.deepEqual(values(text, "Service", "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    const afterUnits = values(text, "Unit", "After").join(" ").split(" ");
    assert.ok(
      afterUnits.includes("moat-gateway-net.service") && afterUnits.includes("moat-firewall.service"),
    );
    assert.deepEqual(values(text, "Service", "MemoryDenyWriteExecute"), []);
    assert.deepEqual(values(text, "Service", "EnvironmentFile"), ["-/etc/moat-secrets/gateway.env"]);
  });

  it("restarts the gateway after any exit, with no start-rate limit that could leave the agent offline", () => {
    const text = unit("moat-gateway.service");
    assert.deepEqual(values(text, "Service", "Restart"), ["always"]);
    assert.deepEqual(values(text, "Service", "RestartSec"), ["1s"]);
    // 0 disables the start-rate limit: however often it crashes, systemd keeps restarting it.
    assert.deepEqual(values(text, "Unit", "StartLimitIntervalSec"), ["0"]);
  });

  it("bounds the gateway's memory, sized from the spec's body budget", () => {
    const { high, max } = gatewayMemory(spec);
    const text = unit("moat-gateway.service");
    assert.deepEqual(values(text, "Service", "MemoryHigh"), [`${Math.ceil(high / 2 ** 20)}M`]);
    assert.deepEqual(values(text, "Service", "MemoryMax"), [`${Math.ceil(max / 2 ** 20)}M`]);
    // The example spec has Telegram (52 MiB uploads): 128 MiB + 6 × 68 MiB, and half again.
    assert.deepEqual(values(text, "Service", "MemoryHigh"), ["536M"]);
    assert.deepEqual(values(text, "Service", "MemoryMax"), ["804M"]);
  });

  it("puts the gateway address on moat0 idempotently", () => {
    const text = unit("moat-gateway-net.service");
    assert.deepEqual(values(text, "Service", "ExecStart"), [
      "-/bin/ip link add moat0 type dummy",
      "/bin/ip addr replace 198.18.0.1/32 dev moat0",
      "/bin/ip link set moat0 up",
    ]);
  });

  it("re-checks drift every five minutes", () => {
    assert.deepEqual(values(unit("moat-drift.service"), "Service", "ExecStart"), [
      "/usr/bin/node /opt/moat/bin/moat.js host drift -c /etc/moat/moat.yaml",
    ]);
    const timer = unit("moat-drift.timer");
    assert.deepEqual(values(timer, "Timer", "OnBootSec"), ["5min"]);
    assert.deepEqual(values(timer, "Timer", "OnUnitActiveSec"), ["5min"]);
    assert.deepEqual(values(timer, "Install", "WantedBy"), ["timers.target"]);
  });

  it("follows the spec's uids, users and gateway address", () => {
    const custom = specFrom(`
version: 1
name: t
target: { kind: lab }
host: { agentUid: 5000, gatewayUser: gw, gatewayUid: 5001 }
gateway: { address: 198.19.1.1 }
`);
    const texts = renderSystemdUnits(custom).map((a) => a.content);
    assert.ok(texts.some((t) => t.includes("RequiredBy=user@5000.service")));
    assert.ok(texts.some((t) => t.includes("User=gw\n")));
    assert.ok(texts.some((t) => t.includes("addr replace 198.19.1.1/32 dev moat0")));
  });

  it("is deterministic", () => {
    assert.deepEqual(renderSystemdUnits(spec), renderSystemdUnits(spec));
  });
});

describe("gateway sandboxing check", () => {
  it("finds nothing missing in the rendered gateway unit", () => {
    assert.deepEqual(missingSandboxing(unit("moat-gateway.service")), []);
  });

  it("negative control: removing any one sandboxing directive is reported", () => {
    const text = unit("moat-gateway.service");
    for (const [key, value] of GATEWAY_SANDBOX) {
      const stripped = text
        .split("\n")
        .filter((l) => l !== `${key}=${value}`)
        .join("\n");
      assert.ok(missingSandboxing(stripped).includes(`${key}=${value}`), `${key}=${value}`);
    }
  });

  it("negative control: MemoryDenyWriteExecute=yes and extra writable paths are reported", () => {
    const text = unit("moat-gateway.service");
    const withMdwe = text.replace("[Service]\n", "[Service]\nMemoryDenyWriteExecute=yes\n");
    assert.ok(missingSandboxing(withMdwe).some((m) => m.startsWith("MemoryDenyWriteExecute")));
    const widened = text.replace("[Service]\n", "[Service]\nReadWritePaths=/etc\n");
    assert.ok(missingSandboxing(widened).some((m) => m.startsWith("ReadWritePaths")));
  });
});
