// The far end of every benchmark, run inside the bench namespace on a "public" address:
//   :443  bulk   — on connect, streams BULK_BYTES then closes (throughput through a CONNECT tunnel)
//   :8443 echo   — echoes bytes and stays open (new-tunnel latency, and 1,000 held tunnels)
//   :80   http   — answers every request with a tiny 200, keep-alive (plain-HTTP request rate)
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";

const host = process.argv[2] ?? "93.184.215.14";
const bulkBytes = Number(process.argv[3] ?? 1 << 30);
const chunk = Buffer.alloc(256 * 1024);

createServer((socket) => {
  let sent = 0;
  const pump = () => {
    while (sent < bulkBytes) {
      sent += chunk.length;
      if (!socket.write(chunk)) return;
    }
    socket.end();
  };
  socket.on("drain", pump);
  socket.on("error", () => {});
  pump();
}).listen(443, host);

createServer((socket) => {
  socket.on("error", () => {});
  socket.pipe(socket);
}).listen(8443, host);

const body = Buffer.from("ok\n");
const http = createHttpServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
  res.end(body);
});
http.keepAliveTimeout = 60_000;
http.listen(80, host, () => process.stdout.write("ready\n"));
