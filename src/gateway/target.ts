// Step 1 of the decision pipeline: turn what the client wrote (a CONNECT authority or an
// absolute-form http:// URL) into one unambiguous host and port, or refuse it.
//
// The host goes through the WHATWG URL host parser, so every legacy IPv4 spelling
// (2130706433, 0177.0.0.1, 0x7f.1, 127.1) and every IPv6 spelling comes out as the one
// canonical literal the address table classifies. Anything a second parser could read
// differently — userinfo, percent-encoding, backslashes, zone ids, bare IPv6 — is refused
// here rather than normalised, as smokescreen's hostport package does for its inputs.
import { parseAddress } from "../spec/addresses.js";

export interface Target {
  // Canonical host: a lowercase name without its trailing dot, or an IP literal without brackets.
  host: string;
  port: number;
  // Set when host is an IP literal (canonical text, as classify() reports it).
  ip?: string;
}

export interface HttpTarget extends Target {
  // What goes on the request line upstream: the path and query exactly as the client sent them.
  path: string;
}

export type Parsed<T> = { ok: true; target: T } | { ok: false; reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

// Host part is either a bracketed IPv6 literal or a run of name characters; nothing else.
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?$/;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const MAX_AUTHORITY = 300;

// `raw` is host[:port]; `defaultPort` applies when the port is absent (absolute-form http).
export function parseAuthority(raw: string, defaultPort?: number): Parsed<Target> {
  if (raw.length === 0) return fail("empty host");
  if (raw.length > MAX_AUTHORITY) return fail("host too long");
  if (raw.includes("@")) return fail("userinfo (user@host) is not allowed in a proxy target");
  if (raw.includes("%")) return fail("percent-encoding or a zone id in the host is not allowed");
  const m = AUTHORITY.exec(raw);
  if (!m) return fail(`malformed host:port "${printable(raw)}"`);
  const hostText = m[1] as string;
  const portText = m[2];
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return fail("missing port");
    port = defaultPort;
  } else {
    if (portText.length > 1 && portText.startsWith("0")) return fail("port has leading zeros");
    port = Number(portText);
    if (port < 1 || port > 65535) return fail(`port ${portText} is out of range`);
  }
  let hostname: string;
  try {
    hostname = new URL(`http://${hostText}/`).hostname;
  } catch {
    return fail(`malformed host "${printable(hostText)}"`);
  }
  if (hostname.startsWith("[")) {
    const ip = hostname.slice(1, -1);
    if (!parseAddress(ip)) return fail(`malformed IPv6 literal "${printable(hostText)}"`);
    return { ok: true, target: { host: ip, port, ip } };
  }
  if (parseAddress(hostname)) return { ok: true, target: { host: hostname, port, ip: hostname } };
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (name.length === 0 || name.length > 253) return fail("host name length out of range");
  for (const label of name.split(".")) {
    if (!LABEL.test(label)) return fail(`malformed host name "${printable(hostText)}"`);
  }
  return { ok: true, target: { host: name, port } };
}

// CONNECT's request-target is authority-form: host:port, port required.
export const parseConnectTarget = (authority: string): Parsed<Target> => parseAuthority(authority);

// Absolute-form plain HTTP: http://host[:port]/path?query. https:// in absolute form would
// ask the proxy to originate TLS, which a client should do itself over CONNECT.
export function parseHttpTarget(url: string): Parsed<HttpTarget> {
  const schemeEnd = url.indexOf("://");
  if (schemeEnd < 0) return fail("expected an absolute http:// URL");
  const scheme = url.slice(0, schemeEnd).toLowerCase();
  if (scheme !== "http") {
    return fail(
      scheme === "https" ? "https:// in absolute form is not supported; use CONNECT" : `scheme ${scheme}`,
    );
  }
  if (url.includes("\\")) return fail("backslash in URL");
  const rest = url.slice(schemeEnd + 3);
  let authorityEnd = rest.length;
  for (const ch of "/?#") {
    const i = rest.indexOf(ch);
    if (i >= 0 && i < authorityEnd) authorityEnd = i;
  }
  const parsed = parseAuthority(rest.slice(0, authorityEnd), 80);
  if (!parsed.ok) return parsed;
  let path = rest.slice(authorityEnd);
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  if (path === "") path = "/";
  else if (path.startsWith("?")) path = `/${path}`;
  return { ok: true, target: { ...parsed.target, path } };
}

// For error messages: never echo control characters back to a log or a terminal.
function printable(s: string): string {
  const cut = s.length > 80 ? `${s.slice(0, 80)}…` : s;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

// host:port as written in a Host header or a CONNECT line; IPv6 gets its brackets back.
export const authorityOf = (t: Target) =>
  t.host.includes(":") ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
