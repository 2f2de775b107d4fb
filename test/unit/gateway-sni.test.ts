import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatDenials, summariseDenials } from "../../src/gateway/denials.js";
import { policyFromSpec } from "../../src/gateway/policy.js";
import { type ReadHello, sniVerdict } from "../../src/gateway/sni.js";
import { parseConnectTarget } from "../../src/gateway/target.js";
import { specFrom } from "../helpers.js";

const BASE = `
version: 1
name: demo
target: { kind: lab }
egress:
  allow: [example.com, "*.github.com", ech.example]
  allowCidrs: [10.9.0.0/16]
  echAllow: [ech.example]
`;
const enforce = policyFromSpec(specFrom(BASE));
const report = policyFromSpec(specFrom(`${BASE}  mode: report\n`));

const hello = (sni?: string, ech = false): ReadHello =>
  sni === undefined ? { kind: "hello", ech } : { kind: "hello", sni, ech };
const notTls: ReadHello = { kind: "not-tls", reason: "record type 71 is not a TLS handshake" };

// [CONNECT authority, what the tunnel started with, expected "action code" (pass: "pass" or "pass: note")]
type Row = [string, ReadHello, string];
const ROWS: Row[] = [
  ["example.com:443", hello("example.com"), "pass"],
  ["EXAMPLE.com.:443", hello("example.com"), "pass"],
  ["example.com:443", hello("Example.COM."), "pass"],
  ["api.github.com:443", hello("api.github.com"), "pass"],
  // Fronting: the edge would route by the SNI, not by the name the gateway vetted.
  ["example.com:443", hello("attacker.example"), "deny sni-mismatch"],
  ["api.github.com:443", hello("gist.github.com"), "deny sni-mismatch"],
  ["example.com:443", hello("www.example.com"), "deny sni-mismatch"],
  ["example.com:443", hello("example.com.attacker.example"), "deny sni-mismatch"],
  ["example.com:443", hello(), "deny sni-missing"],
  ["example.com:443", notTls, "deny not-tls"],
  // ECH hides the inner name: refused unless the CONNECT name is listed as ECH-capable.
  ["example.com:443", hello("example.com", true), "deny ech-refused"],
  ["example.com:443", hello(undefined, true), "deny sni-missing"],
  ["ech.example:443", hello("ech.example", true), "pass"],
  ["ech.example:443", hello("cloudflare-ech.com", true), "deny sni-mismatch"],
  // allowCidrs tunnels were vetted by address: no name to compare, and the audit says so.
  ["10.9.1.2:443", hello("anything.example"), "pass: IP literal: SNI not checked"],
  ["10.9.1.2:443", hello(), "pass: IP literal: SNI not checked"],
  ["10.9.1.2:443", hello(undefined, true), "deny ech-refused"],
  ["10.9.1.2:443", notTls, "deny not-tls"],
];

const show = (v: ReturnType<typeof sniVerdict>) =>
  v.action === "pass" ? (v.note ? `pass: ${v.note}` : "pass") : `${v.action} ${v.code}`;
const target = (authority: string) => {
  const p = parseConnectTarget(authority);
  if (!p.ok) throw new Error(p.reason);
  return p.target;
};

describe("sniVerdict", () => {
  test("every row, enforce mode", () => {
    const wrong = ROWS.map(([a, h, want]) => [a, h, want, show(sniVerdict(target(a), h, enforce))])
      .filter(([, , want, got]) => want !== got)
      .map(([a, h, want, got]) => `${a} ${JSON.stringify(h)}: want ${want}, got ${got}`);
    assert.deepEqual(wrong, []);
  });

  test("report mode reports the same refusals and lets them through", () => {
    for (const [a, h, want] of ROWS) {
      const got = show(sniVerdict(target(a), h, report));
      assert.equal(got, want.replace(/^deny /, "report "), `${a} ${JSON.stringify(h)}`);
    }
  });

  test("reasons name both names and the field to change", () => {
    const mismatch = sniVerdict(target("example.com:443"), hello("attacker.example"), enforce);
    assert.equal(
      mismatch.action === "deny" && mismatch.reason,
      "TLS SNI attacker.example in a tunnel opened for example.com",
    );
    const ech = sniVerdict(target("example.com:443"), hello("example.com", true), enforce);
    assert.match(ech.action === "deny" ? ech.reason : "", /egress\.echAllow/);
    const huge = sniVerdict(target("example.com:443"), hello("a".repeat(5000)), enforce);
    assert.ok(huge.action === "deny" && huge.reason.length < 320, "an SNI is cut before it reaches a reason");
  });
});

describe("egress.plainConnectPorts and egress.echAllow in the schema", () => {
  test("defaults: every CONNECT port is TLS, no name is ECH-capable", () => {
    const p = policyFromSpec(specFrom("version: 1\nname: d\ntarget: { kind: lab }\n"));
    assert.deepEqual([...p.plainConnectPorts], []);
    assert.deepEqual([...p.echAcl.exact, ...p.echAcl.suffixes], []);
  });

  test("a plain port must be a CONNECT port", () => {
    assert.throws(
      () => specFrom(`${BASE}  plainConnectPorts: [22]\n`),
      /plainConnectPorts.*port 22 is not in egress\.connectPorts|port 22 is not in egress\.connectPorts/s,
    );
    const ok = policyFromSpec(specFrom(`${BASE}  connectPorts: [443, 22]\n  plainConnectPorts: [22]\n`));
    assert.deepEqual([...ok.plainConnectPorts], [22]);
  });
});

describe("moat gateway denials on SNI refusals", () => {
  test("grouped, explained, never suggested as an allowlist entry", () => {
    const now = Date.parse("2026-12-03T12:00:00Z");
    const line = (code: string, sni?: string) =>
      JSON.stringify({
        time: "2026-12-03T11:59:00Z",
        host: "example.com",
        port: 443,
        decision: "deny",
        code,
        reason: "r",
        sni,
      });
    const s = summariseDenials(
      [line("sni-mismatch", "attacker.example"), line("sni-mismatch", "b.example"), line("not-tls")],
      3_600_000,
      now,
    );
    assert.deepEqual(
      s.rows.map((r) => [r.code, r.count]),
      [
        ["sni-mismatch", 2],
        ["not-tls", 1],
      ],
    );
    assert.deepEqual(s.allow, []);
    assert.match(formatDenials(s, "audit.log", "1h"), /egress\.plainConnectPorts[\s\S]*egress\.echAllow/);
  });
});
