// Issue 13 item 2: a tunnel carries only the name it was opened for. After the gateway vets
// CONNECT public.test:443 it reads the ClientHello before splicing: another SNI (domain fronting
// behind a shared edge), no SNI, an Encrypted Client Hello, or bytes that are not TLS are
// refused with a TLS alert and audited with the SNI seen; an allowCidrs tunnel is exempt and
// says so; a port in egress.plainConnectPorts carries plain bytes; real clients still work.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { FRONTED_SNI } from "../../src/verify/checks/network.js";
import { PROBE_SCRIPT, type ProbeOutcome } from "../../src/verify/probe-script.js";
import {
  GATEWAY_IP,
  GATEWAY_PORT,
  GatewayLab,
  type GatewayProc,
  labYaml,
  PUBLIC4,
  REPO,
  servedBy,
} from "../support/gateway-lab.js";
import { needsRoot } from "../support/root.js";
import type { SniCase, SniResult } from "../support/sni-client.js";
import { craftHello, echExt, realHello, serverNameExt } from "../support/tls-hellos.js";

// The alert the gateway answers a refused hello with: fatal (2), access_denied (49).
const ACCESS_DENIED_ALERT = "15030300020231";

function sniClient(lab: GatewayLab, cases: SniCase[]): Promise<SniResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.client,
        "node",
        "--import",
        "tsx",
        "test/support/sni-client.ts",
        GATEWAY_IP,
        String(GATEWAY_PORT),
        lab.ca,
      ],
      { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("exit", () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`sni-client failed: ${err}`));
      }
    });
    child.stdin.end(JSON.stringify(cases));
  });
}

// moat verify's connect-tls probe (net.gateway-sni), run from the client namespace.
async function verifyProbe(lab: GatewayLab, sni: string): Promise<string> {
  const target = {
    kind: "connect-tls",
    host: GATEWAY_IP,
    port: GATEWAY_PORT,
    target: "public.test:443",
    sni,
  };
  const r = await lab.exec("node", ["-e", PROBE_SCRIPT, JSON.stringify([target]), "4000"]);
  return (JSON.parse(r.stdout) as ProbeOutcome[])[0]?.outcome ?? `no result: ${r.stderr}`;
}

// Median time from CONNECT to a finished TLS handshake over `n` fresh tunnels, one at a time.
async function medianHandshakeMs(lab: GatewayLab, n: number): Promise<number> {
  const cases = Array.from({ length: n }, () => ({ target: "public.test:443", servername: "public.test" }));
  const ms = (await sniClient(lab, cases)).map((r) => r.handshakeMs ?? Number.NaN).sort((a, b) => a - b);
  return ms[Math.floor(n / 2)] as number;
}

describe("a tunnel carries only the name it was opened for", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new GatewayLab("mgw-sni");
  let gw: GatewayProc;
  let checkedMs = Number.NaN;
  const tunnelLines = (port = 443) =>
    gw.audit().filter((l) => l.method === "CONNECT" && l.port === port && l.status === 200 && !l.phase); // close lines
  const upstreamSaw = (path: string) => lab.hits().filter((h) => h.path === path);

  before(async () => {
    await lab.setup();
    gw = await lab.startGateway(labYaml(`  allowCidrs: [${PUBLIC4}/32]`));
  });
  after(() => lab.cleanup());

  test("the matching SNI goes through, with curl and with Node's TLS client, and is audited", async () => {
    const r = await lab.curl("https://public.test/curl-ok");
    assert.equal(r.status, 200, r.stderr);
    assert.equal(servedBy(r.body), PUBLIC4);
    const [node] = await sniClient(lab, [
      { target: "public.test:443", servername: "public.test", path: "/node-ok" },
    ]);
    assert.equal(node?.tls, "secure");
    assert.equal(servedBy(node?.body ?? ""), PUBLIC4);
    const lines = tunnelLines().filter((l) => l.host === "public.test");
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.equal(l.decision, "allow");
      assert.equal(l.sni, "public.test");
    }
  });

  test("a ClientHello split over three TCP writes is read whole and goes through", async () => {
    const hello = await realHello({ servername: "public.test" });
    const cut = [hello.subarray(0, 3), hello.subarray(3, 100), hello.subarray(100)].map((b) =>
      b.toString("hex"),
    );
    const [r] = await sniClient(lab, [{ target: "public.test:443", raw: cut }]);
    // The real server answers the hello with its own (a handshake record), not the gateway's alert.
    assert.equal(r?.reply?.slice(0, 2), "16", JSON.stringify(r));
  });

  test("another SNI in a tunnel vetted for public.test is refused; the upstream never sees the request", async () => {
    const [r] = await sniClient(lab, [
      { target: "public.test:443", servername: "attacker.example", path: "/fronted" },
    ]);
    assert.equal(r?.connect, 200);
    assert.equal(r?.tls, "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED", JSON.stringify(r));
    assert.deepEqual(upstreamSaw("/fronted"), [], "the fronted request reached the upstream");
    const line = gw.audit().find((l) => l.sni === "attacker.example");
    assert.ok(line, "no audit line names the SNI seen");
    assert.equal(line.host, "public.test");
    assert.equal(line.decision, "deny");
    assert.equal(line.code, "sni-mismatch");
    assert.equal(line.reason, "TLS SNI attacker.example in a tunnel opened for public.test");
  });

  test("no SNI, an ECH offer and non-TLS bytes are refused, each with its code", async () => {
    const before = gw.audit().length;
    const http = Buffer.from("GET /plain-on-tls HTTP/1.1\r\nHost: public.test\r\n\r\n").toString("hex");
    const ech = craftHello([serverNameExt("public.test"), echExt()]).toString("hex");
    const results = await sniClient(lab, [
      { target: "public.test:443", servername: "", path: "/no-sni" },
      { target: "public.test:443", raw: [ech] },
      { target: "public.test:443", raw: [http] },
    ]);
    const [noSni, echR, plain] = results;
    assert.equal(noSni?.tls, "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED", JSON.stringify(noSni));
    assert.deepEqual([echR?.reply, echR?.closed], [ACCESS_DENIED_ALERT, true], JSON.stringify(echR));
    assert.deepEqual([plain?.reply, plain?.closed], ["", true], JSON.stringify(plain));
    assert.deepEqual(upstreamSaw("/no-sni"), []);
    assert.deepEqual(upstreamSaw("/plain-on-tls"), []);
    const fresh = gw.audit().slice(before);
    assert.deepEqual(
      fresh.map((l) => [l.decision, l.code, l.sni ?? null]),
      [
        ["deny", "sni-missing", null],
        ["deny", "ech-refused", "public.test"],
        ["deny", "not-tls", null],
      ],
    );
  });

  test("an allowCidrs tunnel (an IP literal) is exempt from the SNI rule and its audit line says so", async () => {
    const [r] = await sniClient(lab, [
      { target: `${PUBLIC4}:443`, servername: "anything.example", path: "/by-ip" },
    ]);
    assert.equal(r?.tls, "secure", JSON.stringify(r));
    const line = tunnelLines().find((l) => l.host === PUBLIC4);
    assert.ok(line);
    assert.equal(line.decision, "allow");
    assert.equal(line.sni, "anything.example");
    assert.match(String(line.reason), /IP literal: SNI not checked/);
  });

  test("a port in egress.plainConnectPorts carries plain bytes unchecked", async () => {
    const [r] = await sniClient(lab, [
      { target: "public.test:8007", raw: [Buffer.from("hello echo\n").toString("hex")] },
    ]);
    assert.equal(Buffer.from(r?.reply ?? "", "hex").toString(), "hello echo\n");
    const line = tunnelLines(8007).at(-1);
    assert.equal(line?.decision, "allow");
    assert.equal(line?.sni, undefined);
  });

  test("latency: CONNECT to finished handshake, with the hello read (compared with the control below)", async (t) => {
    checkedMs = await medianHandshakeMs(lab, 30);
    t.diagnostic(`median CONNECT→handshake with the SNI check: ${checkedMs} ms`);
  });

  test("moat verify's probe: the fronted SNI gets the gateway's alert, the right one a handshake", async () => {
    assert.equal(await verifyProbe(lab, FRONTED_SNI), "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED");
    assert.equal(await verifyProbe(lab, "public.test"), "handshake");
  });

  // Negative control: the same fronted hello against a gateway told 443 carries no TLS. The
  // refusal test above must be able to fail, so here it does: the request reaches the upstream.
  test("negative control: 443 listed in plainConnectPorts lets the fronted tunnel through", async () => {
    await gw.stop();
    const weak = await lab.startGateway(
      labYaml(`  allowCidrs: [${PUBLIC4}/32]`).replace(
        "plainConnectPorts: [8007]",
        "plainConnectPorts: [443, 8007]",
      ),
      { tag: "plain443" },
    );
    const [r] = await sniClient(lab, [
      { target: "public.test:443", servername: "attacker.example", path: "/fronted-weak" },
    ]);
    assert.equal(r?.tls, "secure", JSON.stringify(r));
    assert.equal(upstreamSaw("/fronted-weak").length, 1);
    const line = weak.audit().find((l) => l.host === "public.test" && l.port === 443);
    assert.equal(line?.decision, "allow");
    assert.equal(line?.sni, undefined, "a plain port's tunnel is not read, so no SNI is audited");
    assert.equal(await verifyProbe(lab, FRONTED_SNI), "handshake", "verify's probe must see the hole");
  });

  test("latency without the check (443 plain), for comparison", async (t) => {
    const plainMs = await medianHandshakeMs(lab, 30);
    t.diagnostic(`median CONNECT→handshake without the SNI check: ${plainMs} ms (with: ${checkedMs} ms)`);
  });
});
