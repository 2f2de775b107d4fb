import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DENY_LOG_PREFIX, renderNftables } from "../../src/render/nftables.js";
import { ADDRESS_TABLE, backstopRows } from "../../src/spec/addresses.js";
import { specFrom } from "../helpers.js";

const render = (yaml?: string) => {
  const artifacts = renderNftables(specFrom(yaml));
  assert.equal(artifacts.length, 1);
  const [artifact] = artifacts;
  assert.ok(artifact);
  return artifact;
};

// The elements of one named set, as written in the rendered file.
function setElements(text: string, name: string): string[] {
  const match = text.match(new RegExp(`set ${name} \\{[^}]*elements = \\{([^}]*)\\}`));
  assert.ok(match?.[1], `set ${name} is rendered`);
  return match[1]
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
}

// The rules of chain agent_egress, one per line, without comments.
function agentEgressRules(text: string): string[] {
  const chain = text.slice(text.indexOf("chain agent_egress"));
  return chain
    .slice(0, chain.indexOf("\n  }"))
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

describe("nftables renderer", () => {
  it("writes one nftables artifact at nftables/moat.nft", () => {
    const a = render();
    assert.equal(a.kind, "nftables");
    assert.equal(a.path, "nftables/moat.nft");
  });

  it("puts every backstop row of the address table in the family's set, and nothing else", () => {
    const text = render().content;
    assert.deepEqual(
      setElements(text, "backstop_v4"),
      backstopRows(4).map((r) => r.cidr),
    );
    assert.deepEqual(
      setElements(text, "backstop_v6"),
      backstopRows(6).map((r) => r.cidr),
    );
    // The rows the issue names explicitly must be among them.
    for (const cidr of ["169.254.0.0/16", "fe80::/10", "fc00::/7", "100.64.0.0/10", "168.63.129.16/32"]) {
      assert.ok(
        ADDRESS_TABLE.some((r) => r.cidr === cidr && r.backstopFirst),
        `${cidr} is a backstop row`,
      );
      assert.ok(text.includes(`${cidr},`) || text.includes(`${cidr}\n`), `${cidr} is rendered`);
    }
  });

  it("is scoped to its own table and never flushes the ruleset", () => {
    const text = render().content;
    assert.doesNotMatch(text, /flush\s+ruleset/);
    const lines = text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
    assert.equal(lines[0], "table inet moat {}");
    assert.equal(lines[1], "flush table inet moat");
    const tables = [...text.matchAll(/^\s*(?:table|flush table|delete table)\s+(\S+)\s+(\S+)/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    assert.ok(tables.length >= 3);
    for (const t of tables) assert.equal(t, "inet moat");
  });

  it("matches the agent uid and its whole subuid range", () => {
    const text = render(`
version: 1
name: t
target: { kind: lab }
host: { agentUid: 4242, gatewayUid: 4243, subidStart: 300000, subidCount: 70000 }
`).content;
    assert.deepEqual(setElements(text, "agent_uids"), ["4242", "300000-369999"]);
  });

  it("rejects the backstop before it accepts anything, and rejects the rest last", () => {
    const rules = agentEgressRules(render().content);
    const backstop = rules.flatMap((r, i) => (/^ip6? daddr @backstop_v[46] /.test(r) ? [i] : []));
    const accepts = rules.flatMap((r, i) => (r.endsWith(" accept") ? [i] : []));
    assert.equal(backstop.length, 4);
    assert.ok(Math.max(...backstop) < Math.min(...accepts), "backstop rejects come before every accept");
    assert.deepEqual(rules.slice(-3), [
      "meta l4proto tcp counter reject with tcp reset",
      "meta nfproto ipv4 counter reject with icmp type admin-prohibited",
      "meta nfproto ipv6 counter reject with icmpv6 type admin-prohibited",
    ]);
    assert.ok(rules.includes("ip daddr 198.18.0.1 tcp dport 3128 counter accept"));
    assert.ok(rules.some((r) => r.includes(`log prefix "${DENY_LOG_PREFIX}"`) && r.startsWith("limit rate")));
  });

  // Issue 13 item 9: a socket of the agent's uids must never answer a connection it did not open.
  it("accepts established traffic of the agent's uids only in the direction they opened it", () => {
    const rules = agentEgressRules(render().content);
    const established = rules.filter((r) => r.includes("ct state established"));
    assert.deepEqual(established, ["ct direction original ct state established,related counter accept"]);
    const answers = rules.filter((r) => r.endsWith(" accept") && !r.includes("ct direction original"));
    assert.deepEqual(answers, [
      'oif "lo" tcp sport 18789 ct direction reply counter accept',
      "ip daddr 198.18.0.1 tcp dport 3128 counter accept",
    ]);
  });

  it("lets only the agent's published port answer, and only towards loopback", () => {
    const text = render(`
version: 1
name: t
target: { kind: lab }
agent: { port: 28000 }
`).content;
    const replies = agentEgressRules(text).filter((r) => r.includes("ct direction reply"));
    assert.deepEqual(replies, ['oif "lo" tcp sport 28000 ct direction reply counter accept']);
  });

  it("keeps the gateway's address unreachable from other interfaces", () => {
    assert.match(
      render().content,
      /chain input \{\n\s+type filter hook input priority filter; policy accept;\n\s+iif != "lo" ip daddr 198\.18\.0\.1 counter drop\n/,
    );
  });

  it("follows the gateway's address and port from the spec", () => {
    const text = render(`
version: 1
name: t
target: { kind: lab }
gateway: { address: 198.19.7.7, port: 8888 }
`).content;
    assert.match(text, /ip daddr 198\.19\.7\.7 tcp dport 8888 counter accept/);
    assert.doesNotMatch(text, /198\.18\.0\.1/);
  });

  it("is deterministic: the same spec gives byte-identical output", () => {
    assert.equal(render().content, render().content);
  });
});
