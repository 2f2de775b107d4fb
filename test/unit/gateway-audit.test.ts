// The audit trail cannot be flushed by the agent (issue 13, item 7): values it controls are cut
// to a few hundred bytes (with their length and hash), refusals from one client are limited in
// volume with a counted "suppressed" line, and allowed decisions always get through.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type AuditEntry, openAuditLog } from "../../src/gateway/audit.js";
import { VolumeLimiter } from "../../src/gateway/audit-bounds.js";
import { readAuditLines } from "../../src/gateway/denials.js";

const line = (over: Partial<AuditEntry>): AuditEntry => ({
  client: "198.18.0.2",
  method: "CONNECT",
  host: "x.test",
  port: 443,
  decision: "deny",
  code: "malformed",
  reason: "bad",
  status: 400,
  up: 0,
  down: 0,
  ms: 1,
  ...over,
});
const settle = () => new Promise((r) => setTimeout(r, 150));

describe("audit trail under a flood", () => {
  test("an 11 MiB value is logged as a few hundred bytes with its length and hash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-audit-"));
    try {
      const file = join(dir, "audit.log");
      const log = openAuditLog(file);
      const huge = `http://${"a".repeat(11 << 20)}/`;
      log.record(line({ host: huge, reason: `malformed target ${huge}` }));
      log.close();
      await settle();
      const [text] = readAuditLines(file).filter(Boolean);
      assert.ok(text && text.length < 1500, `the line is ${text?.length} bytes`);
      const e = JSON.parse(text as string);
      const sha = createHash("sha256").update(huge).digest("hex").slice(0, 16);
      assert.match(
        e.host,
        new RegExp(`^http://a{100,}… \\[${Buffer.byteLength(huge)} bytes, sha256 ${sha}\\]$`),
      );
      assert.match(e.reason, /^malformed target http:\/\/a+… \[\d+ bytes, sha256 [0-9a-f]{16}\]$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("negative control: with the volume limit lifted, the same flood erases the earlier line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-audit-"));
    try {
      const file = join(dir, "audit.log");
      const log = openAuditLog(file, {
        maxBytes: 64 << 10,
        keep: 2,
        volume: { burstBytes: Number.MAX_SAFE_INTEGER },
      });
      log.record(line({ host: "earlier.test" }));
      for (let i = 0; i < 1000; i++) {
        log.record(line({ host: `flood${i}.test`, reason: "r".repeat(250) }));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      log.close();
      await settle();
      const hosts = readAuditLines(file)
        .filter(Boolean)
        .map((l) => JSON.parse(l).host);
      assert.ok(
        !hosts.includes("earlier.test"),
        "the flood did not rotate the earlier line out: the test cannot fail",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a suppressed client is counted every reportEveryMs and refills at its rate", () => {
    let now = 0;
    const written: Record<string, unknown>[] = [];
    const limiter = new VolumeLimiter(
      { burstBytes: 1000, bytesPerSecond: 100, reportEveryMs: 1000 },
      () => now,
      (l) => written.push(l),
    );
    const deny = line({ reason: "x".repeat(200) });
    const cost = JSON.stringify(deny).length + 40;
    const fits = Math.floor(1000 / cost);
    for (let i = 0; i < fits + 5; i++) limiter.record(deny);
    assert.equal(written.length, fits);
    limiter.record(line({ decision: "allow", code: "allow" }));
    assert.equal(written.length, fits + 1, "an allowed line is never suppressed");
    now = 1000;
    limiter.record(deny);
    const report = written.find((l) => l.decision === "suppressed");
    assert.equal(report?.suppressed, 5);
    assert.match(
      String(report?.reason),
      /^5 lines \(\d+ bytes\) from 198\.18\.0\.2 over the audit volume limit/,
    );
    // One second at 100 bytes/s refilled less than one line: this one is suppressed too.
    assert.equal(written.at(-1)?.decision, "suppressed");
    now = 1000 + Math.ceil((cost / 100) * 1000);
    limiter.record(deny);
    assert.equal(written.at(-1), deny, "refilled at its rate");
  });

  test("flood: the earlier line survives, a later allowed one is written, the flood is counted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-audit-"));
    try {
      const file = join(dir, "audit.log");
      // Small files so that, unbounded, the flood would rotate the earlier line out many times over.
      const log = openAuditLog(file, { maxBytes: 256 << 10, keep: 2 });
      log.record(line({ host: "earlier.test", decision: "deny", code: "not-allowlisted" }));
      log.record(
        line({ client: "198.18.0.9", host: "earlier-allowed.test", decision: "allow", code: "allow" }),
      );
      const junk = "j".repeat(20_000);
      for (let i = 0; i < 3000; i++)
        log.record(line({ host: `flood${i}.${junk}.test`, reason: `bad ${junk}` }));
      log.record(line({ host: "later.test", decision: "allow", code: "allow", status: 200 }));
      log.record(line({ client: "198.18.0.3", host: "other-client.test" }));
      log.close();
      await settle();
      const lines = readAuditLines(file)
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      const hosts = lines.map((l) => l.host);
      assert.ok(hosts.includes("earlier.test"), "the earlier denial was flushed out of the log");
      assert.ok(hosts.includes("earlier-allowed.test"), "the earlier allowed line was flushed out");
      assert.ok(hosts.includes("later.test"), "the allowed decision after the flood is missing");
      assert.ok(hosts.includes("other-client.test"), "another client's denial was suppressed with the flood");
      const suppressed = lines.filter((l) => l.decision === "suppressed" && l.client === "198.18.0.2");
      assert.ok(suppressed.length >= 1, "no suppressed line for the flooding client");
      const counted = suppressed.reduce((n, l) => n + l.suppressed, 0);
      const written = lines.filter((l) => String(l.host).startsWith("flood")).length;
      assert.equal(counted + written, 3000, "every flood line is either written or counted");
      assert.ok(written < 3000, "nothing was suppressed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
