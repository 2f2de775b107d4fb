// Plain absolute-form HTTP (`GET http://host/…`): vet the target, send the request on to the
// first vetted address with hop-by-hop headers stripped, check the upstream's head, relay the
// response. Each request is one Exchange, ending in one record however it ends (the first of
// response end, upstream error, client leaving).
import { type Agent, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { DialError } from "./dial.js";
import type { Exchange, Refusal } from "./exchange.js";
import { endToEnd, upstreamRequestHeaders } from "./headers.js";
import type { GatewayLimits } from "./limits.js";
import type { Policy } from "./policy.js";
import { refusalLine } from "./replies.js";
import { plain } from "./router.js";
import { authorityOf, type HttpTarget } from "./target.js";
import { BAD_UPSTREAM_RESPONSE, type checkUpstreamHead } from "./upstream-head.js";
import { type Vetting, vet } from "./vet.js";

export interface ForwardDeps extends Vetting {
  limits: GatewayLimits;
  // Pooled upstream connections, keyed by the vetted IP and port.
  agent: Agent;
  headCheck: typeof checkUpstreamHead;
}

const bracket = (host: string) => (host.includes(":") ? `[${host}]` : host);

// Answer a request the gateway will not forward, and end its exchange.
export function refuseHttp(req: IncomingMessage, res: ServerResponse, ex: Exchange, r: Refusal): void {
  // The body the client may still be sending is not wanted; close after the reply.
  res.shouldKeepAlive = false;
  plain(res, r.status, refusalLine(r));
  req.resume();
  ex.refuse(r);
}

export async function forward(
  deps: ForwardDeps,
  ex: Exchange,
  req: IncomingMessage,
  res: ServerResponse,
  target: HttpTarget,
  policy: Policy,
): Promise<void> {
  const { limits, metrics } = deps;
  const vetted = await vet(deps, "HTTP", target, policy);
  if (!vetted.ok) {
    refuseHttp(req, res, ex, vetted.refusal);
    return;
  }
  const { verdict } = vetted;
  // Plain HTTP uses the pooled agent, so it dials the first vetted address (IPv4 first).
  const addr = verdict.addrs[0] as string;
  ex.addr = addr;
  const hostHeader = target.port === 80 ? bracket(target.host) : authorityOf(target);
  const chunked = /\bchunked\b/i.test(String(req.headers["transfer-encoding"] ?? ""));
  const upstreamReq = request({
    host: addr,
    port: target.port,
    method: req.method,
    path: target.path,
    headers: upstreamRequestHeaders(req.rawHeaders, hostHeader, chunked),
    setHost: false,
    agent: deps.agent,
  });
  upstreamReq.on("socket", (s: Socket) => {
    if (!s.connecting) return;
    const timer = setTimeout(
      () =>
        upstreamReq.destroy(
          new DialError("connect-timeout", `connecting to ${addr} port ${target.port} timed out`),
        ),
      limits.connectTimeoutMs,
    );
    s.once("connect", () => clearTimeout(timer));
    s.once("close", () => clearTimeout(timer));
  });
  upstreamReq.setTimeout(limits.idleTimeoutMs, () =>
    upstreamReq.destroy(
      new DialError("connect-timeout", `no response from ${target.host} within ${limits.idleTimeoutMs} ms`),
    ),
  );
  // Set once the gateway has answered for itself (a refused head); later errors are its echo.
  let answered = false;
  const refuseHead = (reason: string) => {
    answered = true;
    upstreamReq.destroy();
    res.shouldKeepAlive = false;
    plain(res, 502, `moat: error: ${reason}`);
    ex.finish({ decision: "error", code: BAD_UPSTREAM_RESPONSE, reason, status: 502 });
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
      ex.finish({ decision: "error", code, reason: err.message, status });
    } else {
      res.destroy();
      ex.finish({ decision: "error", code, reason: err.message, status: res.statusCode });
    }
  });
  // A 101 to a request that asked for no upgrade: nothing to splice it to.
  upstreamReq.on("upgrade", (_upRes, socket: Socket) => {
    socket.destroy();
    refuseHead("upstream sent status 101 to a request that asked for no upgrade");
  });
  upstreamReq.on("response", (upRes) => {
    metrics?.setupTook("http", ex.elapsedSeconds());
    upRes.on("error", () => res.destroy());
    const head = deps.headCheck(upRes.statusCode, upRes.statusMessage, upRes.rawHeaders);
    if (!head.ok) {
      upRes.resume();
      refuseHead(head.reason);
      return;
    }
    const status = upRes.statusCode as number;
    res.writeHead(status, upRes.statusMessage, endToEnd(upRes.rawHeaders));
    upRes.on("data", (chunk: Buffer) => {
      ex.down += chunk.length;
    });
    upRes.pipe(res);
    upRes.on("end", () =>
      ex.finish({ decision: verdict.action, code: verdict.code, reason: verdict.reason, status }),
    );
  });
  req.on("data", (chunk: Buffer) => {
    ex.up += chunk.length;
  });
  // A client that leaves mid-way takes the upstream request with it.
  res.once("close", () => {
    if (!res.writableFinished) {
      upstreamReq.destroy();
      ex.finish({
        decision: "error",
        code: "client-gone",
        reason: "client closed the connection",
        status: res.statusCode,
      });
    }
  });
  req.pipe(upstreamReq);
}
