// Fake "public" hosts for test namespaces: HTTP, HTTPS (test CA) and a TCP echo, on every
// address of the namespace. Each hit is printed as a JSON line naming the local address it
// arrived on, so a test can prove which host was reached — or that one never was.
// Usage: fake-internet.ts <config.json> with { http: [ports], https: [ports], echo: [ports], cert, key }.
import { readFileSync } from "node:fs";
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { createServer as createTcp, type Socket } from "node:net";

interface Config {
  http: number[];
  https: number[];
  echo: number[];
  cert?: string;
  key?: string;
  // Listen addresses; default all IPv4 and all IPv6.
  bind?: string[];
}

const local = (s: Socket) => (s.localAddress ?? "").replace(/^::ffff:/, "");
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

function handler(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", "http://x");
  const server = local(req.socket);
  const port = req.socket.localPort;
  let received = 0;
  req.on("data", (c: Buffer) => {
    received += c.length;
  });
  req.on("end", () => {
    emit({ hit: server, port, method: req.method, path: req.url, headers: req.headers, received });
    if (url.pathname === "/hold") return; // never answer: idle and drain tests
    const reply = () => {
      if (url.pathname === "/big") {
        const n = Number(url.searchParams.get("bytes") ?? "1048576");
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
        res.end(Buffer.alloc(n, 0x61));
        return;
      }
      const body = JSON.stringify({
        server,
        port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        received,
      });
      res.writeHead(200, {
        "content-type": "application/json",
        "x-upstream-hop": "kept",
        connection: "keep-alive, x-secret-hop",
        "x-secret-hop": "must-not-pass",
      });
      res.end(body);
    };
    const delay = Number(url.searchParams.get("delay") ?? "0");
    if (delay > 0) setTimeout(reply, delay);
    else reply();
  });
}

const config = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as Config;
const binds = config.bind ?? ["0.0.0.0", "::"];
let pending = 0;
const ready = () => {
  if (--pending === 0) emit({ ready: "internet" });
};
for (const host of binds) {
  const ipv6Only = host.includes(":");
  for (const port of config.http) {
    pending++;
    createHttp(handler).listen({ port, host, ipv6Only }, ready);
  }
  for (const port of config.https) {
    pending++;
    createHttps(
      { cert: readFileSync(config.cert as string), key: readFileSync(config.key as string) },
      handler,
    ).listen({ port, host, ipv6Only }, ready);
  }
  for (const port of config.echo) {
    pending++;
    createTcp((s) => {
      emit({ hit: local(s), port, echo: true });
      s.on("error", () => {});
      s.pipe(s);
    }).listen({ port, host, ipv6Only }, ready);
  }
}
