import assert from "node:assert/strict";
import { describe, test } from "node:test";
import ipaddr from "ipaddr.js";
import { aclHost, compileAcl } from "../../src/gateway/acl.js";
import { createPipeline, decide, type GatewayRequest, type Verdict } from "../../src/gateway/decide.js";
import { compileCidrs, type Policy, policyFromSpec } from "../../src/gateway/policy.js";
import { parseConnectTarget, parseHttpTarget } from "../../src/gateway/target.js";
import { ADDRESS_CASES } from "../../src/spec/address-cases.js";
import { ADDRESS_TABLE, type AddressRow, classify } from "../../src/spec/addresses.js";
import { specFrom } from "../helpers.js";

const BASE = `
version: 1
name: demo
target: { kind: lab }
llm:
  - { name: main, kind: anthropic, apiKey: { env: K }, models: [claude] }
egress:
  allow: [example.com, "*.github.com", metadata.google.internal]
  allowCidrs: [10.9.0.0/16, "fd12:3456::/32", 93.184.216.0/24]
`;
const enforce = policyFromSpec(specFrom(BASE));
const report = policyFromSpec(specFrom(`${BASE}  mode: report\n`));

function req(kind: "CONNECT" | "HTTP", authority: string): GatewayRequest {
  const p = kind === "CONNECT" ? parseConnectTarget(authority) : parseHttpTarget(`http://${authority}/`);
  if (!p.ok) throw new Error(p.reason);
  return { kind, target: p.target };
}

type Row = [kind: "CONNECT" | "HTTP", authority: string, answers: string[], expect: string, addrs?: string[]];
// expect is the verdict as "action code".
const DECISIONS: Row[] = [
  ["CONNECT", "example.com:443", ["93.184.215.14"], "allow allowlisted", ["93.184.215.14"]],
  ["CONNECT", "EXAMPLE.com.:443", ["93.184.215.14"], "allow allowlisted"],
  // Implied by llm, served by the gateway's /llm route: not the agent's (gateway-implied.test.ts).
  ["CONNECT", "api.anthropic.com:443", ["160.79.104.10"], "deny gateway-route"],
  ["HTTP", "example.com", ["93.184.215.14"], "allow allowlisted"],
  ["CONNECT", "example.com:80", ["93.184.215.14"], "deny port"],
  ["CONNECT", "example.com:22", ["93.184.215.14"], "deny port"],
  ["HTTP", "example.com:443", ["93.184.215.14"], "deny port"],
  ["CONNECT", "api.github.com:443", ["140.82.112.5"], "allow allowlisted"],
  ["CONNECT", "a.b.github.com:443", ["140.82.112.5"], "allow allowlisted"],
  ["CONNECT", "github.com:443", ["140.82.112.5"], "deny not-allowlisted"],
  ["CONNECT", "evilgithub.com:443", ["140.82.112.5"], "deny not-allowlisted"],
  ["CONNECT", "api.github.com.evil.com:443", ["140.82.112.5"], "deny not-allowlisted"],
  ["CONNECT", "example.com.evil.com:443", ["93.184.215.14"], "deny not-allowlisted"],
  ["CONNECT", "www.example.com:443", ["93.184.215.14"], "deny not-allowlisted"],
  // A name is refused if any answer is refused, whatever its position.
  ["CONNECT", "example.com:443", ["93.184.215.14", "169.254.169.254"], "deny class:metadata"],
  ["CONNECT", "example.com:443", ["169.254.169.254", "93.184.215.14"], "deny class:metadata"],
  ["CONNECT", "example.com:443", ["93.184.215.14", "::ffff:a9fe:a9fe"], "deny class:ipv4-mapped"],
  ["CONNECT", "example.com:443", ["2606:4700::1111", "fd00:ec2::254"], "deny class:metadata"],
  ["CONNECT", "example.com:443", ["127.0.0.1"], "deny class:loopback"],
  ["CONNECT", "example.com:443", ["0.0.0.0"], "deny class:unspecified"],
  ["CONNECT", "example.com:443", ["64:ff9b::a9fe:a9fe"], "deny class:nat64"],
  ["CONNECT", "example.com:443", ["168.63.129.16"], "deny class:metadata"],
  ["CONNECT", "example.com:443", ["10.8.1.1"], "deny class:private"],
  ["CONNECT", "example.com:443", ["10.9.1.1"], "allow allowlisted", ["10.9.1.1"]],
  ["CONNECT", "example.com:443", ["fd12:3456::7"], "allow allowlisted"],
  ["CONNECT", "example.com:443", ["fd7a:115c:a1e0::1"], "deny class:tailscale"],
  ["CONNECT", "example.com:443", [], "deny no-answers"],
  [
    "CONNECT",
    "example.com:443",
    ["2606:4700::1111", "93.184.215.14"],
    "allow allowlisted",
    ["93.184.215.14", "2606:4700::1111"],
  ],
  // Local names never reach DNS, even when allowlisted.
  ["CONNECT", "localhost:443", ["93.184.215.14"], "deny refused-name"],
  ["CONNECT", "foo.localhost:443", ["93.184.215.14"], "deny refused-name"],
  ["CONNECT", "metadata.google.internal:443", ["93.184.215.14"], "deny refused-name"],
  ["CONNECT", "Metadata.Google.Internal.:443", ["93.184.215.14"], "deny refused-name"],
  ["CONNECT", "printer.local:443", ["93.184.215.14"], "deny refused-name"],
  // IP literals: refused by class, refused outside allowCidrs, allowed inside.
  ["CONNECT", "93.184.215.14:443", [], "deny ip-literal"],
  ["CONNECT", "[2606:4700::1111]:443", [], "deny ip-literal"],
  ["CONNECT", "93.184.216.34:443", [], "allow allow-cidr", ["93.184.216.34"]],
  ["CONNECT", "10.9.0.5:443", [], "allow allow-cidr"],
  ["CONNECT", "10.10.0.5:443", [], "deny class:private"],
  ["CONNECT", "169.254.169.254:443", [], "deny class:metadata"],
  ["CONNECT", "2852039166:443", [], "deny class:metadata"],
  ["CONNECT", "[::ffff:10.9.0.5]:443", [], "deny class:ipv4-mapped"],
  ["HTTP", "0x7f.1", [], "deny class:loopback"],
];

const show = (v: Verdict) => `${v.action} ${v.code}`;

describe("decide: enforce mode", () => {
  for (const [kind, authority, answers, expect, addrs] of DECISIONS) {
    test(`${kind} ${authority} ← [${answers.join(", ")}] → ${expect}`, () => {
      const v = decide(req(kind, authority), answers, enforce);
      assert.equal(show(v), expect, v.reason);
      if (addrs && v.action !== "deny") assert.deepEqual(v.addrs, addrs);
    });
  }
});

describe("decide: report mode lets unlisted names and literals through, never address classes", () => {
  const cases: [string, string[], string][] = [
    ["unlisted.example.org:443", ["93.184.215.14"], "report report-unlisted"],
    ["example.com:443", ["93.184.215.14"], "allow allowlisted"],
    ["unlisted.example.org:443", ["169.254.169.254"], "deny class:metadata"],
    ["unlisted.example.org:443", ["93.184.215.14", "10.1.1.1"], "deny class:private"],
    ["93.184.215.14:443", [], "report report-unlisted"],
    ["169.254.169.254:443", [], "deny class:metadata"],
    ["localhost:443", [], "deny refused-name"],
    ["unlisted.example.org:25", ["93.184.215.14"], "deny port"],
  ];
  for (const [authority, answers, expect] of cases) {
    test(`${authority} ← [${answers.join(", ")}] → ${expect}`, () => {
      assert.equal(show(decide(req("CONNECT", authority), answers, report)), expect);
    });
  }
});

// A representative address of a row: one that the row, and no more specific row, classifies.
function representative(row: AddressRow): string {
  const [base, bits] = ipaddr.parseCIDR(row.cidr);
  const bytes = base.toByteArray();
  const hostBits = bytes.length * 8 - bits;
  const candidates: number[][] = [];
  for (let off = 0; off < 20; off++) {
    const b = [...bytes];
    let carry = off;
    for (let i = b.length - 1; i >= 0 && carry > 0; i--) {
      const sum = (b[i] as number) + carry;
      b[i] = sum & 0xff;
      carry = sum >> 8;
    }
    candidates.push(b);
  }
  // The last address of the range, and its predecessor.
  for (const minus of [0, 1]) {
    const b = [...bytes];
    for (let bit = 0; bit < hostBits; bit++) {
      const i = b.length - 1 - Math.floor(bit / 8);
      b[i] = (b[i] as number) | (1 << (bit % 8));
    }
    b[b.length - 1] = (b[b.length - 1] as number) - minus;
    candidates.push(b);
  }
  for (const b of candidates) {
    const text = ipaddr.fromByteArray(b).toString();
    if (classify(text).row === row) return text;
  }
  throw new Error(`no representative address found for ${row.cidr}`);
}

describe("the address table, one row at a time, as an IP literal through decide", () => {
  for (const row of ADDRESS_TABLE) {
    test(`${row.cidr} (${row.class}${row.openable ? ", openable" : ""})`, () => {
      const address = representative(row);
      const authority = address.includes(":") ? `[${address}]:443` : `${address}:443`;
      assert.equal(show(decide(req("CONNECT", authority), [], enforce)), `deny class:${row.class}`);
      assert.equal(
        show(decide(req("CONNECT", "example.com:443"), [address], report)),
        `deny class:${row.class}`,
      );
      // Open exactly this row with allowCidrs: only openable rows may open.
      const opened: Policy = { ...enforce, allowCidrs: compileCidrs([row.cidr]) };
      const v = decide(req("CONNECT", "example.com:443"), [address], opened);
      assert.equal(show(v), row.openable ? "allow allowlisted" : `deny class:${row.class}`);
    });
  }
});

describe("every bypass spelling is refused as a CONNECT target, and public ones only as literals", () => {
  for (const c of ADDRESS_CASES) {
    test(`${c.host} (${c.why})`, () => {
      const v = decide(req("CONNECT", `${c.host}:443`), [], { ...enforce, allowCidrs: [] });
      assert.equal(show(v), c.expect === "public" ? "deny ip-literal" : `deny class:${c.expect}`);
    });
  }
});

describe("aclHost", () => {
  const acl = compileAcl(["Example.com", "*.github.com", "api.openai.com."]);
  const cases: [string, boolean][] = [
    ["example.com", true],
    ["www.example.com", false],
    ["github.com", false],
    ["api.github.com", true],
    ["x.y.github.com", true],
    ["github.com.evil.com", false],
    ["notgithub.com", false],
    ["api.openai.com", true],
    ["openai.com", false],
  ];
  for (const [host, expected] of cases)
    test(`${host} → ${expected}`, () => assert.equal(aclHost(acl, host), expected));
});

describe("negative control: the tables notice a pipeline with a class switched off", () => {
  for (const off of ["metadata", "ipv4-mapped", "private"]) {
    test(`${off} off`, () => {
      const weakened = createPipeline((a) => {
        const c = classify(a);
        return c.class === off ? { class: "public", address: c.address } : c;
      });
      const missed = DECISIONS.filter(([kind, authority, answers, expect]) => {
        const v = decide(req(kind, authority), answers, enforce, weakened);
        return show(v) !== expect;
      });
      assert.ok(missed.length > 0, `switching ${off} off went unnoticed`);
    });
  }
});
