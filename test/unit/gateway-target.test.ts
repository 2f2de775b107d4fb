import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConnectTarget, parseHttpTarget } from "../../src/gateway/target.js";
import { ADDRESS_CASES } from "../../src/spec/address-cases.js";
import { classify } from "../../src/spec/addresses.js";

describe("every bypass spelling lands in its class through the parser", () => {
  for (const c of ADDRESS_CASES) {
    test(`${c.host} → ${c.expect} (${c.why})`, () => {
      for (const parsed of [parseConnectTarget(`${c.host}:443`), parseHttpTarget(`http://${c.host}/x`)]) {
        assert.ok(parsed.ok, `parse failed: ${parsed.ok ? "" : parsed.reason}`);
        assert.ok(
          parsed.target.ip,
          `${c.host} should parse as an IP literal, got name ${parsed.target.host}`,
        );
        assert.equal(classify(parsed.target.ip).class, c.expect);
      }
    });
  }
});

// [input, expected host (or undefined if refused), expected port, expected reason fragment]
const CONNECT_CASES: [string, string | undefined, number | undefined, string?][] = [
  ["example.com:443", "example.com", 443],
  ["Example.COM.:443", "example.com", 443, "mixed case and a trailing dot are one name"],
  ["EXAMPLE.com:8443", "example.com", 8443],
  ["[2606:4700::1111]:443", "2606:4700::1111", 443],
  ["[2606:4700:0:0:0:0:0:1111]:443", "2606:4700::1111", 443],
  ["[::FFFF:127.0.0.1]:443", "::ffff:7f00:1", 443],
  ["127.0.0.1.:443", "127.0.0.1", 443],
  ["foo_bar.example.com:443", "foo_bar.example.com", 443],
  ["xn--jv8h.example.com:443", "xn--jv8h.example.com", 443],
  ["example.com", undefined, undefined, "missing port"],
  ["example.com:", undefined, undefined, "malformed"],
  [":443", undefined, undefined, "malformed"],
  ["", undefined, undefined, "empty"],
  ["example.com:0", undefined, undefined, "out of range"],
  ["example.com:65536", undefined, undefined, "out of range"],
  ["example.com:99999", undefined, undefined, "out of range"],
  ["example.com:-1", undefined, undefined, "malformed"],
  ["example.com:https", undefined, undefined, "malformed"],
  ["example.com:0443", undefined, undefined, "leading zeros"],
  ["example.com:443:443", undefined, undefined, "malformed"],
  ["user@example.com:443", undefined, undefined, "userinfo"],
  ["example.com:443@evil.com:443", undefined, undefined, "userinfo"],
  ["user:pass@169.254.169.254:443", undefined, undefined, "userinfo"],
  ["ex%61mple.com:443", undefined, undefined, "percent"],
  ["%31%32%37.0.0.1:443", undefined, undefined, "percent"],
  ["[fe80::1%25eth0]:443", undefined, undefined, "zone id"],
  ["[fe80::1%eth0]:443", undefined, undefined, "zone id"],
  ["2001:db8::1:443", undefined, undefined, "malformed"],
  ["[[::1]]:443", undefined, undefined, "malformed"],
  ["[example.com]:443", undefined, undefined, "malformed"],
  ["[127.0.0.1]:443", undefined, undefined, "malformed"],
  ["[::1:443", undefined, undefined, "malformed"],
  ["a..b.com:443", undefined, undefined, "malformed host name"],
  ["-a.com:443", undefined, undefined, "malformed host name"],
  ["a-.com:443", undefined, undefined, "malformed host name"],
  [".:443", undefined, undefined, "length"],
  ["exa mple.com:443", undefined, undefined, "malformed"],
  ["example.com:443 ", undefined, undefined, "malformed"],
  ["example.com\t:443", undefined, undefined, "malformed"],
  ["example.com/:443", undefined, undefined, "malformed"],
  ["example.com\\@evil.com:443", undefined, undefined, "userinfo"],
  ["🔐.example.com:443", undefined, undefined, "malformed"],
  ["1.2.3.4.5:443", undefined, undefined, "malformed"],
  [`${"a".repeat(64)}.com:443`, undefined, undefined, "malformed host name"],
  [`${"abcdefghi.".repeat(26)}com:443`, undefined, undefined, "length"],
  ["localhost:443", "localhost", 443, "parses; the decision refuses it"],
];

describe("parseConnectTarget: strict authority-form", () => {
  for (const [input, host, port, why] of CONNECT_CASES) {
    test(`${JSON.stringify(input)}${why && host ? ` (${why})` : ""}`, () => {
      const r = parseConnectTarget(input);
      if (host === undefined) {
        assert.equal(r.ok, false, `expected refusal, got ${JSON.stringify(r)}`);
        if (!r.ok && why) assert.match(r.reason, new RegExp(why));
      } else {
        assert.ok(r.ok, r.ok ? "" : r.reason);
        assert.equal(r.target.host, host);
        assert.equal(r.target.port, port);
      }
    });
  }
});

// [url, host, port, path] or [url, undefined, reason fragment]
const HTTP_CASES: [string, string | undefined, number | string | undefined, string?][] = [
  ["http://example.com/", "example.com", 80, "/"],
  ["http://example.com", "example.com", 80, "/"],
  ["HTTP://Example.COM:8080/a/../b?q=1", "example.com", 8080, "/a/../b?q=1"],
  ["http://example.com?x=1", "example.com", 80, "/?x=1"],
  ["http://example.com/p#frag", "example.com", 80, "/p"],
  ["http://example.com#@evil.com/", "example.com", 80, "/"],
  ["http://[2606:4700::1111]/", "2606:4700::1111", 80, "/"],
  ["http://2130706433/", "127.0.0.1", 80, "/"],
  ["http://example.com/%2e%2e/x", "example.com", 80, "/%2e%2e/x"],
  ["http://user@example.com/", undefined, "userinfo"],
  ["http://example.com@evil.com/", undefined, "userinfo"],
  ["http://example.com:80@evil.com/", undefined, "userinfo"],
  ["http://evil.com\\@example.com/", undefined, "backslash"],
  ["http://ex%61mple.com/", undefined, "percent"],
  ["https://example.com/", undefined, "CONNECT"],
  ["ftp://example.com/", undefined, "scheme"],
  ["/relative", undefined, "absolute"],
  ["http:///path", undefined, "empty host"],
  ["http://example.com:0/", undefined, "out of range"],
  ["http://[fe80::1%25eth0]/", undefined, "zone id"],
];

describe("parseHttpTarget: absolute-form http:// only", () => {
  for (const [url, host, portOrReason, path] of HTTP_CASES) {
    test(JSON.stringify(url), () => {
      const r = parseHttpTarget(url);
      if (host === undefined) {
        assert.equal(r.ok, false, `expected refusal, got ${JSON.stringify(r)}`);
        if (!r.ok) assert.match(r.reason, new RegExp(String(portOrReason)));
      } else {
        assert.ok(r.ok, r.ok ? "" : r.reason);
        assert.equal(r.target.host, host);
        assert.equal(r.target.port, portOrReason);
        assert.equal(r.target.path, path);
      }
    });
  }
});
