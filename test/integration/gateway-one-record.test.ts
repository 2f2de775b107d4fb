// The gateway in-process, on loopback only: every forwarded request ends in exactly one audit
// line however it ends (answered, upstream cut mid-body, client gone mid-body), and a tunnel in
// exactly an open line and a close line. The pipeline seam vets every target to 127.0.0.1, so
// nothing leaves this machine's loopback.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, request as httpRequest, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../src/gateway/audit.js";
import type { Verdict } from "../../src/gateway/decide.js";
import { connectOne } from "../../src/gateway/dial.js";
import { policyFromSpec } from "../../src/gateway/policy.js";
import { Gateway } from "../../src/gateway/server.js";
import { specFrom } from "../helpers.js";

const SPEC = "version: 1\nname: d\ntarget: { kind: lab }\negress: { allow: [up.example] }\n";

describe("one exchange, one audit record", () => {
  let upstream: Server;
  let upstreamPort = 0;
  let gateway: Gateway;
  let gatewayPort = 0;
  const audit: AuditEntry[] = [];
  // Lines land when the exchange is torn down, a tick after the client sees its end.
  const linesFor = async (host: string) => {
    await new Promise((r) => setTimeout(r, 150));
    return audit.filter((e) => e.host === host);
  };

  before(async () => {
    upstream = createServer((req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("x".repeat(10));
      if (req.url === "/cut") setTimeout(() => req.socket.destroy(), 20);
      else if (req.url === "/whole") res.end("y".repeat(90));
      // "/stall": headers and 10 bytes, then nothing: the client leaves, or the idle limit cuts it.
    }).listen(0, "127.0.0.1");
    await once(upstream, "listening");
    upstreamPort = (upstream.address() as { port: number }).port;
    const vetted: Verdict = { action: "allow", code: "allowlisted", reason: "test", addrs: ["127.0.0.1"] };
    gateway = new Gateway({
      // Port 80 carries no TLS here, so a tunnel to it waits for no ClientHello.
      policy: { ...policyFromSpec(specFrom(SPEC)), plainConnectPorts: new Set([80]) },
      resolver: { resolve: async () => ({ ok: false, code: "dns-error", reason: "unused" }) },
      selfAuthorities: [],
      // Short, so an upstream that goes silent mid-body is cut within the test.
      limits: { idleTimeoutMs: 400 },
      audit: { record: (e) => audit.push(e), close() {} },
      pipeline: { admit: () => vetted, screenAnswers: () => vetted },
      dial: (req) => connectOne("127.0.0.1", upstreamPort, req.timeoutMs),
    });
    gatewayPort = (await gateway.listen("127.0.0.1", 0)).port;
  });
  after(async () => {
    await gateway.drain(500);
    upstream.closeAllConnections();
    upstream.close();
  });

  // Resolves with the bytes read once the response ends or breaks; `leaveAfter` bytes, then go.
  const get = (host: string, path: string, leaveAfter?: number) =>
    new Promise<number>((resolve) => {
      let got = 0;
      const req = httpRequest({
        host: "127.0.0.1",
        port: gatewayPort,
        path: `http://${host}:${upstreamPort}${path}`,
        agent: false,
      });
      req.on("error", () => resolve(got));
      req.on("response", (res) => {
        res.on("data", (c: Buffer) => {
          got += c.length;
          if (leaveAfter !== undefined && got >= leaveAfter) req.destroy();
        });
        res.on("end", () => resolve(got));
        res.on("error", () => resolve(got));
        res.on("close", () => resolve(got));
      });
      req.end();
    });

  test("a whole response: one line, allowed, its bytes counted", async () => {
    assert.equal(await get("whole.example", "/whole"), 100);
    const lines = await linesFor("whole.example");
    assert.deepEqual(
      lines.map((l) => [l.decision, l.status, l.down]),
      [["allow", 200, 100]],
    );
  });

  test("an upstream cut mid-body: one line, an error", async () => {
    assert.equal(await get("cut.example", "/cut"), 10);
    const lines = await linesFor("cut.example");
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]?.decision, "error");
  });

  test("a client gone mid-body: one line, client-gone", async () => {
    await get("stall.example", "/stall", 10);
    const lines = await linesFor("stall.example");
    assert.deepEqual(
      lines.map((l) => [l.decision, l.code]),
      [["error", "client-gone"]],
    );
  });

  // Two ends land here: the idle limit's error, then the client connection it closes. Without
  // the exchange's guard this is where a second line would appear.
  test("an upstream silent mid-body: one line, cut by the idle limit", async () => {
    assert.equal(await get("silent.example", "/stall"), 10);
    const lines = await linesFor("silent.example");
    assert.deepEqual(
      lines.map((l) => [l.decision, l.code]),
      [["error", "connect-timeout"]],
    );
  });

  test("a tunnel: an open line, then one close line with its bytes", async () => {
    const s: Socket = connect(gatewayPort, "127.0.0.1");
    s.write(`CONNECT tunnel.example:80 HTTP/1.1\r\nHost: tunnel.example:80\r\n\r\n`);
    const [first] = (await once(s, "data")) as [Buffer];
    assert.match(first.toString(), /^HTTP\/1\.1 200 /);
    s.write(`GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    s.resume();
    await once(s, "close");
    const lines = await linesFor("tunnel.example");
    assert.deepEqual(
      lines.map((l) => [l.phase, l.decision, l.up > 0, l.down > 0]),
      [
        ["open", "allow", false, false],
        [undefined, "allow", true, true],
      ],
    );
  });
});
