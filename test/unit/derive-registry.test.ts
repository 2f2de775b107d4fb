// The agent image's registry hosts are implied by agent.image: host apply pulls from them through
// the gateway's pull listener; the agent's own allowlist is egress.allow alone.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  agentAllowedHosts,
  DOCKER_HUB_HOSTS,
  impliedHosts,
  localImageName,
  registryHosts,
} from "../../src/spec/derive.js";
import { specFrom } from "../helpers.js";

const withImage = (image: string) =>
  specFrom(`
version: 1
name: reg
target: { kind: lab }
agent: { profile: custom, image: "${image}", writablePaths: [/tmp] }
egress: { allow: [example.com] }
`);

describe("registry hosts of the agent image", () => {
  it("ghcr.io images add ghcr.io and its blob host", () => {
    assert.deepEqual(registryHosts("ghcr.io/openclaw/openclaw:2026.9.6"), [
      "ghcr.io",
      "pkg-containers.githubusercontent.com",
    ]);
  });

  it("Docker Hub images, short or spelled out, add the Hub's registry, auth and blob hosts", () => {
    for (const image of ["busybox:1.36", "moat-test/busybox:1.36", "docker.io/library/nginx:1.27"])
      assert.deepEqual(registryHosts(image), DOCKER_HUB_HOSTS, image);
    assert.ok(DOCKER_HUB_HOSTS.includes("registry-1.docker.io"));
    assert.ok(DOCKER_HUB_HOSTS.includes("auth.docker.io"));
    assert.ok(DOCKER_HUB_HOSTS.includes("production.cloudflare.docker.com"));
  });

  it("another registry adds its host only, without a port; a first path part without a dot is not a host", () => {
    assert.deepEqual(registryHosts("quay.io/org/img:1"), ["quay.io"]);
    assert.deepEqual(registryHosts(`Registry.Example.com:5000/img@sha256:${"a".repeat(64)}`), [
      "registry.example.com",
    ]);
    assert.deepEqual(registryHosts("localhost:5000/img:1"), ["localhost"]);
    assert.deepEqual(registryHosts("someorg/img:1"), DOCKER_HUB_HOSTS);
  });

  it("they are implied by agent.image, and nothing of other registries; the agent's own list is egress.allow", () => {
    const hostsOf = (image: string) =>
      impliedHosts(withImage(image))
        .filter((h) => h.field === "agent.image")
        .map((h) => h.host);
    const ghcr = hostsOf("ghcr.io/acme/agent:1.0");
    assert.deepEqual(ghcr, ["ghcr.io", "pkg-containers.githubusercontent.com"]);
    assert.deepEqual(hostsOf("acme/agent:1.0"), DOCKER_HUB_HOSTS, "a Hub image does not open ghcr.io");
    assert.deepEqual(agentAllowedHosts(withImage("ghcr.io/acme/agent:1.0")), ["example.com"]);
  });
});

describe("the name the agent's image carries in its rootless daemon", () => {
  const hex = "b".repeat(64);
  it("keeps a tag; carries a digest as a tag made of it, with any tag beside it dropped", () => {
    assert.equal(localImageName("ghcr.io/openclaw/openclaw:2026.9.6"), "ghcr.io/openclaw/openclaw:2026.9.6");
    assert.equal(localImageName(`ghcr.io/o/a@sha256:${hex}`), `ghcr.io/o/a:sha256-${hex}`);
    assert.equal(localImageName(`ghcr.io/o/a:1.0@sha256:${hex}`), `ghcr.io/o/a:sha256-${hex}`);
    assert.equal(localImageName(`localhost:5000/a@sha256:${hex}`), `localhost:5000/a:sha256-${hex}`);
  });
});
