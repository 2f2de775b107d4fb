// `npm run bench`: the gateway vs a direct connection vs tinyproxy (Debian), side by side in one
// run, inside one network namespace this script creates and removes. The origin holds a
// public-looking address there (93.184.215.14), so the gateway classifies it as it would the
// internet; it is reached as an allowCidrs literal, so DNS is excluded from every number.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NS = "moat-bench";
const ORIGIN = "93.184.215.14";
const ROOT = join(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "moat-bench-"));
const children: ChildProcess[] = [];
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });
const inNs = (cmd: string, args: string[]) =>
  spawn("ip", ["netns", "exec", NS, cmd, ...args], { stdio: "pipe" });
const tsNode = ["--import", "tsx"];

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  try {
    sh("ip", ["netns", "del", NS]);
  } catch {}
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

function start(name: string, cmd: string, args: string[], readyPattern: RegExp): Promise<ChildProcess> {
  const child = inNs(cmd, args);
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), 15_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (readyPattern.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${name} exited (${code}):\n${out}`)));
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      sh("ip", ["netns", "exec", NS, "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

function load(args: string[]): Promise<Record<string, number>> {
  const child = inNs(process.execPath, [...tsNode, join(ROOT, "bench/load.ts"), ...args]);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => process.stderr.write(d));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}"))
        : reject(new Error(`load ${args.join(" ")} failed`)),
    ),
  );
}

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

// Opens 1,000 tunnels through the proxy and reads its RSS while they are all held open.
async function rssHolding(via: string, pid: number): Promise<{ rss: number; held: number }> {
  const child = inNs(process.execPath, [...tsNode, join(ROOT, "bench/load.ts"), "hold", via, ORIGIN, "1000"]);
  const line = await new Promise<string>((resolve) => child.stdout?.once("data", (d) => resolve(String(d))));
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssMb(pid);
  child.stdin?.end();
  await new Promise((r) => child.on("exit", r));
  return { rss, held: (JSON.parse(line) as { held: number }).held };
}

async function main(): Promise<void> {
  cleanup();
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["netns", "exec", NS, "ip", "link", "set", "lo", "up"]);
  // On the namespace's own lo: some kernels (this CI's among them) have no dummy link type.
  sh("ip", ["netns", "exec", NS, "ip", "addr", "add", `${ORIGIN}/32`, "dev", "lo"]);
  const bulkBytes = Number(process.env.BENCH_BULK_BYTES ?? 2 ** 31);
  await start(
    "origin",
    process.execPath,
    [...tsNode, join(ROOT, "bench/origin.ts"), ORIGIN, String(bulkBytes)],
    /ready/,
  );

  // The origin speaks plain TCP (bulk sends first), so both ports are plainConnectPorts: this
  // measures the splice; scripts/bench-tunnel-hello.ts measures the ClientHello check.
  const spec = join(work, "moat.yaml");
  writeFileSync(
    spec,
    `version: 1\nname: bench\ntarget: { kind: lab }\negress: { allowCidrs: ["${ORIGIN}/32"], connectPorts: [443, 8443], plainConnectPorts: [443, 8443], httpPorts: [80] }\n`,
  );
  // The compiled gateway, as installed on a VM (which carries dist/, not the sources).
  sh("npx", ["tsc", "-p", join(ROOT, "tsconfig.build.json")]);
  const gateway = await start(
    "gateway",
    process.execPath,
    [
      join(ROOT, "dist/cli/main.js"),
      "gateway",
      "-c",
      spec,
      "--listen",
      "127.0.0.1:3128",
      "--audit-log",
      join(work, "audit.log"),
      "--max-tunnels-per-client",
      "2000",
    ],
    /listening|ready/i,
  );
  await waitForPort(3128);
  const tinyConf = join(work, "tinyproxy.conf");
  writeFileSync(
    tinyConf,
    "User nobody\nGroup nogroup\nPort 8888\nListen 127.0.0.1\nTimeout 600\nMaxClients 2048\nAllow 127.0.0.1\nConnectPort 443\nConnectPort 8443\nLogLevel Critical\nDisableViaHeader Yes\n",
  );
  const tiny = inNs("tinyproxy", ["-d", "-c", tinyConf]);
  children.push(tiny);
  await waitForPort(8888);
  await new Promise((r) => setTimeout(r, 1000));

  const paths = { direct: "direct", gateway: "127.0.0.1:3128", tinyproxy: "127.0.0.1:8888" } as const;
  // `ip netns exec` execs the program in place, so these pids are the proxies' own.
  const pids = { gateway: gateway.pid ?? 0, tinyproxy: tiny.pid ?? 0 };
  const idle = { gateway: rssMb(pids.gateway), tinyproxy: rssMb(pids.tinyproxy) };
  const results: Record<string, Record<string, number>> = {};
  for (const [name, via] of Object.entries(paths)) {
    process.stderr.write(`bench: ${name}…\n`);
    // Throughput varies run to run on a shared 2-core machine: report the median of three.
    const bulkRuns: number[] = [];
    for (let i = 0; i < 3; i++) bulkRuns.push((await load(["bulk", via, ORIGIN])).mbPerSec ?? 0);
    const bulkMedian = bulkRuns.sort((a, b) => a - b)[1] ?? 0;
    const lat1 = await load(["latency", via, ORIGIN, "1", "2000"]);
    const lat64 = await load(["latency", via, ORIGIN, "64", "6400"]);
    const http = await load(["http", via, ORIGIN, "64", "5"]);
    results[name] = {
      bulkMBps: bulkMedian,
      p50c1: lat1.p50ms ?? 0,
      p99c1: lat1.p99ms ?? 0,
      p50c64: lat64.p50ms ?? 0,
      p99c64: lat64.p99ms ?? 0,
      latencyErrors: (lat1.errors ?? 0) + (lat64.errors ?? 0),
      httpRps: http.requestsPerSec ?? 0,
      httpErrors: http.errors ?? 0,
    };
  }
  const held = {
    gateway: await rssHolding(paths.gateway, pids.gateway),
    tinyproxy: await rssHolding(paths.tinyproxy, pids.tinyproxy),
  };
  report(results, idle, held);
}

function report(
  r: Record<string, Record<string, number>>,
  idle: Record<string, number>,
  held: Record<string, { rss: number; held: number }>,
): void {
  const d = r.direct ?? {};
  const g = r.gateway ?? {};
  const t = r.tinyproxy ?? {};
  const f = (n: number | undefined, digits = 2) => (n === undefined ? "–" : n.toFixed(digits));
  const rows = [
    [
      "bulk CONNECT throughput, median of 3 (MB/s)",
      f(d.bulkMBps, 0),
      f(g.bulkMBps, 0),
      f(t.bulkMBps, 0),
      `gateway/direct ${f((g.bulkMBps ?? 0) / (d.bulkMBps ?? 1))}x, gateway/tinyproxy ${f((g.bulkMBps ?? 0) / (t.bulkMBps ?? 1))}x`,
    ],
    [
      "new tunnel p50 / p99, 1 client (ms)",
      `${f(d.p50c1, 3)} / ${f(d.p99c1, 3)}`,
      `${f(g.p50c1, 3)} / ${f(g.p99c1, 3)}`,
      `${f(t.p50c1, 3)} / ${f(t.p99c1, 3)}`,
      `gateway adds ${f((g.p50c1 ?? 0) - (d.p50c1 ?? 0), 3)} ms at p50`,
    ],
    [
      "new tunnel p50 / p99, 64 clients (ms)",
      `${f(d.p50c64, 3)} / ${f(d.p99c64, 3)}`,
      `${f(g.p50c64, 3)} / ${f(g.p99c64, 3)}`,
      `${f(t.p50c64, 3)} / ${f(t.p99c64, 3)}`,
      `gateway adds ${f((g.p50c64 ?? 0) - (d.p50c64 ?? 0), 3)} ms at p50; errors g=${g.latencyErrors} t=${t.latencyErrors}`,
    ],
    [
      "plain HTTP keep-alive, 64 clients (req/s)",
      f(d.httpRps, 0),
      f(g.httpRps, 0),
      f(t.httpRps, 0),
      `gateway/tinyproxy ${f((g.httpRps ?? 0) / (t.httpRps ?? 1))}x; errors g=${g.httpErrors} t=${t.httpErrors}`,
    ],
    ["RSS idle (MB)", "–", f(idle.gateway, 1), f(idle.tinyproxy, 1), ""],
    [
      "RSS holding 1,000 tunnels (MB)",
      "–",
      `${f(held.gateway?.rss, 1)} (${held.gateway?.held} held)`,
      `${f(held.tinyproxy?.rss, 1)} (${held.tinyproxy?.held} held)`,
      "",
    ],
  ];
  const lines = [
    `| measure | direct | gateway | tinyproxy | ratio |`,
    `| --- | --- | --- | --- | --- |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  writeFileSync(join(work, "results.json"), JSON.stringify({ r, idle, held }, null, 2));
  process.stderr.write(`bench: raw results in ${join(work, "results.json")}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
