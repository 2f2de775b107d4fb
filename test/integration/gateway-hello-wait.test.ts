// The gateway in-process, on loopback only: while a tunnel waits for its ClientHello the upstream
// is already connected, so whatever the upstream does in that gap (reset, close, speak first)
// must neither crash the gateway nor leak into the tunnel. The dial seam points every vetted
// address at a loopback server, so nothing leaves this machine's loopback.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../src/gateway/audit.js";
import { connectOne } from "../../src/gateway/dial.js";
import { policyFromSpec } from "../../src/gateway/policy.js";
import { Gateway } from "../../src/gateway/server.js";
import { specFrom } from "../helpers.js";
import { realHello } from "../support/tls-hellos.js";

const SPEC =
  "version: 1\nname: d\ntarget: { kind: lab }\negress: { allow: [reset.example, early.example] }\n";

describe("the gap between dial and ClientHello", () => {
  let upstream: Server;
  let gateway: Gateway;
  let gatewayPort = 0;
  const upstreamSockets: Socket[] = [];
  const audit: AuditEntry[] = [];
  // Audit lines land when the tunnel is torn down, a tick after the client sees its close.
  const lastAudit = async () => {
    await new Promise((r) => setTimeout(r, 50));
    return audit.at(-1);
  };

  before(async () => {
    // reset.example's server resets 100 ms after accepting; early.example's speaks first.
    upstream = createServer((s) => {
      upstreamSockets.push(s);
      s.on("error", () => {});
      s.once("data", () => {});
    }).listen(0, "127.0.0.1");
    await once(upstream, "listening");
    const upstreamPort = (upstream.address() as { port: number }).port;
    gateway = new Gateway({
      policy: policyFromSpec(specFrom(SPEC)),
      resolver: { resolve: async () => ({ ok: true, answers: ["93.184.215.14"] }) },
      selfAuthorities: [],
      audit: { record: (e) => audit.push(e), close() {} },
      dial: (req) => connectOne("127.0.0.1", upstreamPort, req.timeoutMs),
    });
    gatewayPort = (await gateway.listen("127.0.0.1", 0)).port;
  });
  after(async () => {
    await gateway.drain(500);
    upstream.close();
  });

  const openTunnel = async (name: string): Promise<Socket> => {
    const s = connect(gatewayPort, "127.0.0.1");
    s.write(`CONNECT ${name}:443 HTTP/1.1\r\nHost: ${name}:443\r\n\r\n`);
    const [first] = (await once(s, "data")) as [Buffer];
    assert.match(first.toString(), /^HTTP\/1\.1 200 /);
    return s;
  };

  test("an upstream that resets while the client has not spoken yet does not crash the gateway", {
    timeout: 5000,
  }, async () => {
    const before = upstreamSockets.length;
    const client = await openTunnel("reset.example");
    client.on("error", () => {});
    client.resume();
    const closed = once(client, "close");
    const up = upstreamSockets[before] as Socket;
    up.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 100));
    client.write(await realHello({ servername: "reset.example" }));
    // The tunnel closes with its upstream, whether or not the hello was sent; never a crash.
    await closed;
    assert.equal(gateway.server.listening, true);
    const line = await lastAudit();
    assert.deepEqual([line?.host, line?.decision, line?.code], ["reset.example", "error", "upstream-closed"]);
  });

  test("an upstream that speaks first is not heard before the hello is judged", {
    timeout: 5000,
  }, async () => {
    const before = upstreamSockets.length;
    const client = await openTunnel("early.example");
    const got: Buffer[] = [];
    client.on("data", (d: Buffer) => got.push(d));
    (upstreamSockets[before] as Socket).write("banner before any hello\r\n");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(Buffer.concat(got).length, 0, "upstream bytes reached the client before its hello");
    client.write(Buffer.from("SSH-2.0-x\r\n"));
    await once(client, "close");
    assert.equal(Buffer.concat(got).toString(), "", "a refused tunnel must carry nothing back");
    const line = await lastAudit();
    assert.deepEqual([line?.host, line?.decision, line?.code], ["early.example", "deny", "not-tls"]);
  });
});
