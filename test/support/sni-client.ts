// From the agent's side: open a CONNECT tunnel, then start it the way a case says — a real TLS
// client with a chosen SNI (then GET a path, so the upstream logs the request if it got one), or
// raw bytes (hex), optionally in several writes — and report what came back.
// Usage: sni-client.ts <proxy-host> <proxy-port> <ca.pem> < cases.json; prints a JSON array.
import { readFileSync } from "node:fs";
import { request } from "node:http";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface SniCase {
  target: string;
  // tls: Node's TLS client with this servername ("" for none); raw: these hex chunks, 50 ms apart.
  servername?: string;
  raw?: string[];
  path?: string;
}
export interface SniResult {
  // From the CONNECT being sent to the TLS handshake finishing (tls cases that got that far).
  handshakeMs?: number;
  connect: number;
  // tls: "secure" then the response's first line and body; or the TLS error code.
  tls?: string;
  body?: string;
  // raw: every byte the tunnel sent back, in hex, until it closed or went quiet.
  reply?: string;
  closed?: boolean;
}

function tunnel(host: string, port: number, target: string): Promise<{ status: number; socket?: Socket }> {
  return new Promise((resolve) => {
    const req = request({ host, port, method: "CONNECT", path: target, headers: { host: target } });
    req.on("connect", (res, socket, head) => {
      if (head.length) socket.unshift(head);
      resolve({ status: res.statusCode ?? 0, socket });
    });
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on("error", () => resolve({ status: 0 }));
    req.end();
  });
}

function overTls(socket: Socket, c: SniCase, ca: Buffer, start: number): Promise<Partial<SniResult>> {
  return new Promise((resolve) => {
    // The HTTP client leaves the CONNECT socket paused; TLS over it would never read.
    socket.resume();
    const tls = tlsConnect({
      socket,
      ca,
      ...(c.servername ? { servername: c.servername } : {}),
      // The fake upstream's certificate names the allowlisted hosts only; a fronted name must
      // still get through today for the test to show the hole, so names are not checked here.
      checkServerIdentity: () => undefined,
    });
    let text = "";
    let stage = "handshake";
    const timer = setTimeout(() => done({ tls: `timeout in ${stage}`, body: text }), 5000);
    const done = (r: Partial<SniResult>) => {
      clearTimeout(timer);
      tls.destroy();
      resolve(r);
    };
    let handshakeMs: number | undefined;
    tls.on("secureConnect", () => {
      handshakeMs = Math.round((performance.now() - start) * 100) / 100;
      stage = "response";
      tls.write(
        `GET ${c.path ?? "/"} HTTP/1.1\r\nHost: ${c.target.split(":")[0]}\r\nConnection: close\r\n\r\n`,
      );
    });
    // The fake upstream keeps the connection alive and answers chunked: its JSON body is done
    // at the last chunk.
    const answered = () =>
      done({ tls: "secure", handshakeMs, body: text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1) });
    tls.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.endsWith("\r\n0\r\n\r\n")) answered();
    });
    tls.on("end", answered);
    tls.on("error", (e: NodeJS.ErrnoException) => done({ tls: e.code ?? e.message }));
  });
}

function overRaw(socket: Socket, chunks: string[]): Promise<Partial<SniResult>> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(quiet);
      socket.destroy();
      resolve({ reply: Buffer.concat(got).toString("hex"), closed });
    };
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => done(false), 1500);
    };
    socket.on("data", (d: Buffer) => {
      got.push(d);
      arm();
    });
    socket.on("close", () => done(true));
    socket.resume();
    for (const [i, hex] of chunks.entries()) setTimeout(() => socket.write(Buffer.from(hex, "hex")), i * 50);
    setTimeout(arm, chunks.length * 50);
  });
}

const [host, port, caFile] = process.argv.slice(2) as [string, string, string];
let input = "";
process.stdin.on("data", (d) => {
  input += d;
});
process.stdin.on("end", async () => {
  const ca = readFileSync(caFile);
  const out: SniResult[] = [];
  for (const c of JSON.parse(input) as SniCase[]) {
    const start = performance.now();
    const t = await tunnel(host, Number(port), c.target);
    if (t.status !== 200 || !t.socket) {
      t.socket?.destroy();
      out.push({ connect: t.status });
      continue;
    }
    const r = c.raw ? await overRaw(t.socket, c.raw) : await overTls(t.socket, c, ca, start);
    out.push({ connect: t.status, ...r });
  }
  process.stdout.write(JSON.stringify(out));
});
