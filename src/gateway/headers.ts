// Header hygiene for everything the gateway relays (RFC 9110 §7.6.1): plain-HTTP forwarding,
// the LLM routes and the Telegram relay. Hop-by-hop headers, and any header the Connection
// header names, stop at the gateway in both directions. Proxy credentials never travel upstream.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

// Names listed in Connection headers ("Connection: close, X-Secret") are hop-by-hop too.
function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "connection") continue;
    for (const token of (raw[i + 1] as string).split(",")) {
      const name = token.trim().toLowerCase();
      if (!name) continue;
      listed ??= new Set();
      listed.add(name);
    }
  }
  return listed;
}

// Filter a rawHeaders array ([name, value, name, value, …]), keeping order and duplicates.
export function endToEnd(raw: readonly string[], alsoDrop?: string): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || name === alsoDrop || listed?.has(name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

// Request headers for upstream: end-to-end only, Host rewritten to the target we vetted (a
// client's own Host header could name a different site than its request line). A chunked
// body stays chunked; Node re-frames it.
export function upstreamRequestHeaders(raw: readonly string[], host: string, chunked: boolean): string[] {
  const out = endToEnd(raw, "host");
  out.unshift("Host", host);
  if (chunked) out.push("Transfer-Encoding", "chunked");
  return out;
}

// The same filter for parsed headers (IncomingMessage.headers), as the gateway's own routes
// relay them: Node has joined repeated Connection headers into one value.
export function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(["connection", String(headers.connection ?? "")]);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = value;
  }
  return out;
}
