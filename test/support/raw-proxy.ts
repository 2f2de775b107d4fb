// Send raw bytes to a proxy, one fresh connection per request, and report what came back.
// Used for the exact spellings a real client would normalise away, and for fuzzing.
// Usage: raw-proxy.ts <host> <port> < requests.json   (a JSON array of strings, latin1)
import { connect } from "node:net";

interface Result {
  status: number;
  body: string;
  bytes: number;
  ms: number;
  error?: string;
}

function send(host: string, port: number, raw: string, timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    const socket = connect({ host, port });
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const sep = text.indexOf("\r\n\r\n");
      resolve({
        status,
        body: sep >= 0 ? text.slice(sep + 4) : "",
        bytes: text.length,
        ms: Date.now() - start,
        error,
      });
    };
    socket.setTimeout(timeoutMs, () => finish("timeout"));
    socket.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      // A tunnel that opened stays open: its status line is all we need.
      if (Buffer.concat(chunks).toString("latin1").startsWith("HTTP/1.1 200 Connection Established\r\n\r\n"))
        finish();
    });
    socket.on("close", () => finish());
    socket.on("connect", () => socket.write(Buffer.from(raw, "latin1")));
  });
}

const [host, port, timeout] = process.argv.slice(2);
let input = "";
process.stdin.on("data", (d) => {
  input += d;
});
process.stdin.on("end", async () => {
  const requests = JSON.parse(input) as string[];
  const results = await Promise.all(
    requests.map((r) => send(host as string, Number(port), r, Number(timeout ?? 5000))),
  );
  process.stdout.write(JSON.stringify(results));
});
