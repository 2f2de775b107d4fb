// What a hijacked agent would do with a credential of its own: tunnel straight to a host through
// the gateway with CONNECT and send an HTTPS request there, bypassing the gateway's routes.
// Usage: direct-client.ts <proxy-host> <proxy-port> <host:port> <method> <path> [body]
// stdout: one JSON line {connect: status, connectBody?} then, if the tunnel opened, {status, body}.
import { connect } from "node:net";
import { connect as tls } from "node:tls";

const [proxyHost, proxyPort, authority, method, path, body = ""] = process.argv.slice(2) as string[];
const host = (authority as string).replace(/:\d+$/, "");
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const s = connect({ host: proxyHost, port: Number(proxyPort) });
s.setTimeout(10_000, () => {
  emit({ error: "timeout" });
  process.exit(1);
});
s.on("error", (e: NodeJS.ErrnoException) => {
  emit({ error: e.code ?? e.message });
  process.exit(1);
});
s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
let head = "";
const onHead = (d: Buffer) => {
  head += d.toString("latin1");
  const end = head.indexOf("\r\n\r\n");
  if (end < 0) return;
  s.off("data", onHead);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  if (status !== 200) {
    emit({ connect: status, connectBody: head.slice(end + 4) });
    process.exit(0);
  }
  emit({ connect: status });
  // The attacker does not care whose CA signed the far end.
  const t = tls({ socket: s, servername: host, rejectUnauthorized: false });
  let reply = "";
  t.on("secureConnect", () =>
    t.write(
      `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    ),
  );
  t.on("data", (c: Buffer) => {
    reply += c.toString();
  });
  t.on("end", () => {
    emit({
      status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0),
      body: reply.split("\r\n\r\n")[1] ?? "",
    });
    process.exit(0);
  });
  t.on("error", (e) => {
    emit({ error: e.message });
    process.exit(1);
  });
};
s.on("data", onHead);
