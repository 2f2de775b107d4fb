// The upstream module shared by the LLM routes and the Telegram relay: one hop-by-hop list for
// parsed and raw headers, one secret comparison, and the dialer's own guarantees (Host and path
// fixed by the root, a bad head refused, silence and a stray 101 end the call, a local name is
// never dialled), against raw loopback servers.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import { endToEnd, withoutHopByHop } from "../../src/gateway/headers.js";
import { UpstreamTimeout, upstreamDialer } from "../../src/gateway/upstream/dial.js";
import { sameSecret } from "../../src/gateway/upstream/secret.js";

describe("one hop-by-hop list", () => {
  const headers = {
    connection: "keep-alive, X-Hop",
    "x-hop": "1",
    "keep-alive": "timeout=5",
    "proxy-connection": "keep-alive",
    "proxy-authenticate": 'Basic realm="upstream"',
    "proxy-authorization": "Basic c2VjcmV0",
    te: "trailers",
    trailer: "x-t",
    upgrade: "h2c",
    "transfer-encoding": "chunked",
    "content-type": "application/json",
    "x-request-id": "r1",
  };

  test("parsed headers keep only the end-to-end ones", () => {
    assert.deepEqual(withoutHopByHop(headers), {
      "content-type": "application/json",
      "x-request-id": "r1",
    });
  });

  test("the parsed and the raw filter drop the same names", () => {
    const raw = Object.entries(headers).flat();
    const kept = endToEnd(raw).filter((_, i) => i % 2 === 0);
    assert.deepEqual(kept, Object.keys(withoutHopByHop(headers)));
  });
});

test("sameSecret: equal only when byte for byte equal", () => {
  assert.equal(sameSecret("moat-placeholder", "moat-placeholder"), true);
  assert.equal(sameSecret("moat-placeholder", "moat-placeholdeR"), false);
  assert.equal(sameSecret("moat", "moat-placeholder"), false);
  assert.equal(sameSecret("", ""), true);
});

// A loopback server that answers each request's head with `reply` (raw bytes, or silence).
interface Seen {
  head: string;
}
async function rawServer(reply: string | undefined): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      seen.push({ head: buf.slice(0, end) });
      buf = "";
      if (reply !== undefined) socket.write(reply);
    });
  });
  server.on("close", () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}`, seen };
}

const OK = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

describe("upstreamDialer", () => {
  const dialer = upstreamDialer([]);
  const servers: Server[] = [];
  after(() => {
    dialer.close();
    for (const s of servers) s.close();
  });
  const serve = async (reply: string | undefined) => {
    const s = await rawServer(reply);
    servers.push(s.server);
    return s;
  };
  const call = (root: string, extra = {}) => ({
    root: new URL(root),
    method: "POST",
    path: "/chat/completions?x=1",
    headers: { host: "evil.test", "content-type": "application/json" },
    body: Buffer.from("{}"),
    idleMs: 2000,
    ...extra,
  });

  test("the root fixes the Host and the path prefix; the body is framed", async () => {
    const s = await serve(OK);
    const res = await dialer.send(call(`${s.url}/v1/`));
    res.resume();
    assert.equal(res.statusCode, 200);
    const head = s.seen[0]?.head ?? "";
    assert.match(head, /^POST \/v1\/chat\/completions\?x=1 HTTP\/1\.1\r\n/);
    assert.match(head, new RegExp(`\\r\\nhost: ${s.url.slice(7)}\\r\\n`, "i"));
    assert.doesNotMatch(head, /evil\.test/);
    assert.match(head, /\r\ncontent-length: 2\r\n/i);
  });

  test("a status outside 200-599 is refused before any of it is relayed", async () => {
    const s = await serve("HTTP/1.1 600 Weird\r\ncontent-length: 0\r\n\r\n");
    await assert.rejects(dialer.send(call(s.url)), /upstream sent status 600/);
  });

  test("a 101 nobody asked for ends the call", async () => {
    const s = await serve("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n");
    await assert.rejects(dialer.send(call(s.url)), /sent status 101 to a request that asked for no upgrade/);
  });

  test("silence longer than idleMs ends the call as a timeout", async () => {
    const s = await serve(undefined);
    await assert.rejects(dialer.send(call(s.url, { idleMs: 200 })), UpstreamTimeout);
  });

  test("reached: only once a socket has a peer", async () => {
    const s = await serve(OK);
    const good = dialer.open(call(s.url));
    await new Promise<void>((resolve) =>
      good.req.on("response", (r) => r.resume().on("end", resolve)).end("{}"),
    );
    assert.equal(good.reached(), true);
    const closed = await serve(OK);
    const port = new URL(closed.url).port;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const refused = dialer.open(call(`http://127.0.0.1:${port}`));
    await new Promise<void>((resolve) => refused.req.on("error", () => resolve()).end("{}"));
    assert.equal(refused.reached(), false);
  });

  test("a local name is never dialled, over http as over https", async () => {
    const s = await serve(OK);
    const port = new URL(s.url).port;
    for (const scheme of ["http", "https"]) {
      await assert.rejects(dialer.send(call(`${scheme}://localhost:${port}`)), /localhost is a local name/);
    }
    assert.equal(s.seen.length, 0);
  });

  test("negative control: a lookup that lets the name through reaches the server", async () => {
    const s = await serve(OK);
    const port = new URL(s.url).port;
    const open = upstreamDialer([], {
      lookup: (_host, opts, cb) => {
        const answer = cb as (e: null, a: unknown, f?: number) => void;
        if (opts.all) answer(null, [{ address: "127.0.0.1", family: 4 }]);
        else answer(null, "127.0.0.1", 4);
      },
    });
    try {
      const res = await open.send(call(`http://localhost:${port}`));
      res.resume();
      assert.equal(res.statusCode, 200);
      assert.equal(s.seen.length, 1);
    } finally {
      open.close();
    }
  });
});
