// An upstream's response head is checked before any of it is relayed: Node's writeHead throws
// on a status outside 100–999 or a control character in the reason phrase, and a throw inside
// a response listener would take the whole gateway down. A head that fails here gets the agent
// a 502 naming what was wrong; the head is never half-written.
import { validateHeaderName, validateHeaderValue } from "node:http";

export type HeadCheck = { ok: true } | { ok: false; reason: string };

export const BAD_UPSTREAM_RESPONSE = "bad-upstream-response";

// Node's own rule for a reason phrase (and header values): tab, visible ASCII, obs-text.
const REASON_OK = /^[\t\x20-\x7e\x80-\xff]*$/;

// `raw` is IncomingMessage.rawHeaders: [name, value, name, value, …].
export function checkUpstreamHead(
  status: number | undefined,
  reason: string | undefined,
  raw: readonly string[],
): HeadCheck {
  // 1xx never ends a response (Node handles 100/103 itself; 101 only on an upgrade we never ask
  // for) and 6xx–9xx are not HTTP, though Node would write them.
  if (status === undefined || !Number.isInteger(status) || status < 200 || status > 599) {
    return { ok: false, reason: `upstream sent status ${status ?? "none"}` };
  }
  if (!REASON_OK.test(reason ?? "")) {
    return { ok: false, reason: "upstream sent a reason phrase with a control character" };
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, raw[i + 1] ?? "");
    } catch {
      return { ok: false, reason: `upstream sent a header Node refuses to relay (${printable(name)})` };
    }
  }
  return { ok: true };
}

// A header name for the reason line: at most 64 visible characters, never the raw bytes.
function printable(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}
