// moat verify's net.implied-hosts: which implied hosts it probes, and how it judges the answers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { impliedProbeHosts, judgeImplied } from "../../src/verify/checks/implied.js";
import { allowedProbeHost } from "../../src/verify/checks/network.js";
import type { ProbeOutcome } from "../../src/verify/probe-script.js";
import { specFrom } from "../helpers.js";

const spec = (allow: string) =>
  specFrom(`
version: 1
name: vimp
target: { kind: lab }
agent: { profile: custom, image: "registry.example.net/acme/agent:1.0", writablePaths: [/tmp] }
llm:
  - { name: local, kind: openai-compatible, baseUrl: "http://10.0.5.5:8000/v1", apiKey: { env: K }, models: [m] }
  - { name: gpt, kind: openai, apiKey: { env: O }, models: [gpt] }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [1] }
egress:
  allow: ${allow}
  allowCidrs: [10.0.5.0/24]
`);

const outcome = (target: string, status: string): ProbeOutcome => ({
  target: { kind: "connect", host: "198.18.0.1", port: 3128, target },
  outcome: status,
});

describe("net.implied-hosts", () => {
  test("probes every implied name, not IP literals, not what egress.allow lists", () => {
    assert.deepEqual(impliedProbeHosts(spec("[example.org]")), [
      "api.openai.com",
      "api.telegram.org",
      "registry.example.net",
    ]);
    assert.deepEqual(impliedProbeHosts(spec("[example.org, api.telegram.org, '*.example.net']")), [
      "api.openai.com",
    ]);
  });

  test("the positive probe of net.gateway is a host the agent is meant to reach, never an implied one", () => {
    assert.equal(allowedProbeHost(spec("['*.example.org', example.org]")), "example.org");
    assert.equal(allowedProbeHost(spec("[]")), undefined);
  });

  test("passes only when every one answered 403", () => {
    assert.equal(judgeImplied([outcome("api.telegram.org:443", "403")]).ok, true);
    for (const bad of ["200", "502", "504", "timeout", "ECONNREFUSED"]) {
      const v = judgeImplied([outcome("api.openai.com:443", "403"), outcome("api.telegram.org:443", bad)]);
      assert.equal(v.ok, false, bad);
      assert.match(v.detail, new RegExp(`CONNECT api\\.telegram\\.org:443 → ${bad}`));
    }
  });
});
