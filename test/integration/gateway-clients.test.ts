// Real clients the agent uses, through the gateway, from the agent's namespace: undici's
// EnvHttpProxyAgent and ProxyAgent (OpenClaw's global dispatcher), Python's urllib, curl.
// Also the routes addressed to the gateway itself, however a client spells them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  GATEWAY_IP,
  GATEWAY_PORT,
  GatewayLab,
  type GatewayProc,
  IMDS,
  labYaml,
  PROXY,
  PUBLIC4,
  PUBLIC6,
  servedBy,
} from "../support/gateway-lab.js";
import { needsRoot } from "../support/root.js";

interface ClientResult {
  status?: number;
  body?: string;
  error?: string;
}

const PY = `
import sys, ssl, json, urllib.request, urllib.error
url, proxy, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({"http": proxy, "https": proxy}),
    urllib.request.HTTPSHandler(context=ctx))
try:
    r = opener.open(url, timeout=10)
    print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
except Exception as e:
    print(json.dumps({"error": str(e)}))
`;

describe("real clients through the gateway", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new GatewayLab("mgw-clients");
  let gw: GatewayProc;
  const env = () => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HTTP_PROXY: PROXY,
    HTTPS_PROXY: PROXY,
  });

  const undici = async (mode: string, url: string): Promise<ClientResult> => {
    const r = await lab.exec(
      "node",
      ["--import", "tsx", "test/support/undici-client.ts", mode, url, lab.ca],
      { env: env() },
    );
    return JSON.parse(r.stdout || `{"error":${JSON.stringify(r.stderr)}}`);
  };
  const python = async (url: string): Promise<ClientResult> => {
    const r = await lab.exec("python3", ["-c", PY, url, PROXY, lab.ca], {
      env: { ...env(), PYENV_VERSION: process.env.PYENV_VERSION },
    });
    return JSON.parse(r.stdout || `{"error":${JSON.stringify(r.stderr)}}`);
  };

  before(async () => {
    await lab.setup();
    gw = await lab.startGateway(labYaml());
  });
  after(() => lab.cleanup());

  test("undici EnvHttpProxyAgent: https through CONNECT", async () => {
    const ok = await undici("env", "https://public.test/");
    assert.equal(ok.status, 200, ok.error);
    assert.equal(servedBy(ok.body ?? ""), PUBLIC4);
    const v6 = await undici("env", "https://v6only.test/");
    assert.equal(servedBy(v6.body ?? ""), PUBLIC6);
    const denied = await undici("env", "https://metadata.test/");
    assert.match(denied.error ?? "", /403/);
  });

  test("undici ProxyAgent: https through CONNECT", async () => {
    const ok = await undici("proxy-agent", "https://public.test/");
    assert.equal(servedBy(ok.body ?? ""), PUBLIC4, ok.error);
    const denied = await undici("proxy-agent", "https://other.test/");
    assert.match(denied.error ?? "", /403/);
  });

  test("undici http:// without tunnelling uses absolute-form and is screened", async () => {
    const ok = await undici("env-no-tunnel", "http://public.test/");
    assert.equal(servedBy(ok.body ?? ""), PUBLIC4, ok.error);
    const denied = await undici("env-no-tunnel", "http://mixed.test/");
    assert.equal(denied.status, 403);
    assert.equal(denied.body, "moat: denied: mixed.test resolves to 169.254.169.254 (metadata)\n");
  });

  test("undici's default tunnels http:// as CONNECT host:80, refused unless 80 is a connect port", async () => {
    const r = await undici("env", "http://public.test/");
    assert.match(r.error ?? "", /403/);
    const line = [...gw.audit()].reverse().find((l) => l.host === "public.test" && l.port === 80);
    assert.equal(line?.code, "port");
  });

  test("python urllib: https and http", async () => {
    const https = await python("https://public.test/");
    assert.equal(https.status, 200, https.error);
    assert.equal(servedBy(https.body ?? ""), PUBLIC4);
    const http = await python("http://public.test/");
    assert.equal(servedBy(http.body ?? ""), PUBLIC4);
    const denied = await python("http://metadata.test/");
    assert.equal(denied.status, 403);
    assert.match(denied.body ?? "", /^moat: denied: /);
    const tunnelDenied = await python(`https://${IMDS}/`);
    assert.match(tunnelDenied.error ?? "", /403/);
  });

  test("routes addressed to the gateway itself: origin-form, absolute-form and CONNECT", async () => {
    const origin = await lab.exec("curl", ["-sS", `http://${GATEWAY_IP}:${GATEWAY_PORT}/healthz`]);
    assert.equal(origin.stdout, "ok\n");
    const absolute = await lab.curl(`http://${GATEWAY_IP}:${GATEWAY_PORT}/healthz`);
    assert.equal(absolute.status, 200);
    assert.equal(absolute.body, "ok\n");
    // undici's default tunnels even http:// — CONNECT to the gateway lands in the router.
    const tunnelled = await undici("env", `http://${GATEWAY_IP}:${GATEWAY_PORT}/healthz`);
    assert.equal(tunnelled.status, 200, tunnelled.error);
    assert.equal(tunnelled.body, "ok\n");
    const missing = await undici("env", `http://${GATEWAY_IP}:${GATEWAY_PORT}/nope`);
    assert.equal(missing.status, 404);
    // Another port on the gateway's address is not the gateway: refused by class.
    const otherPort = await lab.raw([`CONNECT ${GATEWAY_IP}:443 HTTP/1.1\r\n\r\n`]);
    assert.equal(otherPort[0]?.status, 403);
  });

  test("hop-by-hop and proxy credentials stop at the gateway; end-to-end headers pass", async () => {
    const r = await lab.curl("http://public.test/echo", [
      "-i",
      "-H",
      "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==",
      "-H",
      "Authorization: Bearer end-to-end-token",
      "-H",
      "Connection: keep-alive, X-Hop-Secret",
      "-H",
      "X-Hop-Secret: must-not-pass",
      "-H",
      "Keep-Alive: timeout=5",
      "-H",
      "TE: trailers",
      "-H",
      "X-Kept: yes",
    ]);
    const [head, body] = r.body.split("\r\n\r\n") as [string, string];
    const upstream = JSON.parse(body) as { headers: Record<string, string> };
    assert.equal(upstream.headers["proxy-authorization"], undefined);
    assert.equal(upstream.headers["x-hop-secret"], undefined);
    assert.equal(upstream.headers["keep-alive"], undefined);
    assert.equal(upstream.headers.te, undefined);
    assert.equal(upstream.headers.authorization, "Bearer end-to-end-token");
    assert.equal(upstream.headers["x-kept"], "yes");
    assert.equal(upstream.headers.host, "public.test");
    // And on the way back: the origin's Connection-listed header is dropped.
    assert.match(head, /x-upstream-hop: kept/i);
    assert.doesNotMatch(head, /x-secret-hop/i);
  });

  test("request bodies pass intact, chunked or not, and are counted, never logged", async () => {
    const secret = "body-secret-4f1c";
    const fixed = await lab.curl("http://public.test/upload", [
      "--data-binary",
      `${secret}${"x".repeat(100_000)}`,
    ]);
    assert.equal((JSON.parse(fixed.body) as { received: number }).received, 100_000 + secret.length);
    const chunked = await lab.curl("http://public.test/upload", [
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      "y".repeat(50_000),
    ]);
    assert.equal((JSON.parse(chunked.body) as { received: number }).received, 50_000);
    const big = await lab.curl("https://public.test/big?bytes=5000000", ["-o", "/dev/null"]);
    assert.equal(big.status, 200);
    await new Promise((r) => setTimeout(r, 200));
    const text = JSON.stringify(gw.audit());
    assert.ok(!text.includes(secret), "a body reached the audit log");
    assert.ok(!text.includes("c2VjcmV0OnNlY3JldA"), "a proxy credential reached the audit log");
    assert.ok(!text.includes("end-to-end-token"), "an Authorization header reached the audit log");
    const upload = gw.audit().find((l) => l.method === "POST" && l.up === 100_000 + secret.length);
    assert.ok(upload, "upload bytes were not counted");
    const download = gw.audit().find((l) => l.method === "CONNECT" && (l.down as number) > 5_000_000);
    assert.ok(download, "tunnel bytes were not counted");
  });
});
