// From the agent's side: `count` connections that each send a request head declaring a body
// of 100 bytes, then only 10 of them, and wait. One JSON line per connection when the gateway
// answers or closes: {i, status, ms, body}.
// Usage: slow-bodies.ts <gateway host> <port> <path> <placeholder> <count>
import { connect } from "node:net";

const [host, port, path, placeholder, count] = process.argv.slice(2) as string[];
const started = Date.now();
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

for (let i = 0; i < Number(count); i++) {
  const s = connect({ host, port: Number(port) }, () => {
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${placeholder}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n0123456789",
    );
  });
  let text = "";
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    out({ i, status, ms: Date.now() - started, body: text.slice(text.indexOf("\r\n\r\n") + 4, 300) });
    s.destroy();
  };
  s.on("data", (d) => {
    text += d.toString("latin1");
    if (text.includes("\r\n\r\n")) setTimeout(finish, 50);
  });
  s.on("close", finish);
  s.on("error", finish);
  s.setTimeout(20_000, finish);
}
