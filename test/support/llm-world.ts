// The LLM routes on 127.0.0.1, mounted on the gateway's own internal router, in front of the fake
// providers over TLS (test CA). Names of the fake providers resolve to 127.0.0.1 through an
// injected lookup, so nothing here ever leaves loopback.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import {
  createLlmRoutes,
  type LlmAuditRecord,
  type LlmDeps,
  type LlmRoutes,
} from "../../src/gateway/llm/routes.js";
import { InternalRouter } from "../../src/gateway/router.js";
import { FakeLlm, type FakeLlmOptions } from "../../src/lab/fakes/llm.js";
import { makeTestPki, type TestPki } from "../../src/lab/pki.js";
import { llmPlaceholder } from "../../src/spec/derive.js";
import type { MoatSpec } from "../../src/spec/schema.js";
import { specFrom } from "../helpers.js";

export const FAKE_HOSTS = ["anthropic.fake.test", "openai.fake.test", "gemini.fake.test"];
export const REAL = {
  anthropic: "sk-ant-api03-REAL-anthropic-key-000000000000",
  openai: "sk-proj-REAL-openai-key-11111111111111111111",
  gemini: "AIzaREAL-gemini-key-2222222222222222222",
};

export const loopbackLookup: LookupFunction = (host, opts, cb) => {
  if (!FAKE_HOSTS.includes(host)) {
    cb(Object.assign(new Error(`test lookup: ${host} is not a fake host`), { code: "ENOTFOUND" }), "", 0);
    return;
  }
  if (opts.all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
  else cb(null, "127.0.0.1", 4);
};

export function llmSpec(port: number, extra = ""): MoatSpec {
  return specFrom(`
version: 1
name: llmtest
target: { kind: lab }
llm:
  - { name: claude, kind: anthropic, apiKey: { env: A }, baseUrl: "https://anthropic.fake.test:${port}", models: [claude-sonnet-4-5] ${extra} }
  - { name: gpt, kind: openai, apiKey: { env: O }, baseUrl: "https://openai.fake.test:${port}/v1", models: [gpt-4o-mini] ${extra} }
  - { name: gem, kind: gemini, apiKey: { env: G }, baseUrl: "https://gemini.fake.test:${port}/v1beta", models: [gemini-2.5-flash] ${extra} }
`);
}

export const KEYS = { claude: REAL.anthropic, gpt: REAL.openai, gem: REAL.gemini };

export class LlmWorld {
  readonly pki: TestPki = makeTestPki(FAKE_HOSTS);
  readonly fake: FakeLlm;
  readonly stateDir = mkdtempSync(join(tmpdir(), "moat-llm-state-"));
  readonly audit: LlmAuditRecord[] = [];
  readonly registry = new Registry();
  spec!: MoatSpec;
  routes!: LlmRoutes;
  fakePort = 0;
  gatewayPort = 0;
  private server?: Server;

  constructor(fakeOpts: Partial<FakeLlmOptions> = {}) {
    this.fake = new FakeLlm({ cert: this.pki.cert, key: this.pki.key, realKeys: REAL, ...fakeOpts });
  }

  async start(specExtra = "", deps: Partial<LlmDeps> = {}): Promise<this> {
    this.fakePort = await this.fake.listen("127.0.0.1");
    this.spec = llmSpec(this.fakePort, specExtra);
    await this.startGateway(deps);
    return this;
  }

  // A fresh routes object over the same state directory: what a gateway restart looks like.
  async startGateway(deps: Partial<LlmDeps> = {}, port = 0): Promise<void> {
    this.routes = createLlmRoutes(this.spec, KEYS, {
      lookup: loopbackLookup,
      ca: this.pki.ca,
      stateDir: this.stateDir,
      registry: this.registry,
      audit: (r) => this.audit.push(r),
      ...deps,
    });
    const router = new InternalRouter().prefix("/llm", this.routes.handle);
    this.server = createServer((req, res) => router.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(port, "127.0.0.1", () => r()));
    this.gatewayPort = (this.server.address() as AddressInfo).port;
  }

  async stopGateway(): Promise<void> {
    this.routes.close();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  route(name: string) {
    return `http://127.0.0.1:${this.gatewayPort}/llm/${name}`;
  }

  placeholder(name: string) {
    const p = this.spec.llm.find((l) => l.name === name);
    if (!p) throw new Error(name);
    return llmPlaceholder(p);
  }

  // Everything the providers received that carries a credential the agent holds.
  leaks(): string[] {
    const out: string[] = [];
    for (const c of this.fake.calls) {
      for (const [k, v] of Object.entries(c.headers)) {
        if (String(v).includes("moat-placeholder")) out.push(`${c.path}: ${k} carried a placeholder`);
      }
      const real = REAL[c.shape as keyof typeof REAL];
      if (c.credential !== real) out.push(`${c.path}: provider got ${c.credential ?? "no credential"}`);
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.stopGateway().catch(() => {});
    await this.fake.close();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
