// Nothing hangs and nothing crashes: connect, idle and header timeouts, header size and
// per-client tunnel limits, upstream failures as 502/504, and a fuzz of malformed input
// after which the gateway still answers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GATEWAY_IP, GATEWAY_PORT, GatewayLab, type GatewayProc, labYaml } from "../support/gateway-lab.js";
import { needsRoot } from "../support/root.js";

// A small seeded PRNG so a failing fuzz case can be replayed.
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MALFORMED = [
  "\r\n\r\n",
  "GARBAGE\r\n\r\n",
  "GET\r\n\r\n",
  "GET / HTTP/9.9\r\n\r\n",
  "GET /\r\n\r\n",
  "G\u0000T / HTTP/1.1\r\n\r\n",
  "GET http://public.test/ HTTP/1.1\r\nNo colon here\r\n\r\n",
  "GET http://public.test/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
  "POST http://public.test/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "POST http://public.test/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n",
  "CONNECT HTTP/1.1\r\n\r\n",
  "CONNECT :443 HTTP/1.1\r\n\r\n",
  "CONNECT public.test:443 HTTP/1.1\r\nHost public.test\r\n\r\n",
  `CONNECT ${"a".repeat(5000)}.test:443 HTTP/1.1\r\n\r\n`,
  `GET http://public.test/${"x".repeat(20_000)} HTTP/1.1\r\n\r\n`,
  "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003", // a TLS ClientHello, to the wrong port
  "GET http://public.test/ HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
];
const OK_STATUSES = new Set([0, 200, 400, 403, 404, 408, 413, 414, 431, 501, 502, 504, 505]);

describe("limits and robustness", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new GatewayLab("mgw-limits");
  let gw: GatewayProc;

  before(async () => {
    await lab.setup();
    gw = await lab.startGateway(labYaml(), {
      args: [
        "--max-tunnels-per-client",
        "3",
        "--idle-timeout",
        "2s",
        "--connect-timeout",
        "1s",
        "--header-timeout",
        "1s",
      ],
    });
  });
  after(() => lab.cleanup());

  test("upstream failures: refused is 502, silence is 504, both promptly", async () => {
    for (const [url, status] of [
      ["https://refused.test/", 502],
      ["http://refused.test/", 502],
      ["https://blackhole.test/", 504],
      ["http://blackhole.test/", 504],
    ] as const) {
      const started = Date.now();
      const r = await lab.curl(url);
      assert.equal(r.status, status, url);
      assert.ok(Date.now() - started < 3000, `${url} took ${Date.now() - started} ms`);
    }
    const http = await lab.curl("http://blackhole.test/");
    assert.match(http.body, /^moat: error: connecting to 93\.184\.215\.16 port 80 timed out/);
  });

  test("per-client tunnel limit: the extra tunnels get 429, and slots free up on close", async () => {
    const five = lab.tunnels("public.test:8007", 5);
    await five.watched.waitFor(() => five.opened() + five.refused() === 5, "five attempts");
    assert.equal(five.opened(), 3);
    const refusal = five.watched.lines.find((l) => "refused" in l) as { status: number; body: string };
    assert.equal(refusal.status, 429);
    assert.equal(refusal.body, "moat: denied: more than 3 tunnels from 198.18.0.2\n");
    five.exit();
    await five.watched.waitFor(() => five.watched.proc.exitCode !== null, "client exit");
    await new Promise((r) => setTimeout(r, 300));
    const again = lab.tunnels("public.test:8007", 3);
    await again.watched.waitFor(() => again.opened() === 3, "slots freed");
    again.exit();
  });

  test("idle tunnels and silent upstreams are closed after the idle timeout", async () => {
    const idle = lab.tunnels("public.test:8007", 1);
    await idle.watched.waitFor(() => idle.opened() === 1, "open");
    const started = Date.now();
    await idle.watched.waitFor(() => idle.closed() === 1, "idle close", 6000);
    const took = Date.now() - started;
    assert.ok(took >= 1500 && took < 4500, `closed after ${took} ms with a 2 s idle timeout`);
    const hold = await lab.curl("http://public.test/hold");
    assert.equal(hold.status, 504);
  });

  test("a slow request head gets 408; an oversized one 431", async () => {
    const [slow, big, silent] = await lab.raw(
      [
        "CONNECT public.test:443 HTTP/1.1\r\nX-Slow: ",
        `GET http://public.test/ HTTP/1.1\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`,
        "",
      ],
      6000,
    );
    assert.equal(slow?.status, 408);
    assert.ok((slow?.ms ?? 0) < 3500, `408 after ${slow?.ms} ms`);
    assert.equal(big?.status, 431);
    // A connection that never says anything is not kept either.
    assert.notEqual(silent?.error, "timeout", `silent connection kept for ${silent?.ms} ms`);
  });

  test("malformed requests get 4xx (or a closed socket), never a crash", async () => {
    const results = await lab.raw(MALFORMED);
    const bad = results
      .map((r, i) => ({ r, req: MALFORMED[i] as string }))
      .filter(({ r }) => !OK_STATUSES.has(r.status) || r.error === "timeout")
      .map(({ r, req }) => `${JSON.stringify(req.slice(0, 60))} → ${r.status} ${r.error ?? ""}`);
    assert.deepEqual(bad, []);
    // The specific ones: smuggling attempts and bad framing are 400, not forwarded.
    assert.equal(results[7]?.status, 400, "duplicate Content-Length");
    assert.equal(results[8]?.status, 400, "Content-Length with Transfer-Encoding");
    assert.equal(results[9]?.status, 400, "bad chunk size");
  });

  test("random fuzz, then the gateway still serves", async () => {
    const rand = prng(0x5eed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
    const methods = ["GET", "CONNECT", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "TRACE", "PATCH", "X", ""];
    const targets = [
      "public.test:443",
      "http://public.test/",
      "/healthz",
      "*",
      "http://[::1]/",
      "http://%00/",
      "metadata.test:443",
      `${IMDS_LIKE}:80`,
      "http://a b/",
      "",
    ];
    const versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2", "", "HTTP/1.1 extra"];
    const requests: string[] = [];
    for (let i = 0; i < 200; i++) {
      let req = `${pick(methods)} ${pick(targets)} ${pick(versions)}\r\n`;
      const headers = Math.floor(rand() * 4);
      for (let h = 0; h < headers; h++)
        req += pick([
          "Host: x\r\n",
          "Content-Length: 3\r\n",
          "Transfer-Encoding: chunked\r\n",
          ":\r\n",
          "X\r\n",
          "Connection: close\r\n",
        ]);
      req += rand() < 0.8 ? "\r\n" : "";
      if (rand() < 0.3)
        req += String.fromCharCode(
          ...Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)),
        );
      requests.push(req);
    }
    const results = await lab.raw(requests, 4000);
    const odd = results.filter((r) => !OK_STATUSES.has(r.status));
    assert.deepEqual(
      odd.map((r) => r.status),
      [],
    );
    assert.equal(gw.watched.proc.exitCode, null, "the gateway exited");
    const health = await lab.exec("curl", [
      "-sS",
      "--max-time",
      "3",
      `http://${GATEWAY_IP}:${GATEWAY_PORT}/healthz`,
    ]);
    assert.equal(health.stdout, "ok\n");
    assert.doesNotMatch(gw.watched.stderr, /Error|Warning|unexpected/);
  });

  test("clients that vanish mid-setup or mid-tunnel leave nothing behind", async () => {
    // Hang up while the gateway is still resolving (slow.test times out after 1 s).
    await lab.raw(
      Array.from({ length: 20 }, () => "CONNECT slow.test:443 HTTP/1.1\r\n\r\n"),
      100,
    );
    await lab.raw(
      Array.from({ length: 20 }, () => "CONNECT public.test:8007 HTTP/1.1\r\n\r\n"),
      100,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const metrics = await lab.exec("curl", ["-sS", "http://127.0.0.1:9464/metrics"], { ns: lab.gw });
    assert.match(metrics.stdout, /moat_gateway_active_tunnels 0/);
    // And the per-client counter was released: three fresh tunnels still fit.
    const three = lab.tunnels("public.test:8007", 3);
    await three.watched.waitFor(() => three.opened() === 3, "tunnels after churn");
    three.exit();
    assert.equal(gw.watched.proc.exitCode, null);
  });
});

const IMDS_LIKE = "169.254.169.254";
