// The Telegram relay on 127.0.0.1, mounted on the gateway's internal router, in front of the fake
// Bot API over TLS (test CA). The fake's name resolves to 127.0.0.1 through an injected lookup,
// so nothing here leaves loopback. `restart()` replaces the relay with a fresh one (no memory)
// on the same port, as a gateway restart would.
import { createServer, type Server } from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import { Bot } from "grammy";
import { InternalRouter } from "../../src/gateway/router.js";
import {
  createTelegramRelay,
  type TelegramAuditRecord,
  type TelegramDeps,
  type TelegramRelay,
} from "../../src/gateway/telegram/relay.js";
import { FakeTelegram } from "../../src/lab/fakes/telegram.js";
import { makeTestPki, type TestPki } from "../../src/lab/pki.js";
import { TELEGRAM_PLACEHOLDER_TOKEN } from "../../src/spec/derive.js";
import type { MoatSpec } from "../../src/spec/schema.js";
import { specFrom } from "../helpers.js";
import { GROUP, OWNER } from "./telegram-updates.js";

export const REAL_BOT_TOKEN = "7000000001:AAreal-bot-token-never-in-the-agent";
const FAKE_HOST = "telegram.fake.test";
// In egress.allow: the one host whose URLs Telegram may be asked to fetch (previews, file URLs).
export const ALLOWED_WEB_HOST = "docs.allowed.test";

const lookup: LookupFunction = (host, opts, cb) => {
  if (host !== FAKE_HOST) {
    cb(Object.assign(new Error(`test lookup: ${host}`), { code: "ENOTFOUND" }), "", 0);
    return;
  }
  if (opts.all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
  else cb(null, "127.0.0.1", 4);
};

export class TelegramWorld {
  readonly pki: TestPki = makeTestPki([FAKE_HOST]);
  readonly fake = new FakeTelegram(this.pki, REAL_BOT_TOKEN);
  readonly audit: TelegramAuditRecord[] = [];
  readonly spec: MoatSpec = specFrom(`
version: 1
name: tgtest
target: { kind: lab }
messengers:
  telegram: { botToken: { env: T }, allowFrom: [${OWNER}], allowChats: [${GROUP}] }
egress: { allow: [${ALLOWED_WEB_HOST}] }
`);
  relay!: TelegramRelay;
  port = 0;
  restarts = 0;
  private server?: Server;
  private fakePort = 0;
  private deps: Partial<TelegramDeps> = {};

  async start(deps: Partial<TelegramDeps> = {}): Promise<this> {
    this.deps = deps;
    this.fakePort = await this.fake.listen("127.0.0.1");
    await this.startRelay();
    return this;
  }

  private async startRelay() {
    this.relay = createTelegramRelay(this.spec, REAL_BOT_TOKEN, {
      apiRoot: `https://${FAKE_HOST}:${this.fakePort}`,
      lookup,
      ca: this.pki.ca,
      audit: (r) => this.audit.push(r),
      ...this.deps,
    });
    const router = new InternalRouter().prefix("/telegram", this.relay.handle);
    const server = createServer((req, res) => router.handle(req, res));
    this.server = server;
    await new Promise<void>((r) => server.listen(this.port, "127.0.0.1", () => r()));
    this.port = (server.address() as AddressInfo).port;
  }

  // Every connection cut at once, every bit of relay memory gone, then a new relay.
  async restart(): Promise<void> {
    this.restarts++;
    const old = this.server;
    this.relay.close();
    old?.closeAllConnections();
    await new Promise((r) => old?.close(r));
    await this.startRelay();
  }

  get apiRoot() {
    return `http://127.0.0.1:${this.port}/telegram`;
  }

  bot(token = TELEGRAM_PLACEHOLDER_TOKEN, apiRoot = this.apiRoot): Bot {
    return new Bot(token, { client: { apiRoot } });
  }

  async stop(): Promise<void> {
    this.relay.close();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
    await this.fake.close();
  }
}
