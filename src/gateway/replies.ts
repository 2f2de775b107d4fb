// The gateway's own answers: the one-line text of a refusal, and a whole response written
// straight to a socket that has left the HTTP parser.
import type { Socket } from "node:net";
import type { Refusal } from "./exchange.js";

export const ESTABLISHED = "HTTP/1.1 200 Connection Established\r\n\r\n";

export const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  408: "Request Timeout",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
const PREFIX: Record<Refusal["decision"], string> = { deny: "moat: denied: ", error: "moat: error: " };

export const refusalLine = (r: Refusal): string =>
  `${r.status === 400 ? "moat: bad request: " : PREFIX[r.decision]}${r.reason}`;

// A complete response written straight to a socket that has left the HTTP parser (CONNECT,
// parse errors), then closed.
export function rawReply(socket: Socket, status: number, line: string): void {
  if (socket.destroyed) return;
  const body = `${line}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  // Do not wait forever for the client's FIN on a half-open socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}
