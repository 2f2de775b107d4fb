// The gateway's pull listener (host apply's image pulls, on loopback): exactly the registry hosts
// of agent.image, CONNECT only, on the registry's port; nothing the agent's listener allows.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decide, type GatewayRequest, type Verdict } from "../../src/gateway/decide.js";
import { pullPolicyFromSpec, pullProxyUrl } from "../../src/gateway/pull-listener.js";
import { parseConnectTarget, parseHttpTarget } from "../../src/gateway/target.js";
import { registryPort } from "../../src/spec/derive.js";
import { specFrom } from "../helpers.js";

const spec = (image: string) =>
  specFrom(`
version: 1
name: pull
target: { kind: lab }
agent: { profile: custom, image: "${image}", writablePaths: [/tmp] }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [1] }
egress: { allow: [example.com] }
`);

function req(kind: "CONNECT" | "HTTP", authority: string): GatewayRequest {
  const p = kind === "CONNECT" ? parseConnectTarget(authority) : parseHttpTarget(`http://${authority}/`);
  if (!p.ok) throw new Error(p.reason);
  return { kind, target: p.target };
}
const show = (v: Verdict) => `${v.action} ${v.code}`;

describe("pull listener policy", () => {
  const ghcr = pullPolicyFromSpec(spec("ghcr.io/acme/agent:1.0"));
  const rows: [kind: "CONNECT" | "HTTP", authority: string, expect: string][] = [
    ["CONNECT", "ghcr.io:443", "allow allowlisted"],
    ["CONNECT", "pkg-containers.githubusercontent.com:443", "allow allowlisted"],
    ["CONNECT", "example.com:443", "deny not-allowlisted"],
    ["CONNECT", "api.telegram.org:443", "deny not-allowlisted"],
    ["CONNECT", "registry-1.docker.io:443", "deny not-allowlisted"],
    ["CONNECT", "ghcr.io:80", "deny port"],
    ["HTTP", "ghcr.io", "deny port"],
    ["CONNECT", "ghcr.io:443", "allow allowlisted"],
  ];
  for (const [kind, authority, expect] of rows)
    test(`${kind} ${authority} → ${expect}`, () => {
      const v = decide(req(kind, authority), ["93.184.215.31"], ghcr);
      assert.equal(show(v), expect, v.reason);
    });

  test("refusals name the pull listener's list, not egress.allow", () => {
    const v = decide(req("CONNECT", "example.com:443"), [], ghcr);
    assert.equal(v.reason, "example.com is not in the registry hosts of agent.image");
  });

  test("the address table holds here too", () => {
    assert.equal(
      show(decide(req("CONNECT", "ghcr.io:443"), ["169.254.169.254"], ghcr)),
      "deny class:metadata",
    );
  });

  test("a registry on its own port is reached on that port only", () => {
    assert.equal(registryPort("registry.example.net:5000/team/agent:1.0"), 5000);
    assert.equal(registryPort("team/agent:1.0"), 443);
    const own = pullPolicyFromSpec(spec("registry.example.net:5000/team/agent:1.0"));
    assert.equal(
      show(decide(req("CONNECT", "registry.example.net:5000"), ["93.184.215.31"], own)),
      "allow allowlisted",
    );
    assert.equal(
      show(decide(req("CONNECT", "registry.example.net:443"), ["93.184.215.31"], own)),
      "deny port",
    );
  });

  test("host apply's proxy is on loopback, at the gateway's port", () => {
    assert.equal(pullProxyUrl(spec("ghcr.io/acme/agent:1.0")), "http://127.0.0.1:3128");
  });
});
