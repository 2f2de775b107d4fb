// Tunnel setup latency with and without the ClientHello check, in-process on loopback only:
// the dial seam points the vetted address at a local TLS server. Rounds alternate the two so a
// shared CPU's noise lands on both. Usage: npx tsx scripts/bench-tunnel-hello.ts [tunnels per round]
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, connect as tlsConnect } from "node:tls";
import { connectOne } from "../src/gateway/dial.js";
import { policyFromSpec } from "../src/gateway/policy.js";
import { Gateway } from "../src/gateway/server.js";
import { specFrom } from "../test/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "moat-bench-hello-"));
execFileSync(
  "openssl",
  [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, "k.pem"),
    "-out",
    join(dir, "c.pem"),
    "-days",
    "1",
    "-subj",
    "/CN=public.test",
  ],
  { stdio: "ignore" },
);
const tlsSrv = createServer(
  { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) },
  (s) => s.end(),
).listen(0, "127.0.0.1");
rmSync(dir, { recursive: true, force: true });
await once(tlsSrv, "listening");
const upPort = (tlsSrv.address() as { port: number }).port;
async function run(plain: boolean, n: number) {
  const spec = `version: 1\nname: d\ntarget: { kind: lab }\negress: { allow: [public.test]${plain ? ", plainConnectPorts: [443]" : ""} }\n`;
  const g = new Gateway({
    policy: policyFromSpec(specFrom(spec)),
    resolver: { resolve: async () => ({ ok: true, answers: ["93.184.215.14"] }) },
    selfAuthorities: [],
    dial: (req) => connectOne("127.0.0.1", upPort, req.timeoutMs),
  });
  const port = (await g.listen("127.0.0.1", 0)).port;
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const socket = await new Promise<import("node:net").Socket>((res) => {
      const r = request({ host: "127.0.0.1", port, method: "CONNECT", path: "public.test:443" });
      r.on("connect", (_q, s) => res(s));
      r.end();
    });
    await new Promise<void>((res) => {
      const t = tlsConnect({ socket, servername: "public.test", rejectUnauthorized: false });
      t.on("secureConnect", () => {
        ms.push(performance.now() - t0);
        t.destroy();
        res();
      });
      t.on("error", (e) => {
        console.error(e);
        res();
      });
    });
  }
  await g.drain(100);
  ms.sort((a, b) => a - b);
  return { median: ms[n >> 1]?.toFixed(2), p90: ms[Math.floor(n * 0.9)]?.toFixed(2) };
}
const n = Number(process.argv[2] ?? 300);
for (const round of [1, 2, 3, 4]) {
  console.log(
    `round ${round}: CONNECT→TLS handshake ms, hello checked`,
    await run(false, n),
    "| 443 plain (unchecked)",
    await run(true, n),
  );
}
process.exit(0);
