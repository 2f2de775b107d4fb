import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkUpstreamHead } from "../../src/gateway/upstream-head.js";

const CASES: [what: string, status: number | undefined, reason: string, raw: string[], refusal?: RegExp][] = [
  ["a plain 200", 200, "OK", ["content-type", "text/plain"]],
  ["an empty reason", 204, "", []],
  ["obs-text and a tab in the reason", 200, "O\tK\u00e9", []],
  ["the largest status", 599, "x", []],
  ["status 99 (sent as 099)", 99, "Early", [], /status 99$/],
  ["status 0", 0, "Zero", [], /status 0$/],
  ["a 1xx as the final status", 101, "Switching", [], /status 101$/],
  ["status 600", 600, "x", [], /status 600$/],
  ["no status", undefined, "", [], /status none$/],
  ["a control character in the reason", 200, "O\u0001K", [], /reason phrase/],
  ["DEL in the reason", 200, "O\u007fK", [], /reason phrase/],
  ["CR LF in the reason", 200, "OK\r\nset-cookie: a", [], /reason phrase/],
  ["a header value with NUL", 200, "OK", ["x-a", "a\u0000b"], /header .*\(x-a\)/],
  ["a header value with a newline", 200, "OK", ["x-a", "a\nset-cookie: b"], /header .*\(x-a\)/],
  ["a header name with a space", 200, "OK", ["x a", "b"], /header .*\(x\?a\)/],
  ["a header name with a control byte, printed safely", 200, "OK", ["x\u0001", "b"], /\(x\?\)$/],
];

describe("checkUpstreamHead: what the gateway will relay", () => {
  for (const [what, status, reason, raw, refusal] of CASES) {
    it(`${refusal ? "refuses" : "accepts"} ${what}`, () => {
      const r = checkUpstreamHead(status, reason, raw);
      if (!refusal) return assert.deepEqual(r, { ok: true });
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, refusal);
    });
  }

  it("a long hostile header name is cut in the reason", () => {
    const r = checkUpstreamHead(200, "OK", [`${"n".repeat(500)} `, "v"]);
    assert.equal(r.ok, false);
    assert.ok((r as { reason: string }).reason.length < 140);
  });
});
