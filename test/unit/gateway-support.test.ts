import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type AuditEntry, openAuditLog } from "../../src/gateway/audit.js";
import { formatDenials, summariseDenials } from "../../src/gateway/denials.js";
import { parseDuration } from "../../src/gateway/duration.js";
import { endToEnd, upstreamRequestHeaders } from "../../src/gateway/headers.js";
import { InternalRouter } from "../../src/gateway/router.js";

const entry = (over: Partial<AuditEntry> & { time?: string }): string =>
  JSON.stringify({
    time: new Date().toISOString(),
    client: "198.18.0.2",
    method: "CONNECT",
    host: "x.test",
    port: 443,
    decision: "deny",
    code: "not-allowlisted",
    reason: "x.test is not in egress.allow",
    status: 403,
    up: 0,
    down: 0,
    ms: 1,
    ...over,
  });

describe("denials summary", () => {
  const old = new Date(Date.now() - 3 * 3600_000).toISOString();
  const lines = [
    entry({ host: "api.example.org" }),
    entry({ host: "api.example.org" }),
    entry({ host: "cdn.example.org", decision: "report", code: "report-unlisted" }),
    entry({ host: "metadata.test", code: "class:metadata" }),
    entry({ host: "private.test", code: "class:private" }),
    entry({ host: "93.184.215.14", code: "ip-literal" }),
    entry({ host: "2606:4700::1111", code: "ip-literal" }),
    entry({ host: "ssh.example.org", port: 22, code: "port" }),
    entry({ host: "allowed.test", decision: "allow", code: "allowlisted" }),
    entry({ host: "stale.example.org", time: old }),
    // Host apply's pulls (listener pull) and the gateway's own routes' hosts are no egress.allow matter.
    JSON.stringify({ ...JSON.parse(entry({ host: "other-registry.example" })), listener: "pull" }),
    entry({ host: "api.telegram.org", code: "gateway-route" }),
    "not json",
    "",
  ];
  const s = summariseDenials(lines, 3600_000);

  test("groups by host, port and reason, newest window only, most frequent first", () => {
    assert.equal(s.rows[0]?.host, "api.example.org");
    assert.equal(s.rows[0]?.count, 2);
    assert.ok(!s.rows.some((r) => r.host === "stale.example.org"));
    assert.ok(!s.rows.some((r) => r.host === "allowed.test"));
    assert.ok(!s.rows.some((r) => r.host === "other-registry.example"), "a pull listener line");
    assert.equal(s.scanned, 12);
  });

  test("suggests names and literals, never address classes or ports", () => {
    assert.deepEqual(s.allow, ["api.example.org", "cdn.example.org"]);
    assert.deepEqual(s.allowCidrs, ["2606:4700::1111/128", "93.184.215.14/32"]);
  });

  test("explains what cannot be allowlisted", () => {
    const text = formatDenials(s, "/var/log/moat/gateway-audit.log", "1h");
    assert.match(text, /Loopback, link-local and metadata refusals never open/);
    assert.match(text, /Private-range refusals can be opened with egress.allowCidrs/);
    assert.match(text, /egress.connectPorts/);
    assert.match(
      text,
      /egress:\n {2}allow:\n {4}- api\.example\.org\n {4}- cdn\.example\.org\n {2}allowCidrs:/,
    );
    assert.match(formatDenials(summariseDenials([], 1000), "f", "1s"), /^No denials in the last 1s/);
  });
});

describe("parseDuration", () => {
  const cases: [string, number | undefined][] = [
    ["500ms", 500],
    ["10s", 10_000],
    ["10", 10_000],
    ["1.5s", 1500],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["2d", 172_800_000],
    ["", undefined],
    ["1w", undefined],
    ["-1s", undefined],
    ["s", undefined],
  ];
  for (const [text, ms] of cases) {
    test(JSON.stringify(text), () => {
      if (ms === undefined) assert.throws(() => parseDuration(text));
      else assert.equal(parseDuration(text), ms);
    });
  }
});

describe("audit log", () => {
  test("one valid JSON line per record, rotated by size, nothing else in it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-audit-"));
    try {
      const file = join(dir, "sub", "audit.log");
      const log = openAuditLog(file, { maxBytes: 2000, keep: 2 });
      for (let i = 0; i < 40; i++) {
        log.record(JSON.parse(entry({ host: `h${i}.test` })) as AuditEntry);
        await new Promise((r) => setTimeout(r, 2));
      }
      log.close();
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`), "rotated files");
      assert.ok(!existsSync(`${file}.3`), "only `keep` rotated files");
      const lines = [`${file}.2`, `${file}.1`, file].flatMap((f) =>
        readFileSync(f, "utf8").split("\n").filter(Boolean),
      );
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(Object.keys(parsed[0] ?? {}), [
        "time",
        "client",
        "method",
        "host",
        "port",
        "decision",
        "code",
        "reason",
        "status",
        "up",
        "down",
        "ms",
      ]);
      // The newest records survive, in order, without gaps.
      const hosts = parsed.map((p) => Number(String(p.host).slice(1, -5)));
      assert.equal(hosts.at(-1), 39);
      for (let i = 1; i < hosts.length; i++) assert.equal(hosts[i], (hosts[i - 1] as number) + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("header hygiene", () => {
  test("hop-by-hop, Connection-listed and proxy credentials are dropped; order and duplicates kept", () => {
    const raw = [
      "Host",
      "evil.test",
      "Proxy-Authorization",
      "Basic c2VjcmV0",
      "Connection",
      "keep-alive, X-Hop",
      "X-Hop",
      "1",
      "Keep-Alive",
      "timeout=5",
      "Proxy-Connection",
      "keep-alive",
      "TE",
      "trailers",
      "Upgrade",
      "h2c",
      "Transfer-Encoding",
      "chunked",
      "Cookie",
      "a=1",
      "cookie",
      "b=2",
      "Authorization",
      "Bearer end-to-end",
    ];
    assert.deepEqual(upstreamRequestHeaders(raw, "public.test", false), [
      "Host",
      "public.test",
      "Cookie",
      "a=1",
      "cookie",
      "b=2",
      "Authorization",
      "Bearer end-to-end",
    ]);
    assert.deepEqual(upstreamRequestHeaders(["Transfer-Encoding", "chunked"], "h", true), [
      "Host",
      "h",
      "Transfer-Encoding",
      "chunked",
    ]);
    assert.deepEqual(endToEnd(["Connection", "close", "Set-Cookie", "a", "Set-Cookie", "b"]), [
      "Set-Cookie",
      "a",
      "Set-Cookie",
      "b",
    ]);
  });
});

describe("internal router", () => {
  const calls: string[] = [];
  const record = (name: string) => () => {
    calls.push(name);
  };
  const router = new InternalRouter()
    .exact("/healthz", record("health"), "GET")
    .prefix("/llm/main", record("llm-main"))
    .prefix("/llm/main/v1/special", record("special"))
    .prefix("/telegram/", record("telegram"));

  function call(method: string, url: string): number {
    let status = 0;
    const res = {
      headersSent: false,
      writeHead(s: number) {
        status = s;
        return this;
      },
      end() {},
    } as unknown as ServerResponse;
    const before = calls.length;
    router.handle({ method, url } as IncomingMessage, res);
    return calls.length > before ? 200 : status;
  }

  const cases: [string, string, string | number][] = [
    ["GET", "/healthz", "health"],
    ["GET", "/healthz?x=1", "health"],
    ["POST", "/healthz", 404],
    ["GET", "/healthz/x", 404],
    ["POST", "/llm/main/v1/messages", "llm-main"],
    ["GET", "/llm/main", "llm-main"],
    ["GET", "/llm/mainx", 404],
    ["POST", "/llm/main/v1/special/x", "special"],
    ["GET", "/telegram/bot123/getUpdates", "telegram"],
    ["GET", "/", 404],
  ];
  for (const [method, url, want] of cases) {
    test(`${method} ${url} → ${want}`, () => {
      const got = call(method, url);
      if (typeof want === "number") assert.equal(got, want);
      else assert.equal(calls.at(-1), want);
    });
  }
});
