// Small HTTP helpers for the gateway's own agent-facing routes, the LLM routes and the Telegram
// relay (bodies: ./body-budget.ts; the upstream side: ./upstream/).
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// The request target's path exactly as sent (dot segments not resolved, so they can be refused
// rather than silently followed) and its query. The gateway's router hands over origin-form
// (`/llm/...`); a proxy-style absolute-form target (`http://198.18.0.1:3128/llm/...`) is
// accepted too.
export function requestTarget(req: IncomingMessage): {
  path: string;
  search: string;
  query: URLSearchParams;
} {
  const target = (req.url ?? "/").replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "") || "/";
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const search = q < 0 ? "" : target.slice(q);
  return { path, search, query: new URLSearchParams(search) };
}

// A path suffix that cannot climb out of the base path it is appended to: no dot segments,
// literal or percent-encoded, and only characters a URL path may carry as they are.
export function safeSuffix(path: string): boolean {
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/.test(path)) return false;
  for (const segment of path.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return false;
    }
    if (decoded === "." || decoded === ".." || decoded.includes("/") || decoded.includes("\\")) return false;
  }
  return true;
}
