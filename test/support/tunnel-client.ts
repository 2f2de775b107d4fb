// Hold CONNECT tunnels open from the agent's side and drive them from stdin, so a test can
// prove tunnels survive a reload, drain on SIGTERM, or hit the per-client limit.
// Usage: tunnel-client.ts <proxy-host> <proxy-port> <target host:port> <count>
// stdin: "send <text>" writes text+"\n" into every open tunnel; "exit" closes them all.
// stdout: JSON lines {open:i} {refused:i,status} {echo:i,data} {closed:i}
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";

const [host, port, target, count] = process.argv.slice(2) as [string, string, string, string];
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const open = new Map<number, Socket>();

for (let i = 0; i < Number(count); i++) {
  const s = connect({ host, port: Number(port) });
  let established = false;
  let buf = "";
  s.on("connect", () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
  s.on("data", (d: Buffer) => {
    buf += d.toString("latin1");
    if (!established) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0);
      if (status !== 200) {
        emit({ refused: i, status, body: buf.slice(end + 4) });
        s.destroy();
        return;
      }
      established = true;
      open.set(i, s);
      emit({ open: i });
      buf = buf.slice(end + 4);
    }
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      emit({ echo: i, data: buf.slice(0, nl) });
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  });
  s.on("error", () => {});
  s.on("close", () => {
    if (open.delete(i)) emit({ closed: i });
  });
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.startsWith("send ")) for (const s of open.values()) s.write(`${line.slice(5)}\n`);
  if (line === "exit") {
    for (const s of open.values()) s.end();
    setTimeout(() => process.exit(0), 200);
  }
});
