// One egress exchange, one final audit record (exchange.ts): a second finish() writes nothing,
// a tunnel's "open" record comes at most once and never after the final one, and the record's
// fields are the ones `moat gateway denials` and the tests have always read, in the same order.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AuditEntry } from "../../src/gateway/audit.js";
import { Exchange, malformed } from "../../src/gateway/exchange.js";

const target = { host: "example.com", port: 443, ip: undefined } as const;
const allowed = {
  decision: "allow",
  code: "allowlisted",
  reason: "example.com is allowlisted",
  status: 200,
} as const;

function exchange(method = "CONNECT") {
  const lines: AuditEntry[] = [];
  const ex = new Exchange(method, "198.18.0.2", (e) => lines.push(e));
  return { ex, lines };
}

describe("an exchange", () => {
  test("ends in exactly one record: the first outcome wins, a second finish() writes nothing", () => {
    const { ex, lines } = exchange("GET");
    ex.aimAt({ ...target, port: 80 });
    assert.equal(ex.finish({ decision: "error", code: "client-gone", reason: "left", status: 200 }), true);
    assert.equal(ex.finish({ ...allowed }), false);
    assert.equal(ex.refuse(malformed("late")), false);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.code, "client-gone");
  });

  test("a tunnel writes its open record once, then its final one; none after the end", () => {
    const { ex, lines } = exchange();
    ex.aimAt(target);
    ex.addr = "93.184.215.14";
    ex.decide(allowed);
    ex.open();
    ex.open();
    ex.up = 10;
    ex.down = 20;
    ex.finish();
    ex.open();
    assert.deepEqual(
      lines.map((l) => [l.phase, l.up, l.down]),
      [
        ["open", 0, 0],
        [undefined, 10, 20],
      ],
    );
  });

  test("carries the audit trail's field names in their order", () => {
    const { ex, lines } = exchange();
    ex.aimAt(target);
    ex.addr = "93.184.215.14";
    ex.decide(allowed);
    ex.sni = "example.com";
    ex.note("sni checked");
    ex.open();
    ex.finish();
    const fields = ["client", "method", "host", "port", "addr", "decision", "code", "reason"];
    const tail = ["status", "up", "down", "ms", "sni"];
    assert.deepEqual(Object.keys(lines[0] ?? {}), [...fields, ...tail, "phase"]);
    assert.deepEqual(Object.keys(lines[1] ?? {}), [...fields, ...tail]);
    assert.equal(lines[1]?.reason, "example.com is allowlisted; sni checked");
    assert.equal(lines[1]?.host, "example.com");
    assert.equal(lines[1]?.port, 443);
  });

  test("a refusal before any target names none; a refused answer is its addr", () => {
    const bad = exchange();
    bad.ex.refuse(malformed("no port"));
    assert.deepEqual(bad.lines[0] && { ...bad.lines[0], ms: 0 }, {
      client: "198.18.0.2",
      method: "CONNECT",
      host: "",
      port: 0,
      decision: "deny",
      code: "malformed",
      reason: "no port",
      status: 400,
      up: 0,
      down: 0,
      ms: 0,
    });
    const denied = exchange();
    denied.ex.aimAt(target);
    denied.ex.refuse({
      decision: "deny",
      code: "class:private",
      reason: "private",
      status: 403,
      addr: "10.0.0.1",
    });
    assert.equal(denied.lines[0]?.addr, "10.0.0.1");
  });

  test("finishing with no decision is a bug, said loudly", () => {
    const { ex, lines } = exchange();
    ex.aimAt(target);
    assert.throws(() => ex.finish(), /CONNECT example\.com:443 ended with no decision/);
    assert.equal(lines.length, 0);
  });
});
