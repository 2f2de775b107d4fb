// The one way the gateway's own routes (an LLM provider's base URL, the Bot API) send a request
// upstream: TLS with the system trust store (plain http only for an owner's local model
// server), every DNS answer classified with the shared address table before it is dialled
// (./lookup.ts), keep-alive so a streamed reply does not pay a handshake per call, the Host and
// path fixed by the upstream's root, and a response head checked before any of it is relayed.
import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { checkUpstreamHead } from "../upstream-head.js";
import { guardedLookup } from "./lookup.js";

export interface UpstreamOptions {
  // Test seams: a resolver for the fake upstreams' names and the test CA. Production uses
  // the system resolver (guarded) and the system trust store.
  lookup?: LookupFunction;
  ca?: string | Buffer;
}

interface UpstreamCall {
  // The upstream's root: its scheme, host and port are the only ones this call can reach.
  root: URL;
  method: string;
  // Appended to the root's path; the caller has vetted it (no dot segments).
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
  // Longest silence from the upstream before the call is cut.
  idleMs: number;
  signal?: AbortSignal;
}

// The call's upstream went silent for longer than its idleMs.
export class UpstreamTimeout extends Error {
  constructor() {
    super("idle timeout");
  }
}

interface UpstreamRequest {
  req: ClientRequest;
  // Whether the upstream was reached (a socket with a peer): from then on it may have billed.
  reached(): boolean;
}

export interface UpstreamDialer {
  // The request as it goes out; the caller listens for its response and errors.
  open(call: UpstreamCall): UpstreamRequest;
  // The whole exchange for a caller that reads the reply at once: the response once its head
  // passed the checks, or the reason it failed.
  send(call: UpstreamCall): Promise<IncomingMessage>;
  close(): void;
}

export function upstreamDialer(allowCidrs: readonly string[], opts: UpstreamOptions = {}): UpstreamDialer {
  const lookup = opts.lookup ?? guardedLookup(allowCidrs);
  const tlsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: 64,
    lookup,
    ...(opts.ca ? { ca: opts.ca } : {}),
  });
  const plainAgent = new http.Agent({ keepAlive: true });

  function open(call: UpstreamCall): UpstreamRequest {
    const { root, body } = call;
    const tls = root.protocol === "https:";
    const req = (tls ? https : http).request({
      agent: tls ? tlsAgent : plainAgent,
      ...(tls ? { servername: root.hostname } : { lookup }),
      protocol: root.protocol,
      hostname: root.hostname,
      port: root.port || (tls ? 443 : 80),
      method: call.method,
      path: root.pathname.replace(/\/+$/, "") + call.path,
      headers: { ...call.headers, host: root.host, ...(body ? { "content-length": body.length } : {}) },
      timeout: call.idleMs,
      ...(call.signal ? { signal: call.signal } : {}),
    });
    let reached = false;
    req.on("socket", (s) => {
      s.setNoDelay(true);
      // A kept-alive socket is connected already; a new one counts once its handshake is done.
      // A new socket whose lookup failed at once is not connecting either, but has no peer.
      if (!s.connecting && s.remoteAddress !== undefined) reached = true;
      else s.once(tls ? "secureConnect" : "connect", () => (reached = true));
    });
    req.on("timeout", () => req.destroy(new UpstreamTimeout()));
    // A 101 nobody asked for: Node would otherwise leave the call hanging. The request is done
    // as far as Node is concerned (destroy would be a no-op), so its error is raised here.
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      req.emit("error", new Error("sent status 101 to a request that asked for no upgrade"));
    });
    return { req, reached: () => reached };
  }

  function send(call: UpstreamCall): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const { req } = open(call);
      req.on("response", (res) => {
        const head = checkUpstreamHead(res.statusCode, res.statusMessage, res.rawHeaders);
        if (head.ok) return resolve(res);
        res.resume();
        reject(new Error(head.reason));
      });
      req.on("error", reject);
      req.end(call.body);
    });
  }

  return {
    open,
    send,
    close() {
      tlsAgent.destroy();
      plainAgent.destroy();
    },
  };
}
