// The gateway's socket layer: listeners and routing, a thin shell over the pipeline
// (target → decide → dial). CONNECT becomes a tunnel (tunnel.ts); absolute-form http:// is
// forwarded (forward.ts); anything addressed to the gateway itself goes to the internal router.
// Every tunnel and forwarded request is one Exchange (exchange.ts), which writes its audit line.
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type AuditEntry, type AuditSink, nullAudit } from "./audit.js";
import { defaultPipeline, type Pipeline } from "./decide.js";
import { type Dialer, dialVetted } from "./dial.js";
import { Exchange, malformed } from "./exchange.js";
import { type ForwardDeps, forward, refuseHttp } from "./forward.js";
import { requestLabel, withRequest } from "./last-resort.js";
import { DEFAULT_LIMITS, type GatewayLimits } from "./limits.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Policy } from "./policy.js";
import { ESTABLISHED, rawReply, STATUS_TEXT } from "./replies.js";
import type { NameResolver } from "./resolve.js";
import { defaultRouter, type InternalRouter, plain } from "./router.js";
import { authorityOf, parseConnectTarget, parseHttpTarget, type Target } from "./target.js";
import { refuseTunnel, Tunnels } from "./tunnel.js";
import { checkUpstreamHead } from "./upstream-head.js";

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

const noop = () => {};

export class Gateway {
  readonly server: Server;
  private policy: Policy;
  private readonly limits: GatewayLimits;
  private readonly self: ReadonlySet<string>;
  private readonly audit: AuditSink<AuditEntry>;
  private readonly router: InternalRouter;
  private readonly tunnels: Tunnels;
  private readonly forwarding: ForwardDeps;
  private inflight = 0;
  private draining = false;

  constructor(private readonly opts: GatewayOptions) {
    this.policy = opts.policy;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.self = new Set(opts.selfAuthorities);
    this.audit = opts.audit ?? nullAudit;
    this.router = opts.router ?? defaultRouter();
    const vetting = {
      pipeline: opts.pipeline ?? defaultPipeline,
      resolver: opts.resolver,
      metrics: opts.metrics,
    };
    this.tunnels = new Tunnels({ ...vetting, limits: this.limits, dial: opts.dial ?? dialVetted });
    this.forwarding = {
      ...vetting,
      limits: this.limits,
      agent: new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" }),
      headCheck: opts.headCheck ?? checkUpstreamHead,
    };
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
    this.tunnels.cutAll();
    this.server.closeAllConnections();
    this.forwarding.agent.destroy();
    await closed;
    // Close events (and their audit lines) land a tick after destroy(); wait for them.
    for (let i = 0; i < 100 && (this.tunnels.size > 0 || this.inflight > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private isSelf(t: Target): boolean {
    return t.ip !== undefined && this.self.has(authorityOf(t));
  }

  // An exchange starts its clock here; its lines go to the audit sink and its bytes to the metrics.
  private exchange(method: string, client: string): Exchange {
    return new Exchange(method, client, (e) => {
      this.audit.record(e);
      if (e.up || e.down) this.opts.metrics?.relayed(e.up, e.down);
    });
  }

  private onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ex = this.exchange("CONNECT", socket.remoteAddress ?? "");
    socket.on("error", noop);
    if (this.draining) {
      rawReply(socket, 503, "moat: error: gateway is shutting down");
      return;
    }
    const parsed = parseConnectTarget(req.url ?? "");
    if (!parsed.ok) {
      refuseTunnel(socket, ex, malformed(parsed.reason));
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
    ex.aimAt(target);
    this.tunnels.start(ex, socket, target, head, this.policy);
  }

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
    const ex = this.exchange(req.method ?? "", req.socket.remoteAddress ?? "");
    const parsed = parseHttpTarget(url);
    if (!parsed.ok) {
      refuseHttp(req, res, ex, malformed(parsed.reason));
      return;
    }
    const target = parsed.target;
    if (this.isSelf(target)) {
      req.url = target.path;
      this.router.handle(req, res);
      return;
    }
    ex.aimAt(target);
    this.inflight++;
    res.once("close", () => this.inflight--);
    forward(this.forwarding, ex, req, res, target, this.policy).catch((err) => {
      res.destroy();
      process.emitWarning(`moat gateway: forwarding failed: ${(err as Error).stack ?? err}`);
    });
  }

  // Malformed input the HTTP parser refused before any request event.
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
