// The gateway's socket layer: a thin shell over the pure pipeline (target → decide → dial).
// CONNECT becomes a spliced tunnel; absolute-form http:// is forwarded with hop-by-hop
// headers stripped; anything addressed to the gateway itself goes to the internal router.
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type AuditEntry, type AuditSink, nullAudit } from "./audit.js";
import { defaultPipeline, type Pipeline, type RequestKind, type Verdict } from "./decide.js";
import { DialError, type Dialer, dialVetted } from "./dial.js";
import { endToEnd, upstreamRequestHeaders } from "./headers.js";
import { ACCESS_DENIED_ALERT, readHello } from "./hello-reader.js";
import { requestLabel, withRequest } from "./last-resort.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Policy } from "./policy.js";
import type { NameResolver } from "./resolve.js";
import { defaultRouter, type InternalRouter, plain } from "./router.js";
import { shownSni, sniVerdict } from "./sni.js";
import { authorityOf, type HttpTarget, parseConnectTarget, parseHttpTarget, type Target } from "./target.js";
import { BAD_UPSTREAM_RESPONSE, checkUpstreamHead } from "./upstream-head.js";

export interface GatewayLimits {
  connectTimeoutMs: number;
  // A tunnel or forwarded request with no bytes either way for this long is closed.
  idleTimeoutMs: number;
  // The whole request head must arrive within this (slowloris).
  headersTimeoutMs: number;
  maxHeaderBytes: number;
  maxTunnelsPerClient: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  headersTimeoutMs: 10_000,
  maxHeaderBytes: 16_384,
  maxTunnelsPerClient: 512,
};

export interface GatewayOptions {
  policy: Policy;
  resolver: NameResolver;
  // host:port spellings that mean the gateway itself, e.g. "198.18.0.1:3128".
  selfAuthorities: readonly string[];
  limits?: Partial<GatewayLimits>;
  // Only egress lines come from here; the whole sink is one (AuditSink takes every kind).
  audit?: AuditSink<AuditEntry>;
  metrics?: GatewayMetrics;
  router?: InternalRouter;
  // Seams for negative-control tests only; production uses the defaults.
  pipeline?: Pipeline;
  dial?: Dialer;
  headCheck?: typeof checkUpstreamHead;
}

interface Refusal {
  decision: "deny" | "error";
  code: string;
  reason: string;
  status: number;
  addr?: string;
}
type Evaluation =
  | { ok: true; verdict: Extract<Verdict, { addrs: string[] }> }
  | { ok: false; refusal: Refusal };

const ESTABLISHED = "HTTP/1.1 200 Connection Established\r\n\r\n";
const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  408: "Request Timeout",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
const PREFIX: Record<string, string> = { deny: "moat: denied: ", error: "moat: error: " };

const noop = () => {};
const since = (start: number) => Math.round((performance.now() - start) * 100) / 100;

export class Gateway {
  readonly server: Server;
  private policy: Policy;
  private readonly limits: GatewayLimits;
  private readonly self: ReadonlySet<string>;
  private readonly audit: AuditSink<AuditEntry>;
  private readonly router: InternalRouter;
  private readonly pipeline: Pipeline;
  private readonly dial: Dialer;
  private readonly headCheck: typeof checkUpstreamHead;
  // Pooled upstream connections for plain HTTP, keyed by the vetted IP and port.
  private readonly agent: Agent;
  // Open tunnels, client socket → upstream socket.
  private readonly tunnels = new Map<Socket, Socket>();
  private readonly tunnelsPerClient = new Map<string, number>();
  private inflight = 0;
  private draining = false;

  constructor(private readonly opts: GatewayOptions) {
    this.policy = opts.policy;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.self = new Set(opts.selfAuthorities);
    this.audit = opts.audit ?? nullAudit;
    this.router = opts.router ?? defaultRouter();
    this.pipeline = opts.pipeline ?? defaultPipeline;
    this.dial = opts.dial ?? dialVetted;
    this.headCheck = opts.headCheck ?? checkUpstreamHead;
    this.agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" });
    this.server = createServer({
      maxHeaderSize: this.limits.maxHeaderBytes,
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: 0,
      // Node checks header/request deadlines on this interval; the default 30 s is too coarse.
      connectionsCheckingInterval: Math.min(1000, this.limits.headersTimeoutMs),
      requireHostHeader: false,
      noDelay: true,
    });
    // The client socket's own idle limit sits a little above the upstream's, so a silent
    // upstream is reported to the client as a 504 before the client connection is cut.
    this.server.timeout = this.limits.idleTimeoutMs + 1000;
    // Each request runs in its own context, so a failure the last-resort net catches is logged
    // with the request it belongs to.
    this.server.on("request", (req, res) =>
      withRequest(requestLabel(req.method ?? "", req.url ?? "", req.socket.remoteAddress ?? ""), () =>
        this.onRequest(req, res),
      ),
    );
    this.server.on("connect", (req, socket: Socket, head) =>
      withRequest(requestLabel("CONNECT", req.url ?? "", socket.remoteAddress ?? ""), () =>
        this.onConnect(req, socket, head),
      ),
    );
    this.server.on("upgrade", (_req, socket: Socket) =>
      rawReply(socket, 400, "moat: bad request: Upgrade over plain HTTP is not supported; use CONNECT"),
    );
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    );
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  // Swap the whole policy at once; requests in flight keep the one they started with.
  setPolicy(policy: Policy): void {
    this.policy = policy;
  }

  get activeTunnels(): number {
    return this.tunnels.size;
  }

  // Stop accepting, let tunnels and requests finish for up to `boundMs`, then cut the rest.
  async drain(boundMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + boundMs;
    while ((this.tunnels.size > 0 || this.inflight > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const [client, upstream] of this.tunnels) {
      client.destroy();
      upstream.destroy();
    }
    this.server.closeAllConnections();
    this.agent.destroy();
    await closed;
    // Close events (and their audit lines) land a tick after destroy(); wait for them.
    for (let i = 0; i < 100 && (this.tunnels.size > 0 || this.inflight > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private isSelf(t: Target): boolean {
    return t.ip !== undefined && this.self.has(authorityOf(t));
  }

  private async evaluate(kind: RequestKind, target: Target, policy = this.policy): Promise<Evaluation> {
    const req = { kind, target };
    let verdict: Verdict;
    const adm = this.pipeline.admit(req, policy);
    if (adm.action === "lookup") {
      const r = await this.opts.resolver.resolve(adm.name);
      if (!r.ok) {
        const status = r.code === "dns-timeout" ? 504 : 502;
        return { ok: false, refusal: { decision: "error", code: r.code, reason: r.reason, status } };
      }
      verdict = this.pipeline.screenAnswers(req, adm, r.answers, policy);
    } else {
      verdict = adm;
    }
    this.opts.metrics?.decision(verdict.action, verdict.code);
    if (verdict.action === "deny") {
      return {
        ok: false,
        refusal: {
          decision: "deny",
          code: verdict.code,
          reason: verdict.reason,
          status: 403,
          addr: verdict.addr,
        },
      };
    }
    return { ok: true, verdict };
  }

  private record(e: AuditEntry): void {
    this.audit.record(e);
    if (e.up || e.down) this.opts.metrics?.relayed(e.up, e.down);
  }

  private refusalEntry(
    method: string,
    client: string,
    t: Target | undefined,
    r: Refusal,
    start: number,
  ): AuditEntry {
    const e: AuditEntry = {
      client,
      method,
      host: t?.host ?? "",
      port: t?.port ?? 0,
      decision: r.decision,
      code: r.code,
      reason: r.reason,
      status: r.status,
      up: 0,
      down: 0,
      ms: since(start),
    };
    if (r.addr) e.addr = r.addr;
    return e;
  }

  // ---- CONNECT --------------------------------------------------------------------------

  private onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const start = performance.now();
    socket.on("error", noop);
    const client = socket.remoteAddress ?? "";
    if (this.draining) {
      rawReply(socket, 503, "moat: error: gateway is shutting down");
      return;
    }
    const parsed = parseConnectTarget(req.url ?? "");
    if (!parsed.ok) {
      this.refuseTunnel(socket, client, undefined, malformed(parsed.reason), start);
      return;
    }
    const target = parsed.target;
    if (this.isSelf(target)) {
      // A client that tunnels everything (undici's default) reaches the router this way.
      socket.write(ESTABLISHED);
      if (head.length > 0) socket.unshift(head);
      this.server.emit("connection", socket);
      return;
    }
    const open = this.tunnelsPerClient.get(client) ?? 0;
    if (open >= this.limits.maxTunnelsPerClient) {
      const reason = `more than ${this.limits.maxTunnelsPerClient} tunnels from ${client}`;
      this.opts.metrics?.decision("deny", "tunnel-limit");
      this.refuseTunnel(
        socket,
        client,
        target,
        { decision: "deny", code: "tunnel-limit", reason, status: 429 },
        start,
      );
      return;
    }
    this.tunnelsPerClient.set(client, open + 1);
    this.openTunnel(socket, client, target, head, start).catch((err) => {
      socket.destroy();
      process.emitWarning(`moat gateway: tunnel setup failed: ${(err as Error).stack ?? err}`);
    });
  }

  private releaseClient(client: string): void {
    const n = (this.tunnelsPerClient.get(client) ?? 1) - 1;
    if (n <= 0) this.tunnelsPerClient.delete(client);
    else this.tunnelsPerClient.set(client, n);
  }

  private refuseTunnel(
    socket: Socket,
    client: string,
    t: Target | undefined,
    r: Refusal,
    start: number,
  ): void {
    rawReply(socket, r.status, `${r.status === 400 ? "moat: bad request: " : PREFIX[r.decision]}${r.reason}`);
    this.record(this.refusalEntry("CONNECT", client, t, r, start));
  }

  private async openTunnel(socket: Socket, client: string, target: Target, head: Buffer, start: number) {
    const policy = this.policy;
    const evaluation = await this.evaluate("CONNECT", target, policy);
    if (!evaluation.ok) {
      this.releaseClient(client);
      this.refuseTunnel(socket, client, target, evaluation.refusal, start);
      return;
    }
    const { verdict } = evaluation;
    let upstream: Socket;
    try {
      upstream = await this.dial({
        name: target.host,
        addrs: verdict.addrs,
        port: target.port,
        timeoutMs: this.limits.connectTimeoutMs,
      });
    } catch (err) {
      this.releaseClient(client);
      const code = err instanceof DialError ? err.code : "connect-failed";
      const status = code === "connect-timeout" ? 504 : 502;
      this.refuseTunnel(
        socket,
        client,
        target,
        { decision: "error", code, reason: (err as Error).message, status },
        start,
      );
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      this.releaseClient(client);
      this.record({
        ...this.refusalEntry(
          "CONNECT",
          client,
          target,
          {
            decision: "error",
            code: "client-gone",
            reason: "client left before the tunnel opened",
            status: 0,
          },
          start,
        ),
        addr: upstream.remoteAddress ?? "",
      });
      return;
    }
    // Read now: a closed socket no longer knows its peer.
    const addr = upstream.remoteAddress ?? "";
    this.opts.metrics?.setupTook("tunnel", (performance.now() - start) / 1000);
    socket.write(ESTABLISHED);
    const entry: AuditEntry = {
      client,
      method: "CONNECT",
      host: target.host,
      port: target.port,
      addr,
      decision: verdict.action,
      code: verdict.code,
      reason: verdict.reason,
      status: 200,
      up: 0,
      down: 0,
      ms: 0,
    };
    const first = await this.screenHello(socket, upstream, target, head, policy, entry);
    if (!first) {
      this.releaseClient(client);
      this.record({ ...entry, ms: since(start) });
      return;
    }
    // Audited now as well as at close: a crash or SIGKILL must not leave an open tunnel untraced.
    this.record({ ...entry, ms: since(start), phase: "open" });
    if (first.length > 0) upstream.write(first);
    this.splice(socket, upstream, () => {
      this.releaseClient(client);
      this.record({ ...entry, up: upstream.bytesWritten, down: upstream.bytesRead, ms: since(start) });
    });
  }

  // On a TLS port, hold the tunnel until its ClientHello names the vetted host (sni.ts). Returns
  // the bytes to send upstream first, or undefined when the tunnel was refused and closed; the
  // audit entry is amended with the SNI seen and the SNI verdict either way.
  private async screenHello(
    socket: Socket,
    upstream: Socket,
    target: Target,
    head: Buffer,
    policy: Policy,
    entry: AuditEntry,
  ): Promise<Buffer | undefined> {
    if (policy.plainConnectPorts.has(target.port)) return head;
    // Tracked while waiting, so a drain cuts a tunnel that never sends its hello.
    this.tunnels.set(socket, upstream);
    // The upstream is connected but not yet spliced: an error or close from it now must end the
    // tunnel here (an unhandled error would take the whole gateway down).
    let upstreamClosed = false;
    const onUpstreamClosed = () => {
      upstreamClosed = true;
      socket.destroy();
    };
    upstream.on("error", noop);
    upstream.once("close", onUpstreamClosed);
    const read = await readHello(socket, head, this.limits.headersTimeoutMs);
    upstream.off("close", onUpstreamClosed);
    this.tunnels.delete(socket);
    if (read.kind === "gone" || upstreamClosed) {
      upstream.destroy();
      socket.destroy();
      Object.assign(entry, {
        decision: "error",
        ...(upstreamClosed
          ? { code: "upstream-closed", reason: "upstream closed before the client's ClientHello" }
          : { code: "client-gone", reason: "client left before its ClientHello" }),
      });
      return undefined;
    }
    if (read.hello.kind === "hello" && read.hello.sni !== undefined) entry.sni = shownSni(read.hello.sni);
    const sv = sniVerdict(target, read.hello, policy);
    if (sv.action === "pass") {
      if (sv.note) entry.reason = `${entry.reason}; ${sv.note}`;
      return read.bytes;
    }
    this.opts.metrics?.decision(sv.action, sv.code);
    Object.assign(entry, { decision: sv.action, code: sv.code, reason: sv.reason });
    if (sv.action === "report") return read.bytes;
    upstream.destroy();
    if (read.hello.kind === "hello") socket.end(ACCESS_DENIED_ALERT);
    else socket.end();
    setTimeout(() => socket.destroy(), 2000).unref();
    return undefined;
  }

  // Bytes flow both ways through pipe(); an end on one side half-closes the other; an error,
  // or no bytes either way for idleTimeoutMs, closes both. `done` runs once, after both close.
  private splice(client: Socket, upstream: Socket, done: () => void): void {
    const { metrics } = this.opts;
    this.tunnels.set(client, upstream);
    metrics?.activeTunnels.inc();
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    let open = 2;
    const closed = () => {
      if (--open > 0) return;
      this.tunnels.delete(client);
      metrics?.activeTunnels.dec();
      done();
    };
    upstream.on("error", kill);
    client.on("error", kill);
    // A side that closes without an error takes the other with it, once its writes flush.
    upstream.on("close", () => {
      client.destroySoon();
      closed();
    });
    client.on("close", () => {
      upstream.destroySoon();
      closed();
    });
    client.setTimeout(this.limits.idleTimeoutMs, kill);
    upstream.setTimeout(this.limits.idleTimeoutMs, kill);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  // ---- plain HTTP -----------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "";
    if (this.draining) {
      res.shouldKeepAlive = false;
      plain(res, 503, "moat: error: gateway is shutting down");
      return;
    }
    if (url.startsWith("/")) {
      this.router.handle(req, res);
      return;
    }
    const start = performance.now();
    const client = req.socket.remoteAddress ?? "";
    const parsed = parseHttpTarget(url);
    if (!parsed.ok) {
      this.refuseHttp(req, res, client, undefined, malformed(parsed.reason), start);
      return;
    }
    const target = parsed.target;
    if (this.isSelf(target)) {
      req.url = target.path;
      this.router.handle(req, res);
      return;
    }
    this.inflight++;
    res.once("close", () => this.inflight--);
    this.forward(req, res, client, target, start).catch((err) => {
      res.destroy();
      process.emitWarning(`moat gateway: forwarding failed: ${(err as Error).stack ?? err}`);
    });
  }

  private refuseHttp(
    req: IncomingMessage,
    res: ServerResponse,
    client: string,
    t: Target | undefined,
    r: Refusal,
    start: number,
  ): void {
    // The body the client may still be sending is not wanted; close after the reply.
    res.shouldKeepAlive = false;
    plain(res, r.status, `${r.status === 400 ? "moat: bad request: " : PREFIX[r.decision]}${r.reason}`);
    req.resume();
    this.record(this.refusalEntry(req.method ?? "", client, t, r, start));
  }

  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    client: string,
    target: HttpTarget,
    start: number,
  ) {
    const evaluation = await this.evaluate("HTTP", target);
    if (!evaluation.ok) {
      this.refuseHttp(req, res, client, target, evaluation.refusal, start);
      return;
    }
    const { verdict } = evaluation;
    // Plain HTTP uses the pooled agent, so it dials the first vetted address (IPv4 first).
    const addr = verdict.addrs[0] as string;
    const hostHeader = target.port === 80 ? bracket(target.host) : authorityOf(target);
    const chunked = /\bchunked\b/i.test(String(req.headers["transfer-encoding"] ?? ""));
    let up = 0;
    let down = 0;
    let finished = false;
    const finish = (decision: AuditEntry["decision"], code: string, reason: string, status: number) => {
      if (finished) return;
      finished = true;
      this.record({
        client,
        method: req.method ?? "",
        host: target.host,
        port: target.port,
        addr,
        decision,
        code,
        reason,
        status,
        up,
        down,
        ms: since(start),
      });
    };
    const upstreamReq = request({
      host: addr,
      port: target.port,
      method: req.method,
      path: target.path,
      headers: upstreamRequestHeaders(req.rawHeaders, hostHeader, chunked),
      setHost: false,
      agent: this.agent,
    });
    upstreamReq.on("socket", (s: Socket) => {
      if (!s.connecting) return;
      const timer = setTimeout(
        () =>
          upstreamReq.destroy(
            new DialError("connect-timeout", `connecting to ${addr} port ${target.port} timed out`),
          ),
        this.limits.connectTimeoutMs,
      );
      s.once("connect", () => clearTimeout(timer));
      s.once("close", () => clearTimeout(timer));
    });
    upstreamReq.setTimeout(this.limits.idleTimeoutMs, () =>
      upstreamReq.destroy(
        new DialError(
          "connect-timeout",
          `no response from ${target.host} within ${this.limits.idleTimeoutMs} ms`,
        ),
      ),
    );
    // Set once the gateway has answered for itself (a refused head); later errors are its echo.
    let answered = false;
    const refuseHead = (reason: string) => {
      answered = true;
      upstreamReq.destroy();
      res.shouldKeepAlive = false;
      plain(res, 502, `moat: error: ${reason}`);
      finish("error", BAD_UPSTREAM_RESPONSE, reason, 502);
    };
    upstreamReq.on("error", (err: Error) => {
      if (answered) return;
      // llhttp's refusals of a malformed head (HPE_*) are the upstream's fault, named as such.
      const malformedHead = (err as NodeJS.ErrnoException).code?.startsWith("HPE_") && !res.headersSent;
      if (malformedHead) return refuseHead(`upstream sent a malformed response (${err.message})`);
      const code = err instanceof DialError ? err.code : "upstream-error";
      if (!res.headersSent) {
        const status = code === "connect-timeout" ? 504 : 502;
        res.shouldKeepAlive = false;
        plain(res, status, `moat: error: ${err.message}`);
        finish("error", code, err.message, status);
      } else {
        res.destroy();
        finish("error", code, err.message, res.statusCode);
      }
    });
    // A 101 to a request that asked for no upgrade: nothing to splice it to.
    upstreamReq.on("upgrade", (_upRes, socket: Socket) => {
      socket.destroy();
      refuseHead("upstream sent status 101 to a request that asked for no upgrade");
    });
    upstreamReq.on("response", (upRes) => {
      this.opts.metrics?.setupTook("http", (performance.now() - start) / 1000);
      upRes.on("error", () => res.destroy());
      const head = this.headCheck(upRes.statusCode, upRes.statusMessage, upRes.rawHeaders);
      if (!head.ok) {
        upRes.resume();
        refuseHead(head.reason);
        return;
      }
      const status = upRes.statusCode as number;
      res.writeHead(status, upRes.statusMessage, endToEnd(upRes.rawHeaders));
      upRes.on("data", (chunk: Buffer) => {
        down += chunk.length;
      });
      upRes.pipe(res);
      upRes.on("end", () => finish(verdict.action, verdict.code, verdict.reason, status));
    });
    req.on("data", (chunk: Buffer) => {
      up += chunk.length;
    });
    // A client that leaves mid-way takes the upstream request with it.
    res.once("close", () => {
      if (!res.writableFinished) {
        upstreamReq.destroy();
        finish("error", "client-gone", "client closed the connection", res.statusCode);
      }
    });
    req.pipe(upstreamReq);
  }

  // ---- malformed input ------------------------------------------------------------------

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? "unknown";
    this.opts.metrics?.clientErrors.labels(code).inc();
    if (code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      code === "HPE_HEADER_OVERFLOW"
        ? 431
        : code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "ERR_HTTP_HEADERS_TIMEOUT"
          ? 408
          : 400;
    rawReply(
      socket,
      status,
      `moat: bad request: ${status === 400 ? `malformed HTTP (${code})` : STATUS_TEXT[status]}`,
    );
  }
}

const malformed = (reason: string): Refusal => ({ decision: "deny", code: "malformed", reason, status: 400 });
const bracket = (host: string) => (host.includes(":") ? `[${host}]` : host);

// A complete response written straight to a socket that has left the HTTP parser (CONNECT,
// parse errors), then closed.
function rawReply(socket: Socket, status: number, line: string): void {
  if (socket.destroyed) return;
  const body = `${line}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  // Do not wait forever for the client's FIN on a half-open socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}
