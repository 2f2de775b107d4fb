// The agent user's rootless dockerd unit: no proxy (host apply pulls as root, issue 13), and the
// daemon's own name lookups (refused by the firewall) fail at once instead of waiting out Go's resolver.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderRootlessDockerUnit } from "../../src/render/rootless-docker.js";
import { specFrom } from "../helpers.js";

const spec = specFrom(`
version: 1
name: rl
target: { kind: lab }
agent: { profile: custom, image: "registry.example.net/team/agent:1.0", writablePaths: [/tmp] }
gateway: { address: 198.18.0.9, port: 3999 }
`);
const environment = (content: string) =>
  content
    .split("\n")
    .filter((l) => l.startsWith("Environment="))
    .map((l) => l.slice("Environment=".length));

describe("rootless Docker unit", () => {
  const [unit] = renderRootlessDockerUnit(spec);
  const env = environment(unit?.content ?? "");

  it("has no proxy: the daemon shares the agent's uid, so it must have no way out of its own", () => {
    assert.deepEqual(
      env.filter((e) => /proxy/i.test(e)),
      [],
    );
  });

  it("resolves with the C library, which hears the firewall's refusal at once", () => {
    assert.ok(env.includes("GODEBUG=netdns=cgo"));
  });

  it("keeps slirp4netns without host loopback", () => {
    assert.ok(env.includes("DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns"));
    assert.ok(env.includes("DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=true"));
  });

  it("is byte-identical across renders", () => {
    assert.equal(renderRootlessDockerUnit(spec)[0]?.content, unit?.content);
  });
});
