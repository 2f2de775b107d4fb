// A raw TCP "web server" that answers `GET /case/<name>` with that malformed response from
// malformed-responses.ts, byte for byte (no HTTP library in the way). One JSON line per hit.
// Usage: malformed-upstream.ts <port>
import { createServer } from "node:net";
import { MALFORMED_RESPONSES } from "./malformed-responses.js";

const byName = new Map(MALFORMED_RESPONSES.map((c) => [c.name, c]));
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const server = createServer((socket) => {
  socket.on("error", () => {});
  let head = "";
  socket.on("data", (d: Buffer) => {
    if (head.includes("\r\n\r\n")) return;
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    const name = /^[A-Z]+ \/case\/([\w-]+)/.exec(head)?.[1] ?? "";
    const c = byName.get(name);
    emit({ hit: name });
    if (!c) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    socket.write(Buffer.from(c.bytes, "latin1"), () => {
      if (c.close === "end") socket.end();
      else if (c.close === "destroy") setTimeout(() => socket.destroy(), 50);
    });
  });
});
server.listen(Number(process.argv[2]), "0.0.0.0", () => emit({ ready: "malformed" }));
