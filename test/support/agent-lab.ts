// Namespaces for issue 4's end-to-end tests, linked only to each other:
//
//   agent (198.18.0.2) ── gw (198.18.0.1 | 192.0.2.1) ── inet (192.0.2.254 + "public" hosts)
//
// `inet` runs a DNS server we control and the fake providers and Bot API on 443, as
// api.openai.com, api.anthropic.com and api.telegram.org (test CA). `gw` runs the real
// `moat gateway` with the real secrets; `agent` runs the SDKs and grammY with placeholders and
// has no route anywhere but the gateway.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { makeTestPki } from "../../src/lab/pki.js";
import { inNs, TestNet } from "./netns.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const GATEWAY = "http://198.18.0.1:3128";
export const DNS_IP = "192.0.2.254";
export const LLM_HOST = "93.184.216.10";
export const TELEGRAM_HOST = "93.184.216.12";
export const REAL_KEYS = {
  anthropic: "sk-ant-api03-REAL-netns-anthropic-key",
  openai: "sk-proj-REAL-netns-openai-key",
  gemini: "AIzaREAL-netns-gemini",
};
export const REAL_BOT = "7000000002:AAreal-netns-bot-token";

// Collects a child's stdout JSON lines and its stderr.
export class Proc {
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        this.stderr += `${line}\n`;
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  send(o: unknown) {
    this.child.stdin?.write(`${JSON.stringify(o)}\n`);
  }

  async waitFor<T = Record<string, unknown>>(
    pick: (l: Record<string, unknown>) => boolean,
    what: string,
    ms = 20_000,
  ): Promise<T> {
    const deadline = performance.now() + ms;
    for (;;) {
      const hit = this.lines.find(pick);
      if (hit) return hit as T;
      if (this.child.exitCode !== null)
        throw new Error(`${what}: exited ${this.child.exitCode}: ${this.stderr}`);
      if (performance.now() > deadline) throw new Error(`${what}: timed out; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => this.child.once("exit", (code) => r(code)));
  }
}

export class AgentLab {
  readonly net: TestNet;
  readonly agent: string;
  readonly gw: string;
  readonly inet: string;
  readonly dir = mkdtempSync(join(tmpdir(), "moat-agentlab-"));
  readonly stateDir = join(this.dir, "state");
  readonly auditFile = join(this.dir, "audit.log");
  upstreams!: Proc;
  private caFile = "";

  constructor(prefix: string) {
    this.net = new TestNet(prefix);
    this.agent = this.net.addNs("agent");
    this.gw = this.net.addNs("gw");
    this.inet = this.net.addNs("inet");
  }

  async setup(opts: { holdMs?: number } = {}): Promise<void> {
    const { net, agent, gw, inet } = this;
    net.link(agent, ["198.18.0.2/24"], gw, ["198.18.0.1/24"], "ag");
    net.link(gw, ["192.0.2.1/24"], inet, [`${DNS_IP}/24`], "gi");
    inNs(gw, "ip", ["route", "add", "default", "via", DNS_IP]);
    for (const a of [LLM_HOST, TELEGRAM_HOST]) inNs(inet, "ip", ["addr", "add", `${a}/32`, "dev", "lo"]);
    // The agent gets a default route too, through the gateway host, which does not forward:
    // a direct connection to a provider has somewhere to go and still cannot arrive.
    inNs(agent, "ip", ["route", "add", "default", "via", "198.18.0.1"]);

    const names = ["api.openai.com", "api.anthropic.com", "api.telegram.org"];
    const pki = makeTestPki(names);
    this.caFile = this.write("ca.pem", pki.ca);
    const zone = {
      "api.openai.com": { A: [LLM_HOST] },
      "api.anthropic.com": { A: [LLM_HOST] },
      "api.telegram.org": { A: [TELEGRAM_HOST] },
      // A plain allowlisted site (served by the same fake), implied by nothing in the spec.
      "docs.example.test": { A: [LLM_HOST] },
    };
    const dns = this.spawn(inet, [
      "test/support/fake-dns.ts",
      DNS_IP,
      this.write("zone.json", JSON.stringify(zone)),
    ]);
    const cfg = {
      llmAddress: LLM_HOST,
      telegramAddress: TELEGRAM_HOST,
      cert: pki.cert,
      key: pki.key,
      realKeys: REAL_KEYS,
      botToken: REAL_BOT,
      holdMs: opts.holdMs,
    };
    this.upstreams = this.spawn(inet, [
      "test/support/fake-upstreams.ts",
      this.write("upstreams.json", JSON.stringify(cfg)),
    ]);
    await dns.waitFor((l) => "ready" in l, "fake dns");
    await this.upstreams.waitFor((l) => "ready" in l, "fake upstreams");
  }

  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  spawn(ns: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = this.net.spawn(ns, process.execPath, ["--import", "tsx", ...args], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new Proc(child);
  }

  // The real `moat gateway`, with the real secrets in its environment only.
  async startGateway(yaml: string, args: string[] = []): Promise<Proc> {
    const gw = this.spawn(
      this.gw,
      [
        "src/cli/main.ts",
        "gateway",
        "-c",
        this.write("moat.yaml", yaml),
        "--dns",
        DNS_IP,
        "--audit-log",
        this.auditFile,
        "--state-dir",
        this.stateDir,
        "--metrics-listen",
        "127.0.0.1:9464",
        ...args,
      ],
      {
        NODE_EXTRA_CA_CERTS: this.caFile,
        MOAT_T_ANTHROPIC: REAL_KEYS.anthropic,
        MOAT_T_OPENAI: REAL_KEYS.openai,
        MOAT_T_BOT: REAL_BOT,
      },
    );
    await waitUntil(
      () => gw.stderr.includes("listening on"),
      () => `gateway start: ${gw.stderr}`,
    );
    return gw;
  }

  audit(): Record<string, unknown>[] {
    try {
      return readFileSync(this.auditFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  }

  // Everything the fake upstreams printed of one kind.
  seen(kind: "llm" | "tg" | "batch"): Record<string, unknown>[] {
    return this.upstreams.lines.filter((l) => kind in l).map((l) => l[kind] as Record<string, unknown>);
  }

  cleanup(): void {
    this.net.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitUntil(check: () => boolean, what: () => string, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function labSpec(): string {
  return `
version: 1
name: agentlab
target: { kind: lab }
messengers:
  telegram: { botToken: { env: MOAT_T_BOT }, allowFrom: [111111], allowChats: [-100111] }
llm:
  - { name: gpt, kind: openai, apiKey: { env: MOAT_T_OPENAI }, models: [gpt-4o-mini], budget: { dailyUsd: 1 } }
  - { name: claude, kind: anthropic, apiKey: { env: MOAT_T_ANTHROPIC }, models: [claude-sonnet-4-5] }
gateway: { address: 198.18.0.1, port: 3128, metricsPort: 9464 }
`;
}
