// A fake Telegram Bot API over TLS with the real offset rules: getUpdates long-polls, an update
// is confirmed (deleted) once a call's offset passes it, and a second concurrent poll ends the
// first with 409 as Telegram does. Every call is recorded so tests can count upstream traffic
// and see exactly which chats the bot wrote to.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

export interface BotCallRecord {
  method: string;
  token: string;
  params: Record<string, unknown>;
  files: string[];
  at: number;
  // The message_id a send* call was answered with (deleteMessage and edits name it).
  messageId?: number;
}

interface Waiter {
  offset: number;
  limit: number;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

export const FILE_BYTES = Buffer.from("\x89PNG fake image bytes");

export class FakeTelegram {
  readonly calls: BotCallRecord[] = [];
  private pending: Record<string, unknown>[] = [];
  private nextId = 1;
  confirmedBelow = 0;
  private waiter?: Waiter;
  private readonly server: Server;
  // Called with each getUpdates batch just before it is written (tests use it to "crash" the
  // gateway while the batch is in flight).
  onBatch?: (updateIds: number[]) => void;

  constructor(
    tls: { cert: string; key: string },
    private readonly token: string,
  ) {
    this.server = createServer(tls, (req, res) => {
      this.serve(req, res).catch(() => res.destroy());
    });
  }

  listen(host: string, port = 0): Promise<number> {
    return new Promise((resolve) => {
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    if (this.waiter) clearTimeout(this.waiter.timer);
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  push(...bodies: Record<string, unknown>[]): number[] {
    const ids = bodies.map((b) => {
      const id = this.nextId++;
      this.pending.push({ update_id: id, ...b });
      return id;
    });
    this.wake();
    return ids;
  }

  get nextUpdateId(): number {
    return this.nextId;
  }

  pendingIds(): number[] {
    return this.pending.map((u) => u.update_id as number);
  }

  callsTo(method: string): BotCallRecord[] {
    return this.calls.filter((c) => c.method === method);
  }

  private wake() {
    const w = this.waiter;
    if (!w) return;
    const batch = this.batch(w.offset, w.limit);
    if (batch.length) this.reply(w, batch);
  }

  private batch(offset: number, limit: number) {
    return this.pending.filter((u) => (u.update_id as number) >= offset).slice(0, limit);
  }

  // How long to hold a batch before writing it (a window in which a test can kill the gateway).
  holdBatchMs?: (updateIds: number[]) => number;

  private reply(w: Waiter, batch: Record<string, unknown>[]) {
    clearTimeout(w.timer);
    if (this.waiter === w) this.waiter = undefined;
    const ids = batch.map((u) => u.update_id as number);
    this.onBatch?.(ids);
    const hold = this.holdBatchMs?.(ids) ?? 0;
    if (hold > 0) setTimeout(() => json(w.res, 200, { ok: true, result: batch }), hold);
    else json(w.res, 200, { ok: true, result: batch });
  }

  private async serve(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "https://api.telegram.org");
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      this.calls.push({
        method: "file",
        token: file[1] as string,
        params: { path: file[2] },
        files: [],
        at: Date.now(),
      });
      if (file[1] !== this.token)
        return json(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": FILE_BYTES.length });
      return res.end(FILE_BYTES);
    }
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!m) return json(res, 404, { ok: false, error_code: 404, description: "Not Found" });
    const [, token, method] = m as unknown as [string, string, string];
    const { params, files } = await readParams(req.headers["content-type"], body, url.searchParams);
    const record: BotCallRecord = { method, token, params, files, at: Date.now() };
    this.calls.push(record);
    if (token !== this.token)
      return json(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });

    switch (method.toLowerCase()) {
      case "getme":
        return ok(res, {
          id: 1000000001,
          is_bot: true,
          first_name: "moat test bot",
          username: "moat_test_bot",
        });
      case "deletewebhook":
        return ok(res, true);
      case "getfile":
        return ok(res, {
          file_id: params.file_id,
          file_unique_id: "u1",
          file_size: FILE_BYTES.length,
          file_path: "photos/file_1.png",
        });
      case "getupdates":
        return this.getUpdates(params, res);
      case "sendmessage":
      case "sendphoto":
      case "senddocument":
        record.messageId = this.calls.length;
        return ok(res, {
          message_id: record.messageId,
          date: 1_700_000_000,
          chat: { id: Number(params.chat_id), type: Number(params.chat_id) > 0 ? "private" : "supergroup" },
          text: params.text ?? params.caption,
        });
      default:
        return ok(res, true);
    }
  }

  private getUpdates(params: Record<string, unknown>, res: ServerResponse) {
    const offset = Number(params.offset ?? 0);
    const limit = Number(params.limit ?? 100);
    const timeout = Number(params.timeout ?? 0);
    if (offset > 0) {
      this.confirmedBelow = Math.max(this.confirmedBelow, offset);
      this.pending = this.pending.filter((u) => (u.update_id as number) >= offset);
    }
    if (this.waiter) {
      const old = this.waiter;
      this.waiter = undefined;
      clearTimeout(old.timer);
      json(old.res, 409, {
        ok: false,
        error_code: 409,
        description:
          "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
      });
    }
    const batch = this.batch(offset, limit);
    const w: Waiter = { offset, limit, res, timer: setTimeout(() => this.reply(w, []), timeout * 1000) };
    if (batch.length || timeout <= 0) return this.reply(w, batch);
    this.waiter = w;
    res.on("close", () => {
      if (this.waiter === w) {
        clearTimeout(w.timer);
        this.waiter = undefined;
      }
    });
  }
}

// Standard encodings only: the relay re-encodes everything it forwards, and this proves the
// re-encoding is something a stock parser (undici's) reads.
async function readParams(type: string | undefined, body: Buffer, query: URLSearchParams) {
  const params: Record<string, unknown> = Object.fromEntries(query);
  const files: string[] = [];
  const t = (type ?? "").split(";")[0]?.trim();
  if (t === "application/json" && body.length) Object.assign(params, JSON.parse(body.toString()));
  else if (t === "application/x-www-form-urlencoded")
    Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString())));
  else if (t === "multipart/form-data") {
    const form = await new Response(new Uint8Array(body), {
      headers: { "content-type": type as string },
    }).formData();
    for (const [k, v] of form) {
      if (typeof v === "string") params[k] = v;
      else files.push(`${k}:${v.name}:${v.size}`);
    }
  }
  return { params, files };
}

function json(res: ServerResponse, status: number, body: unknown) {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const ok = (res: ServerResponse, result: unknown) => json(res, 200, { ok: true, result });
