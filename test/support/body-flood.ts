// From the agent's side: `count` parallel POSTs of `bytes` each to an LLM route, plus one small
// call from a second client address once the big ones are under way. Prints one JSON line per
// reply: {big|small, status, body}.
// Usage: body-flood.ts <gateway host> <port> <path> <placeholder> <count> <bytes> <small-from>
import { request } from "node:http";

const [host, port, path, placeholder, count, bytes, smallFrom] = process.argv.slice(2) as string[];

function post(body: Buffer, localAddress?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port: Number(port),
        path,
        method: "POST",
        localAddress,
        agent: false,
        headers: {
          authorization: `Bearer ${placeholder}`,
          "content-type": "application/json",
          "content-length": body.length,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text.slice(0, 300) }));
        res.on("error", (e) => resolve({ status: res.statusCode ?? 0, body: `reply cut: ${e.message}` }));
      },
    );
    req.on("error", (e) => resolve({ status: 0, body: e.message }));
    req.end(body);
  });
}

const filler = "a".repeat(Number(bytes));
const big = Buffer.from(
  JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: filler }] }),
);
const small = Buffer.from(
  JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
);
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const bigs = Array.from({ length: Number(count) }, () => post(big).then((r) => out({ big: true, ...r })));
await new Promise((r) => setTimeout(r, 300));
const smallCall = post(small, smallFrom).then((r) => out({ small: true, ...r }));
await Promise.all([...bigs, smallCall]);
