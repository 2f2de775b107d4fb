// `/telegram/…` on the gateway's agent-facing address: the agent's Bot API root. The agent's
// client calls `/telegram/bot<placeholder>/<method>`; the relay checks the placeholder, drops
// updates from strangers, refuses calls aimed at chats that are not allowlisted, and forwards the
// rest to api.telegram.org with the real token.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Registry } from "prom-client";
import { TELEGRAM_API, TELEGRAM_PLACEHOLDER_TOKEN } from "../../spec/derive.js";
import type { MoatSpec } from "../../spec/schema.js";
import { compileAcl } from "../acl.js";
import { BodyBudget, BodyRefused, bodyLimitsFor, TELEGRAM_MAX_UPLOAD } from "../body-budget.js";
import { withoutHopByHop } from "../headers.js";
import { requestTarget, safeSuffix, sendJson } from "../route-http.js";
import { routeCounter as counter } from "../route-metrics.js";
import { type UpstreamOptions, upstreamDialer } from "../upstream/dial.js";
import { sameSecret } from "../upstream/secret.js";
import { ANSWERS, admitTelegramCall, targetChat } from "./methods.js";
import { encodeCall, parseCall } from "./params.js";
import { type BotResponse, type OffsetKeeper, relayGetUpdates } from "./polling.js";
import { allowlistOf, type DroppedUpdate, filterUpdates, type Update } from "./updates.js";

export type TelegramAuditRecord =
  | {
      event: "telegram.drop";
      updateId: number;
      updateType: string;
      senderId?: number;
      chatId?: number;
      reason: string;
    }
  | { event: "telegram.refuse"; method: string; chatId?: number; reason: string }
  | {
      event: "telegram.call";
      method: string;
      chatId?: number;
      status: number;
      delivered?: number;
      dropped?: number;
      durationMs: number;
    };

export interface TelegramDeps extends UpstreamOptions {
  audit?: (record: TelegramAuditRecord) => void;
  registry?: Registry;
  apiRoot?: string; // tests point this at the fake Bot API's port
  // Injectable only so the tests can show they notice when filtering is switched off.
  judge?: typeof filterUpdates;
  methodCheck?: typeof admitTelegramCall;
  maxUploadBytes?: number;
  // Shared with the LLM routes: bytes held across requests, per-client bodies, deadline.
  bodyBudget?: BodyBudget;
  // A reload's new relay continues from the old one's memory: its offset, the queries it
  // delivered, the drops it logged.
  memory?: RelayMemory;
}

interface RelayMemory {
  keeper: OffsetKeeper;
  queries: DeliveredQueries;
  // The same stranger's update comes back after a relay restart; log it once per process.
  loggedDrops: Set<number>;
}

export interface TelegramRelay {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  memory: RelayMemory;
  // Replaced by a reload: long polls in flight end now as an empty batch, so the agent's next
  // poll meets the new relay (nothing in them was confirmed, so Telegram hands it out again).
  retire(): void;
  close(): void;
}

// A malformed escape is just a wrong token, not a reason to throw.
function decodedOrEmpty(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return "";
  }
}

// Remembers the ids of queries the relay delivered, so only those can be answered. Bounded:
// an unanswered query expires at Telegram long before a thousand newer ones arrive.
class DeliveredQueries {
  private readonly ids = new Set<string>();
  add(method: string, id: unknown) {
    this.ids.add(`${method}:${String(id)}`);
    if (this.ids.size > 1000) this.ids.delete(this.ids.values().next().value as string);
  }
  has = (method: string, id: string) => this.ids.has(`${method}:${id}`);
}

const QUERY_TYPES: Record<string, string> = Object.fromEntries(
  Object.entries(ANSWERS).map(([method, param]) => [param.replace(/_id$/, ""), method]),
);

export function createTelegramRelay(
  spec: MoatSpec,
  botToken: string,
  deps: TelegramDeps = {},
): TelegramRelay {
  const telegram = spec.messengers.telegram;
  if (!telegram) throw new Error("messengers.telegram is not configured");
  const allowlist = allowlistOf(telegram);
  const judge = deps.judge ?? filterUpdates;
  const methodCheck = deps.methodCheck ?? admitTelegramCall;
  const audit = deps.audit ?? (() => {});
  const registry = deps.registry ?? new Registry();
  const root = new URL(deps.apiRoot ?? TELEGRAM_API);
  const dialer = upstreamDialer(spec.egress.allowCidrs, deps);
  const maxUpload = deps.maxUploadBytes ?? TELEGRAM_MAX_UPLOAD;
  const bodies = deps.bodyBudget ?? new BodyBudget(bodyLimitsFor(spec));
  const memory: RelayMemory = deps.memory ?? {
    keeper: { confirmedBelow: 0 },
    queries: new DeliveredQueries(),
    loggedDrops: new Set(),
  };
  const { keeper, queries, loggedDrops } = memory;
  const retiring = new AbortController();
  // URLs may name only hosts the agent may reach itself; the bot's own id is in its token.
  const policy = {
    allowlist,
    hosts: compileAcl(spec.egress.allow),
    botId: Number(botToken.split(":")[0]) || undefined,
    answerable: queries.has,
  };
  const dropped = counter(registry, "moat_telegram_updates_dropped_total", "Updates dropped", ["type"]);
  const delivered = counter(registry, "moat_telegram_updates_delivered_total", "Updates delivered", ["type"]);
  const refused = counter(registry, "moat_telegram_calls_refused_total", "Bot API calls refused", ["method"]);
  // Method names come from the agent; a bounded label set keeps a hostile agent from growing
  // the metrics without end.
  const methodLabels = new Set<string>();
  const methodLabel = (m: string) => {
    const name = m.toLowerCase();
    if (methodLabels.has(name) || (methodLabels.size < 200 && /^[a-z]{1,40}$/.test(name))) {
      methodLabels.add(name);
      return name;
    }
    return "other";
  };

  const answer = (res: ServerResponse, status: number, description: string) =>
    sendJson(res, status, { ok: false, error_code: status, description });

  // The Bot API at its root, with the real token in the path: the one place it goes out.
  const upstream = (
    path: string,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal,
    idleMs: number,
  ) => dialer.send({ root, method, path, headers, body, signal, idleMs });

  async function readAll(msg: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of msg) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  // Telegram never echoes the token, but if it ever did, the agent must not learn it.
  const scrub = (text: string) => text.split(botToken).join(TELEGRAM_PLACEHOLDER_TOKEN);

  function onDrop(drops: DroppedUpdate[]) {
    for (const d of drops) {
      if (loggedDrops.has(d.updateId)) continue;
      loggedDrops.add(d.updateId);
      if (loggedDrops.size > 10_000) loggedDrops.delete(loggedDrops.values().next().value as number);
      dropped.inc({ type: /^[a-z_]{1,40}$/.test(d.type) ? d.type : "other" });
      audit({
        event: "telegram.drop",
        updateId: d.updateId,
        updateType: d.type,
        senderId: d.senderId,
        chatId: d.chatId,
        reason: d.reason,
      });
    }
  }

  async function getUpdates(params: Record<string, unknown>, res: ServerResponse, signal: AbortSignal) {
    let droppedHere = 0;
    const reply = await relayGetUpdates(params, keeper, {
      judge: (updates) => judge(updates, allowlist),
      onDrop: (d) => {
        droppedHere += d.length;
        onDrop(d);
      },
      upstream: async (p) => {
        const timeoutMs = (Number(p.timeout) + 30) * 1000;
        const body = Buffer.from(JSON.stringify(p));
        const up = await upstream(
          `/bot${botToken}/getUpdates`,
          "POST",
          { "content-type": "application/json" },
          body,
          signal,
          timeoutMs,
        );
        const text = (await readAll(up)).toString("utf8");
        try {
          return JSON.parse(text) as BotResponse;
        } catch {
          return { ok: false, error_code: 502, description: "Bad Gateway: unreadable Bot API reply" };
        }
      },
    });
    const updates = reply.ok && Array.isArray(reply.result) ? (reply.result as Update[]) : [];
    for (const u of updates) {
      const type = Object.keys(u).find((k) => k !== "update_id") ?? "empty";
      delivered.inc({ type });
      const method = QUERY_TYPES[type];
      if (method) queries.add(method, (u[type] as { id?: unknown }).id);
    }
    const status = reply.ok ? 200 : (reply.error_code ?? 502);
    sendJson(res, status, JSON.parse(scrub(JSON.stringify(reply))));
    return { status, delivered: updates.length, dropped: droppedHere };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = requestTarget(req);
    const path = url.path.slice("/telegram".length);
    const call = /^\/bot([^/]+)\/([A-Za-z]{1,64})$/.exec(path);
    const file = /^\/file\/bot([^/]+)(\/.+)$/.exec(path);
    const token = decodedOrEmpty((call ?? file)?.[1] ?? "");
    if (!call && !file) return answer(res, 404, "Not Found");
    if (!sameSecret(token, TELEGRAM_PLACEHOLDER_TOKEN)) {
      const method = call?.[2] ?? "file";
      const reason = sameSecret(token, botToken)
        ? "the real bot token was presented; the agent must never hold it"
        : "token is not the placeholder";
      refused.inc({ method: methodLabel(method) });
      audit({ event: "telegram.refuse", method, reason });
      return answer(res, 401, "Unauthorized");
    }
    const abort = new AbortController();
    res.on("close", () => abort.abort());

    try {
      if (file) {
        if (req.method !== "GET" && req.method !== "HEAD") return answer(res, 405, "Method Not Allowed");
        if (!safeSuffix(file[2] as string)) return answer(res, 400, "Bad Request: file path");
        const up = await upstream(
          `/file/bot${botToken}${file[2]}`,
          req.method,
          {},
          undefined,
          abort.signal,
          300_000,
        );
        res.writeHead(up.statusCode ?? 502, withoutHopByHop(up.headers));
        up.pipe(res);
        return;
      }
      const method = call?.[2] as string;
      let body: Buffer;
      try {
        body = await bodies.read(req, res, maxUpload);
      } catch (err) {
        if (err instanceof BodyRefused) return answer(res, err.status, `moat: ${err.message}`);
        res.destroy();
        return;
      }
      const parsed = parseCall(req.headers["content-type"], body, url.query);
      if (!parsed.ok) {
        refused.inc({ method: methodLabel(method) });
        audit({ event: "telegram.refuse", method, reason: parsed.reason });
        return answer(res, 400, `Bad Request: moat: ${parsed.reason}`);
      }
      const params = parsed.call.params;
      const chatId = targetChat(params);
      if (method.toLowerCase() === "getupdates") {
        const r = await getUpdates(params, res, AbortSignal.any([abort.signal, retiring.signal])).catch(
          (err: unknown) => {
            if (abort.signal.aborted || !retiring.signal.aborted) throw err;
            sendJson(res, 200, { ok: true, result: [] });
            return { status: 200, delivered: 0, dropped: 0 };
          },
        );
        audit({ event: "telegram.call", method, ...r, durationMs: Math.round(performance.now() - started) });
        return;
      }
      const verdict = methodCheck(method, params, policy);
      if (!verdict.ok) {
        refused.inc({ method: methodLabel(method) });
        audit({ event: "telegram.refuse", method, chatId, reason: verdict.reason });
        return answer(res, 403, `Forbidden: moat: ${verdict.reason}`);
      }
      // Usually one call; a narrowed command menu is one per allowlisted chat (none: nothing to do).
      let status = 200;
      let type = "application/json";
      let reply = JSON.stringify({ ok: true, result: true });
      for (const callParams of verdict.calls) {
        const encoded = encodeCall({ ...parsed.call, params: callParams });
        const up = await upstream(
          `/bot${botToken}/${method}`,
          "POST",
          { "content-type": encoded.contentType },
          encoded.body,
          abort.signal,
          300_000,
        );
        reply = scrub((await readAll(up)).toString("utf8"));
        status = up.statusCode ?? 502;
        type = String(up.headers["content-type"] ?? type);
        if (status !== 200) break;
      }
      res.writeHead(status, { "content-type": type });
      res.end(reply);
      audit({
        event: "telegram.call",
        method,
        chatId,
        status,
        durationMs: Math.round(performance.now() - started),
      });
    } catch (err) {
      if (abort.signal.aborted) return;
      answer(res, 502, `Bad Gateway: moat: Bot API unreachable (${scrub((err as Error).message)})`);
    }
  }

  return { handle, memory, retire: () => retiring.abort(), close: () => dialer.close() };
}
