// Nothing an upstream or a client sends can stop the gateway (issue 13, item 3). A raw TCP
// upstream answers with each malformed response in turn; after EACH one the gateway process is
// alive, /healthz answers and an allowed request still goes through. Then malformed client
// requests on the forwarding path, and tunnels audited when they open (a SIGKILL leaves a trace).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GatewayLab, type GatewayProc, labYaml, REPO, Watched } from "../support/gateway-lab.js";
import { MALFORMED_RESPONSES } from "../support/malformed-responses.js";
import { needsRoot } from "../support/root.js";

const RAW_PORT = 8081;
const yaml = labYaml().replace("httpPorts: [80]", `httpPorts: [80, ${RAW_PORT}]`);
const get = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe("malformed upstream responses and requests", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new GatewayLab("mgw-ufuzz");
  let gw: GatewayProc;

  before(async () => {
    await lab.setup();
    const upstream = new Watched(
      lab.net.spawn(
        lab.inet,
        "node",
        ["--import", "tsx", "test/support/malformed-upstream.ts", String(RAW_PORT)],
        {
          cwd: REPO,
        },
      ),
    );
    await upstream.waitFor(() => upstream.lines.some((l) => "ready" in l), "malformed upstream start");
    gw = await lab.startGateway(yaml, { args: ["--idle-timeout", "3s", "--connect-timeout", "1s"] });
  });
  after(() => lab.cleanup());

  // The process is alive, answers its own health check and still forwards an allowed request.
  async function stillServing(after: string) {
    const alive = gw.watched.proc.exitCode === null;
    assert.ok(
      alive,
      `after ${after}: the gateway exited (${gw.watched.proc.exitCode}): ${gw.watched.stderr.slice(-1500)}`,
    );
    const [health, allowed] = await lab.raw([get("/healthz"), get("http://public.test/")], 4000);
    assert.equal(health?.body, "ok\n", `after ${after}: /healthz`);
    assert.equal(allowed?.status, 200, `after ${after}: allowed request`);
    // Chunked on the wire (raw bytes), so look for the fake host's JSON inside.
    assert.match(allowed?.body ?? "", /"server":"93\.184\.215\.14"/, `after ${after}: allowed body`);
  }

  test("each malformed response gets a 502 (or a cut body) and the gateway keeps serving", async () => {
    const seen: string[] = [];
    for (const c of MALFORMED_RESPONSES) {
      const [r] = await lab.raw([get(`http://public.test:${RAW_PORT}/case/${c.name}`)], 6000);
      seen.push(`${c.name} → ${r?.status} ${r?.error ?? ""} ${r?.body.trim().slice(0, 80)}`);
      assert.notEqual(r?.error, "timeout", `${c.name}: the client was left hanging`);
      if (c.expect === 502) {
        assert.equal(r?.status, 502, `${c.name}: ${seen.at(-1)}`);
        assert.match(r?.body ?? "", /^moat: error: /, c.name);
      } else {
        assert.ok(r?.status === 0 || (r?.status ?? 0) < 300, `${c.name}: ${seen.at(-1)}`);
      }
      await stillServing(c.name);
    }
    process.stderr.write(`${seen.join("\n")}\n`);
  });

  test("a head Node would refuse to relay is refused with its reason and audited", async () => {
    const [r] = await lab.raw([get(`http://public.test:${RAW_PORT}/case/reason-ctl`)]);
    assert.equal(r?.body, "moat: error: upstream sent a reason phrase with a control character\n");
    const lines = gw.audit().filter((l) => l.code === "bad-upstream-response");
    const statuses = lines.map((l) => l.reason);
    for (const want of [
      /reason phrase/,
      /status 99\b/,
      /status 0\b/,
      /status 600\b/,
      /malformed response \(Parse Error: Invalid header value char\)/,
    ]) {
      assert.ok(
        statuses.some((s) => want.test(String(s))),
        `no bad-upstream-response line matching ${want}: ${JSON.stringify(statuses)}`,
      );
    }
    for (const l of lines) assert.equal(l.status, 502);
  });

  test("malformed client requests on the forwarding path: answered or cut, never a crash", async () => {
    const requests = [
      // A body that stops half-way, then the client hangs up.
      `POST http://public.test/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf`,
      // A chunked body with a bad chunk size after a good one.
      `POST http://public.test/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nQQ\r\n`,
      // Expect: 100-continue to an upstream that sends garbage.
      `POST http://public.test:${RAW_PORT}/case/status-099 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok`,
      // Pipelined: a forwarded request and a bad one on the same connection.
      `${get(`http://public.test:${RAW_PORT}/case/reason-ctl`)}${get("http://public.test/")}`,
      // A header value with a byte Node's writer refuses.
      `GET http://public.test/ HTTP/1.1\r\nHost: x\r\nX-A: \x7f\r\n\r\n`,
    ];
    for (const req of requests) {
      await lab.raw([req], 1500);
      await stillServing(JSON.stringify(req.slice(0, 50)));
    }
  });

  test("negative controls: without the head check the net logs the request; without both, a crash", async () => {
    await gw.stop();
    const netOnly = await lab.startGateway(yaml, { tag: "net-only", weaken: ["head-check-off"] });
    const [r] = await lab.raw([get(`http://public.test:${RAW_PORT}/case/reason-ctl`)], 3000);
    assert.notEqual(r?.status, 502, "the head check is off, yet the agent got the 502 it gives");
    await netOnly.watched.waitFor(() => netOnly.watched.stderr.includes("still serving"), "last-resort line");
    assert.match(
      netOnly.watched.stderr,
      /uncaughtException while serving GET http:\/\/public\.test:8081\/case\/reason-ctl from 198\.18\.0\.2: TypeError \[ERR_INVALID_CHAR\]/,
    );
    gw = netOnly;
    await stillServing("reason-ctl with the head check off");
    await netOnly.stop();

    const bare = await lab.startGateway(yaml, { tag: "bare", weaken: ["head-check-off", "last-resort-off"] });
    await lab.raw([get(`http://public.test:${RAW_PORT}/case/reason-ctl`)], 3000);
    await bare.watched.waitFor(
      () => bare.watched.proc.exitCode !== null,
      "the unguarded gateway crashes",
      5000,
    );
    assert.notEqual(bare.watched.proc.exitCode, 0);
    gw = await lab.startGateway(yaml, { tag: "after-controls" });
  });

  test("a tunnel is audited when it opens, so a SIGKILL leaves a trace of it", async () => {
    await gw.stop();
    const killed = await lab.startGateway(yaml, { tag: "killed" });
    const tunnel = lab.tunnels("public.test:8007", 1);
    await tunnel.watched.waitFor(() => tunnel.opened() === 1, "tunnel open");
    await new Promise((r) => setTimeout(r, 500));
    await killed.stop("SIGKILL");
    const opens = killed.audit().filter((l) => l.method === "CONNECT" && l.host === "public.test");
    assert.equal(opens.length, 1, `audit lines for the open tunnel: ${JSON.stringify(killed.audit())}`);
    assert.equal(opens[0]?.phase, "open");
    assert.equal(opens[0]?.decision, "allow");
    assert.equal(opens[0]?.port, 8007);
    tunnel.exit();
  });
});
