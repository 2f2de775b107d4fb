// The lab's cloud and internet, one process in the "cloud" namespace: the metadata service (and
// the resolver at the cloud's address for it), the fake LLM providers and Bot API on 443 with the
// lab's CA, and two ordinary websites (one the spec allowlists, one nobody does). Every request is
// appended to events.jsonl in the lab's state directory; a control socket there (a Unix socket,
// reachable from this machine without any network path into the lab) pushes Telegram updates
// and sets the fake LLM's script (fakes/llm-script.ts).
import { appendFileSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { Server as NetServer } from "node:net";
import { join } from "node:path";
import { serveDns } from "./fakes/dns.js";
import { FakeLlm } from "./fakes/llm.js";
import { answer, type LlmScript, lastTurn, llmScriptSchema } from "./fakes/llm-script.js";
import { type Flavour, metadataHandler } from "./fakes/metadata.js";
import { FakeTelegram } from "./fakes/telegram.js";

export interface CloudConfig {
  name: string;
  flavour: Flavour;
  metadata: { v4: string; v6: string; resolver: string };
  zone: Record<string, { A: string[] }>;
  addresses: { llm: string; telegram: string; site: string; unlisted: string };
  tls: { cert: string; key: string };
  llmKeys: { anthropic: string; openai: string; gemini: string };
  botToken: string;
}

export const EVENTS_FILE = "events.jsonl";
export const CONTROL_SOCKET = "control.sock";

const listen = (server: NetServer, port: number, host: string) =>
  new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, ipv6Only: host.includes(":") }, () => resolve());
  });

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
}

export async function runCloud(stateDir: string): Promise<void> {
  const cfg = JSON.parse(readFileSync(join(stateDir, "cloud.json"), "utf8")) as CloudConfig;
  const event = (kind: string, detail: object) =>
    appendFileSync(
      join(stateDir, EVENTS_FILE),
      `${JSON.stringify({ at: new Date().toISOString(), kind, ...detail })}\n`,
    );

  const metadata = metadataHandler(cfg.flavour, cfg.name, (hit) => event("metadata", hit));
  for (const host of [cfg.metadata.v4, cfg.metadata.v6]) await listen(createHttp(metadata), 80, host);
  const dns = serveDns(cfg.metadata.resolver, cfg.zone, (name, type) => event("dns", { name, type }));
  await new Promise<void>((resolve) => dns.once("listening", () => resolve()));

  const llm = new FakeLlm({ cert: cfg.tls.cert, key: cfg.tls.key, realKeys: cfg.llmKeys });
  // The lab's model answers by its script (`moat lab up/chat --script`); empty: it echoes.
  let script: LlmScript = [];
  llm.respond = (shape, body) => answer(script, lastTurn(shape, body));
  await llm.listen(cfg.addresses.llm, 443);
  const telegram = new FakeTelegram(cfg.tls, cfg.botToken);
  await telegram.listen(cfg.addresses.telegram, 443);
  let llmSeen = 0;
  let telegramSeen = 0;
  setInterval(() => {
    for (const c of llm.calls.slice(llmSeen))
      event("llm", { shape: c.shape, path: c.path, credential: c.credential, body: c.body });
    llmSeen = llm.calls.length;
    for (const c of telegram.calls.slice(telegramSeen))
      event("telegram", { method: c.method, token: c.token, params: c.params, messageId: c.messageId });
    telegramSeen = telegram.calls.length;
  }, 50).unref();

  for (const [site, address] of [
    ["allowlisted", cfg.addresses.site],
    ["unlisted", cfg.addresses.unlisted],
  ] as const) {
    const page = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      event("site", { site, address, port: req.socket.localPort, method: req.method, path: req.url });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`moat lab: the ${site} website\n`);
    };
    await listen(createHttp(page), 80, address);
    await listen(createHttps(cfg.tls, page), 443, address);
  }

  const socket = join(stateDir, CONTROL_SOCKET);
  rmSync(socket, { force: true });
  const control = createHttp(async (req, res) => {
    try {
      if (req.method === "POST" && req.url === "/telegram/updates") {
        const updates = (await readBody(req)) as Record<string, unknown>[];
        res.end(JSON.stringify({ pushed: telegram.push(...updates) }));
        return;
      }
      if (req.method === "PUT" && req.url === "/llm/script") {
        script = llmScriptSchema.parse(await readBody(req));
        event("llm-script", { rules: script.length });
        res.end(JSON.stringify({ rules: script.length }));
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  });
  await new Promise<void>((resolve) => control.listen(socket, () => resolve()));
  event("ready", { flavour: cfg.flavour });
}
