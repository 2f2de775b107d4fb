// An LLM provider (or anything at its base URL) that answers with a head Node refuses to write
// must get the agent a 502, not throw inside the response listener and take the gateway down.
// Loopback only: a raw TCP "provider" on 127.0.0.1 behind an openai-compatible plain-http route.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcp, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLlmRoutes, type LlmAuditRecord, type LlmRoutes } from "../../src/gateway/llm/routes.js";
import { InternalRouter } from "../../src/gateway/router.js";
import { llmPlaceholder } from "../../src/spec/derive.js";
import { specFrom } from "../helpers.js";
import { loopbackLookup } from "../support/llm-world.js";
import { MALFORMED_RESPONSES } from "../support/malformed-responses.js";

// Status first: those are what made writeHead throw.
const HEADS = MALFORMED_RESPONSES.filter((c) => c.expect === 502 && c.close === "end").sort(
  (a, b) => Number(b.name.startsWith("status")) - Number(a.name.startsWith("status")),
);

// The case rides in a header: the route forwards its inference endpoint only.
function post(port: number, path: string, auth: string, testCase: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json", "x-moat-case": testCase },
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ model: "m", messages: [] }));
  });
}

describe("llm route: malformed provider heads", { timeout: 30_000 }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), "moat-llm-heads-"));
  const audit: LlmAuditRecord[] = [];
  let provider: TcpServer;
  let gateway: Server;
  let routes: LlmRoutes;
  let port = 0;
  let placeholder = "";
  let spec: ReturnType<typeof specFrom>;

  before(async () => {
    provider = createTcp((s) => {
      s.on("error", () => {});
      s.once("data", (d: Buffer) => {
        const name = /^x-moat-case: ([\w-]+)/im.exec(d.toString("latin1"))?.[1];
        const c = MALFORMED_RESPONSES.find((m) => m.name === name);
        s.end(Buffer.from(c?.bytes ?? "HTTP/1.1 404 Nope\r\ncontent-length: 0\r\n\r\n", "latin1"));
      });
    });
    await new Promise<void>((r) => provider.listen(0, "127.0.0.1", () => r()));
    const upstreamPort = (provider.address() as AddressInfo).port;
    spec = specFrom(`
version: 1
name: heads
target: { kind: lab }
llm:
  - { name: local, kind: openai-compatible, apiKey: { env: K }, baseUrl: "http://openai.fake.test:${upstreamPort}/v1", models: [m], prices: { m: { inputPerMTok: 0, outputPerMTok: 0 } } }
  - { name: gone, kind: openai-compatible, apiKey: { env: K }, baseUrl: "http://nowhere.test/v1", models: [m], prices: { m: { inputPerMTok: 1, outputPerMTok: 1 } }, budget: { dailyUsd: 5 } }
`);
    placeholder = llmPlaceholder(spec.llm[0] as (typeof spec.llm)[number]);
    routes = createLlmRoutes(
      spec,
      { local: "sk-real-local", gone: "sk-real-gone" },
      { lookup: loopbackLookup, stateDir, audit: (r) => audit.push(r) },
    );
    const router = new InternalRouter().prefix("/llm", routes.handle);
    gateway = createServer((req, res) => router.handle(req, res));
    await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", () => r()));
    port = (gateway.address() as AddressInfo).port;
  });
  after(async () => {
    routes.close();
    gateway.closeAllConnections();
    await new Promise((r) => gateway.close(r));
    await new Promise((r) => provider.close(r));
    rmSync(stateDir, { recursive: true, force: true });
  });

  test("each bad head is a 502 in the provider's error shape, and the route keeps serving", async () => {
    for (const c of HEADS) {
      const r = await post(port, "/llm/local/chat/completions", `Bearer ${placeholder}`, c.name);
      assert.equal(r.status, 502, `${c.name}: ${r.body}`);
      assert.match(r.body, /moat: upstream /, c.name);
    }
    const bad = audit.filter((a) => a.outcome === "upstream_error");
    assert.equal(bad.length, HEADS.length);
    assert.ok(
      bad.some((a) => /reason phrase with a control character/.test(a.reason ?? "")),
      JSON.stringify(bad),
    );
  });

  // The lookup of its host fails at once: the provider never saw the call, so it costs nothing.
  test("a provider that was never reached charges nothing", async () => {
    const gone = llmPlaceholder(spec.llm[1] as (typeof spec.llm)[number]);
    const r = await post(port, "/llm/gone/chat/completions", `Bearer ${gone}`, "none");
    assert.equal(r.status, 502, r.body);
    const line = audit.filter((a) => a.provider === "gone").at(-1);
    assert.equal(line?.charged, "none", JSON.stringify(line));
    assert.equal(line?.spentTodayUsd, 0);
  });
});
