// What a hostile or broken upstream can send back: status lines, reason phrases, headers,
// framing and early closes. Shared by the raw upstream (which sends them) and the tests (which
// check the gateway answers each with a 502 or a cut, and keeps serving).
export interface MalformedResponse {
  name: string;
  // Bytes sent after the request head arrives (latin1).
  bytes: string;
  // After sending: close cleanly (end), cut the connection (destroy), or say nothing more.
  close: "end" | "destroy" | "hold";
  // The status the agent must see: 502 (refused before relaying), or "cut" (a head went
  // out, then the body broke: the agent sees a short body or a reset, never a crash).
  expect: 502 | "cut";
}

const ok = (head: string) => `${head}\r\ncontent-length: 2\r\n\r\nok`;

export const MALFORMED_RESPONSES: MalformedResponse[] = [
  { name: "reason-ctl", bytes: ok("HTTP/1.1 200 O\x01K"), close: "end", expect: 502 },
  { name: "reason-del", bytes: ok("HTTP/1.1 200 O\x7fK"), close: "end", expect: 502 },
  { name: "status-099", bytes: ok("HTTP/1.1 099 Early"), close: "end", expect: 502 },
  { name: "status-000", bytes: ok("HTTP/1.1 000 Zero"), close: "end", expect: 502 },
  { name: "status-600", bytes: ok("HTTP/1.1 600 Beyond"), close: "end", expect: 502 },
  { name: "status-1000", bytes: ok("HTTP/1.1 1000 Big"), close: "end", expect: 502 },
  {
    name: "status-101",
    bytes: "HTTP/1.1 101 Switching\r\nupgrade: x\r\nconnection: upgrade\r\n\r\nok",
    close: "end",
    expect: 502,
  },
  { name: "no-status", bytes: "HTTP/1.1\r\n\r\n", close: "end", expect: 502 },
  { name: "not-http", bytes: "SSH-2.0-OpenSSH_9.6\r\n", close: "end", expect: 502 },
  { name: "header-ctl", bytes: ok("HTTP/1.1 200 OK\r\nx-a: a\x01b"), close: "end", expect: 502 },
  { name: "header-nul", bytes: ok("HTTP/1.1 200 OK\r\nx-a: a\x00b"), close: "end", expect: 502 },
  { name: "header-name-space", bytes: ok("HTTP/1.1 200 OK\r\nx a: b"), close: "end", expect: 502 },
  {
    name: "header-injection-cr",
    bytes: ok("HTTP/1.1 200 OK\r\nx-a: a\rset-cookie: b"),
    close: "end",
    expect: 502,
  },
  { name: "header-folded", bytes: ok("HTTP/1.1 200 OK\r\nx-a: a\r\n b"), close: "end", expect: 502 },
  { name: "lf-only", bytes: "HTTP/1.1 200 OK\ncontent-length: 2\n\nok", close: "end", expect: 502 },
  {
    name: "cl-and-te",
    bytes: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    close: "end",
    expect: 502,
  },
  {
    name: "dup-content-length",
    bytes: ok("HTTP/1.1 200 OK\r\ncontent-length: 3"),
    close: "end",
    expect: 502,
  },
  {
    name: "huge-headers",
    bytes: ok(`HTTP/1.1 200 OK\r\nx-big: ${"h".repeat(100_000)}`),
    close: "end",
    expect: 502,
  },
  { name: "close-mid-status", bytes: "HTTP/1.1 20", close: "destroy", expect: 502 },
  { name: "close-mid-headers", bytes: "HTTP/1.1 200 OK\r\nx-a: b\r\n", close: "destroy", expect: 502 },
  {
    name: "bad-chunk-size",
    bytes: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\nok\r\n0\r\n\r\n",
    close: "end",
    expect: "cut",
  },
  {
    name: "truncated-chunked",
    bytes: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\nok",
    close: "destroy",
    expect: "cut",
  },
  {
    name: "close-mid-body",
    bytes: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b",
    close: "destroy",
    expect: "cut",
  },
  {
    name: "body-on-204",
    bytes: "HTTP/1.1 204 No Content\r\ncontent-length: 2\r\n\r\nok",
    close: "end",
    expect: "cut",
  },
  { name: "silence-then-close", bytes: "", close: "destroy", expect: 502 },
];
