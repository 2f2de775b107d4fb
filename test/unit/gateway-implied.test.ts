// Issue 13, item 1: the hosts llm, messengers and agent.image imply are served by the gateway's own
// routes (and host apply's pull), so the agent's CONNECT or absolute-form request to them is
// refused — in report mode too — unless the owner lists them in egress.allow.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decide, type GatewayRequest, type Verdict } from "../../src/gateway/decide.js";
import { policyFromSpec } from "../../src/gateway/policy.js";
import { parseConnectTarget, parseHttpTarget } from "../../src/gateway/target.js";
import { specFrom } from "../helpers.js";

const spec = (extra = "", allow = "[example.com]") => `
version: 1
name: implied
target: { kind: lab }
agent: { profile: custom, image: "ghcr.io/acme/agent:1.0", writablePaths: [/tmp] }
llm:
  - { name: claude, kind: anthropic, apiKey: { env: K }, models: [claude] }
  - { name: gpt, kind: openai, apiKey: { env: O }, models: [gpt] }
  - { name: local, kind: openai-compatible, baseUrl: "http://10.0.5.5:8000/v1", apiKey: { env: L }, models: [m] }
  - { name: local6, kind: openai-compatible, baseUrl: "http://[fd12:3456::5]:8000/v1", apiKey: { env: L }, models: [m] }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [1] }
egress:
  allow: ${allow}
  allowCidrs: [10.0.5.0/24, "fd12:3456::/32"]
  connectPorts: [443, 8000]
${extra}`;

const enforce = policyFromSpec(specFrom(spec()));
const report = policyFromSpec(specFrom(spec("  mode: report")));
const listed = policyFromSpec(specFrom(spec("", "[example.com, api.telegram.org, '*.openai.com']")));

function req(kind: "CONNECT" | "HTTP", authority: string): GatewayRequest {
  const p = kind === "CONNECT" ? parseConnectTarget(authority) : parseHttpTarget(`http://${authority}/`);
  if (!p.ok) throw new Error(p.reason);
  return { kind, target: p.target };
}
const PUBLIC = ["93.184.216.10"];
const show = (v: Verdict) => `${v.action} ${v.code}`;

type Row = [kind: "CONNECT" | "HTTP", authority: string, policy: string, expect: string, reason?: string];
const ROWS: Row[] = [
  [
    "CONNECT",
    "api.telegram.org:443",
    "enforce",
    "deny gateway-route",
    "api.telegram.org is served only by the gateway's own routes (/telegram, for messengers.telegram)",
  ],
  ["CONNECT", "api.anthropic.com:443", "enforce", "deny gateway-route", "(/llm/claude, for llm[0])"],
  ["CONNECT", "API.OpenAI.com.:443", "enforce", "deny gateway-route", "(/llm/gpt, for llm[1])"],
  ["CONNECT", "ghcr.io:443", "enforce", "deny gateway-route", "(host apply's image pull, for agent.image)"],
  ["CONNECT", "pkg-containers.githubusercontent.com:443", "enforce", "deny gateway-route"],
  ["HTTP", "api.telegram.org", "enforce", "deny gateway-route"],
  ["HTTP", "api.openai.com", "enforce", "deny gateway-route"],
  // A model server's address: allowCidrs opens its range for the route, not for the agent.
  ["CONNECT", "10.0.5.5:8000", "enforce", "deny gateway-route", "(/llm/local, for llm[2])"],
  ["CONNECT", "[fd12:3456:0::5]:8000", "enforce", "deny gateway-route", "(/llm/local6, for llm[3])"],
  ["CONNECT", "10.0.5.6:8000", "enforce", "allow allow-cidr"],
  // Report mode lets unlisted names through, but not these: the agent never needs them directly.
  ["CONNECT", "api.telegram.org:443", "report", "deny gateway-route"],
  ["CONNECT", "ghcr.io:443", "report", "deny gateway-route"],
  ["CONNECT", "unlisted.example.org:443", "report", "report report-unlisted"],
  ["CONNECT", "example.com:443", "enforce", "allow allowlisted"],
  // Another registry is not implied: plain not-allowlisted.
  ["CONNECT", "registry-1.docker.io:443", "enforce", "deny not-allowlisted"],
  // The owner may reopen one explicitly (moat validate warns).
  ["CONNECT", "api.telegram.org:443", "listed", "allow allowlisted"],
  ["CONNECT", "api.openai.com:443", "listed", "allow allowlisted"],
  ["CONNECT", "api.anthropic.com:443", "listed", "deny gateway-route"],
];
const POLICIES = { enforce, report, listed };

describe("decide: hosts served by the gateway's own routes are refused to the agent", () => {
  for (const [kind, authority, policy, expect, reason] of ROWS) {
    test(`${kind} ${authority} (${policy}) → ${expect}`, () => {
      const v = decide(req(kind, authority), PUBLIC, POLICIES[policy as keyof typeof POLICIES]);
      assert.equal(show(v), expect, v.reason);
      if (reason) assert.ok(v.reason.includes(reason), v.reason);
    });
  }

  test("negative control: a policy that forgets the served hosts lets the Bot API through", () => {
    const weakened = { ...enforce, gatewayServed: new Map() };
    const v = decide(req("CONNECT", "api.telegram.org:443"), PUBLIC, { ...weakened, mode: "report" });
    assert.equal(show(v), "report report-unlisted");
  });
});
