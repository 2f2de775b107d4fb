import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultAnswers, envExample, exampleSpecYaml } from "../../src/spec/example.js";
import { parseSpec } from "../../src/spec/load.js";
import { EXAMPLE_YAML, specFrom } from "../helpers.js";

function errorsOf(yaml: string) {
  const r = parseSpec(yaml);
  assert.equal(r.ok, false, "expected the spec to be refused");
  return r.ok ? [] : r.errors;
}

const base = (extra: string) => `version: 1\nname: t\ntarget: { kind: lab }\n${extra}`;

describe("moat.yaml schema", () => {
  test("the init example is valid for every target and every llm kind", () => {
    for (const target of ["oci", "aws", "ssh", "lab"] as const) {
      for (const llmKind of ["anthropic", "openai", "openai-compatible", "gemini", "openrouter"] as const) {
        const r = parseSpec(exampleSpecYaml({ ...defaultAnswers(target), llmKind, model: "m" }));
        assert.ok(r.ok, `${target}/${llmKind}: ${JSON.stringify(!r.ok && r.errors)}`);
      }
    }
  });

  test("defaults follow the free tiers: OCI 2/12, AWS t4g.small", () => {
    const oci = specFrom(base("").replace("{ kind: lab }", "{ kind: oci, region: r }"));
    assert.deepEqual(
      [oci.target.kind === "oci" && oci.target.ocpus, oci.target.kind === "oci" && oci.target.memoryGb],
      [2, 12],
    );
    const aws = specFrom(base("").replace("{ kind: lab }", "{ kind: aws, region: r }"));
    assert.equal(aws.target.kind === "aws" && aws.target.instanceType, "t4g.small");
  });

  test("a literal secret is refused, naming the field", () => {
    const errors = errorsOf(base("llm: [{ name: m, kind: openai, apiKey: sk-live-123, models: [x] }]"));
    assert.deepEqual(
      errors.map((e) => [e.path, e.message]),
      [["llm[0].apiKey", "a literal secret is refused here; write { env: NAME } or { file: PATH } instead"]],
    );
  });

  test("an unknown key is refused with a did-you-mean", () => {
    const [err] = errorsOf(base("egress: { alow: [a.com] }"));
    assert.equal(err?.path, "egress.alow");
    assert.match(err?.message ?? "", /unknown key "alow"; did you mean "allow"\?/);
    assert.equal(err?.line, 4);
  });

  test("images tagged latest, moving tags and untagged images are refused; version tags and digests pass", () => {
    for (const image of [
      "ghcr.io/openclaw/openclaw:latest",
      "openclaw/openclaw",
      "nginx:stable",
      "a/b:main",
    ]) {
      const [err] = errorsOf(base(`agent: { image: "${image}" }`));
      assert.equal(err?.path, "agent.image", image);
    }
    for (const image of [
      "ghcr.io/openclaw/openclaw:2026.9.6",
      "registry:5000/x/y:1.2",
      `x@sha256:${"a".repeat(64)}`,
    ]) {
      assert.ok(parseSpec(base(`agent: { image: "${image}" }`)).ok, image);
    }
  });

  test("Telegram configured with an empty allowlist is refused", () => {
    const [err] = errorsOf(base("messengers: { telegram: { botToken: { env: T }, allowFrom: [] } }"));
    assert.equal(err?.path, "messengers.telegram.allowFrom");
    assert.match(err?.message ?? "", /allowlist is empty/);
  });

  test("YAML syntax errors carry line and column", () => {
    const [err] = errorsOf("version: 1\nname: t\ntarget: { kind: lab\nagent: {}\n");
    assert.equal(typeof err?.line, "number");
    assert.equal(typeof err?.column, "number");
  });

  test("every failing path is listed, not just the first", () => {
    const errors = errorsOf("version: 2\nname: Bad Name\ntarget: { kind: gcp }\n");
    assert.deepEqual(errors.map((e) => e.path).sort(), ["name", "target.kind", "version"]);
  });

  test("allowCidrs can open a private range but never link-local or metadata", () => {
    assert.ok(parseSpec(base("egress: { allowCidrs: [10.1.2.0/24] }")).ok);
    for (const cidr of ["169.254.0.0/16", "169.254.169.254/32", "100.64.0.0/10", "fd00::/8", "0.0.0.0/0"]) {
      const [err] = errorsOf(base(`egress: { allowCidrs: ["${cidr}"] }`));
      assert.match(err?.message ?? "", /never opens/, cidr);
    }
  });

  test("an IP-literal llm baseUrl is screened like a name: only allowCidrs opens a private one", () => {
    const llm = (baseUrl: string, egress = "") =>
      base(
        `llm:\n  - { name: local, kind: openai-compatible, apiKey: { env: K }, baseUrl: "${baseUrl}", models: [m] }\n${egress}`,
      );
    for (const [url, why] of [
      ["http://169.254.169.254/", /169\.254\.169\.254 is metadata .*never opens/],
      ["http://127.0.0.1:8000/v1", /127\.0\.0\.1 is loopback/],
      ["http://[fd20:ce::254]/v1", /fd20:ce::254 is metadata/],
      ["http://[::ffff:169.254.169.254]/", /is ipv4-mapped/],
      ["http://10.1.2.3:8000/v1", /10\.1\.2\.3 is private .*egress\.allowCidrs can open it/],
      ["http://localhost:8000/v1", /localhost is a local name/],
      ["http://metadata.google.internal/", /local name/],
    ] as const) {
      const errors = errorsOf(llm(url));
      assert.deepEqual(
        errors.map((e) => e.path),
        ["llm[0].baseUrl"],
        url,
      );
      assert.match(errors[0]?.message ?? "", why, url);
    }
    assert.ok(parseSpec(llm("http://10.1.2.3:8000/v1", "egress: { allowCidrs: [10.1.0.0/16] }")).ok);
    assert.ok(parseSpec(llm("https://93.184.215.14/v1")).ok, "a public literal is as good as a name");
    assert.ok(parseSpec(llm("https://llm.example.com/v1")).ok);
    const [err] = errorsOf(llm("http://169.254.169.254/", "egress: { allowCidrs: [10.1.0.0/16] }"));
    assert.equal(err?.path, "llm[0].baseUrl", "allowCidrs never opens metadata");
  });

  test("GCP's IPv6 metadata address is its own row: allowCidrs cannot open it", () => {
    const [err] = errorsOf(base(`egress: { allowCidrs: ["fd20::/16"] }`));
    assert.match(err?.message ?? "", /overlaps fd20:ce::254\/128 \(metadata\), which never opens/);
  });

  test("llm allowPaths entries are METHOD /path", () => {
    const llm = (paths: string) =>
      base(
        `llm:\n  - { name: o, kind: openai, apiKey: { env: K }, models: [gpt-5.4], allowPaths: ${paths} }\n`,
      );
    assert.ok(parseSpec(llm(`["POST /embeddings", "GET /files/*/content"]`)).ok);
    const [err] = errorsOf(llm(`["/embeddings"]`));
    assert.equal(err?.path, "llm[0].allowPaths[0]");
  });

  test("the agent's env refuses secret-looking names and proxy overrides", () => {
    const errors = errorsOf(base("agent: { env: { OPENAI_API_KEY: x, NO_PROXY: '*', LOG_LEVEL: info } }"));
    assert.deepEqual(errors.map((e) => e.path).sort(), ["agent.env.NO_PROXY", "agent.env.OPENAI_API_KEY"]);
  });

  test("the gateway may not listen on a range the agent is always refused", () => {
    const [err] = errorsOf(base("gateway: { address: 169.254.1.1 }"));
    assert.equal(err?.path, "gateway.address");
  });

  test(".env.example lists every referenced secret", () => {
    const env = envExample(specFrom(EXAMPLE_YAML));
    for (const name of ["OPENAI_API_KEY", "TELEGRAM_BOT_TOKEN", "TS_AUTHKEY"])
      assert.match(env, new RegExp(`^${name}=$`, "m"));
  });
});
