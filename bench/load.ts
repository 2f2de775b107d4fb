// One benchmark scenario against one path (a proxy at HOST:PORT, or "direct"), printed as JSON.
// Run by bench/run.ts inside the bench namespace, as its own process so it has a core to itself.
import { type Agent, Agent as HttpAgent, request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

const [scenario, via, origin, ...rest] = process.argv.slice(2);
if (!scenario || !via || !origin)
  throw new Error("usage: load.ts <scenario> <direct|host:port> <origin-ip> [args]");
const proxy =
  via === "direct" ? undefined : { host: via.split(":")[0] ?? "", port: Number(via.split(":")[1]) };

// A TCP stream to origin:port — through a CONNECT tunnel when a proxy is given.
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (!proxy) {
      const s = connect(port, origin, () => resolve(s));
      s.once("error", reject);
      return;
    }
    const s = connect(proxy.port, proxy.host, () => {
      s.write(`CONNECT ${origin}:${port} HTTP/1.1\r\nHost: ${origin}:${port}\r\n\r\n`);
    });
    s.setNoDelay(true);
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.off("data", onData);
      // Paused until the caller reads: a flowing socket with no listener drops what arrives.
      s.pause();
      if (!/^HTTP\/1\.[01] 200/.test(head))
        return reject(new Error(`CONNECT refused: ${head.split("\r\n")[0]}`));
      const extra = Buffer.from(head.slice(end + 4), "latin1");
      if (extra.length) s.unshift(extra);
      resolve(s);
    };
    s.on("data", onData);
    s.once("error", reject);
  });
}

async function bulk(): Promise<Record<string, number>> {
  const start = performance.now();
  const s = await open(443);
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    s.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    s.on("end", resolve);
    s.on("error", reject);
    s.resume();
  });
  const seconds = (performance.now() - start) / 1000;
  return { bytes, seconds, mbPerSec: bytes / 1e6 / seconds };
}

async function tunnelLatency(concurrency: number, total: number): Promise<Record<string, number>> {
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next++ < total) {
      const t0 = performance.now();
      try {
        const s = await open(8443);
        await new Promise<void>((resolve) => {
          s.once("data", () => resolve());
          s.resume();
          s.write("x");
        });
        samples.push(performance.now() - t0);
        s.destroy();
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  samples.sort((a, b) => a - b);
  const pct = (p: number) =>
    samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? Number.NaN;
  return { p50ms: pct(0.5), p99ms: pct(0.99), count: samples.length, errors };
}

async function httpRate(concurrency: number, seconds: number): Promise<Record<string, number>> {
  const agent: Agent = new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const target = proxy ?? { host: origin, port: 80 };
  const path = proxy ? `http://${origin}/` : "/";
  let ok = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const req = httpRequest({ ...target, path, agent, headers: { host: origin } }, (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) ok++;
            else errors++;
            resolve();
          });
        });
        req.on("error", () => {
          errors++;
          resolve();
        });
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { requestsPerSec: ok / seconds, ok, errors };
}

// Opens n tunnels, reports when they are all up, and holds them until stdin closes.
async function hold(n: number): Promise<Record<string, number>> {
  const sockets: Socket[] = [];
  let errors = 0;
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(50, n - i) }, () => open(8443)));
    for (const r of batch) {
      if (r.status === "fulfilled") sockets.push(r.value);
      else errors++;
    }
  }
  process.stdout.write(`${JSON.stringify({ held: sockets.length, errors })}\n`);
  await new Promise((resolve) => process.stdin.once("end", resolve).resume());
  for (const s of sockets) s.destroy();
  return { held: sockets.length, errors };
}

const result =
  scenario === "bulk"
    ? await bulk()
    : scenario === "latency"
      ? await tunnelLatency(Number(rest[0] ?? 1), Number(rest[1] ?? 2000))
      : scenario === "http"
        ? await httpRate(Number(rest[0] ?? 64), Number(rest[1] ?? 5))
        : scenario === "hold"
          ? await hold(Number(rest[0] ?? 1000))
          : (() => {
              throw new Error(`unknown scenario ${scenario}`);
            })();
if (scenario !== "hold") process.stdout.write(`${JSON.stringify(result)}\n`);
