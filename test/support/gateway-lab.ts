// A small world for gateway integration tests, built from namespaces linked only to each other:
//
//   client (198.18.0.2) ── gw (198.18.0.1 | 192.0.2.1, 2001:db8:1::1) ── inet (192.0.2.254, 2001:db8:1::254)
//
// `inet` plays the internet: a DNS server we control, and fake hosts on "public" addresses
// plus a fake metadata service on 169.254.169.254 and a private host on 10.9.9.9 that must
// never be reached. `gw` runs the gateway and a loopback canary it must never reach either.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { inNs, run, TestNet } from "./netns.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const GATEWAY_IP = "198.18.0.1";
export const GATEWAY_PORT = 3128;
export const PROXY = `http://${GATEWAY_IP}:${GATEWAY_PORT}`;
export const DNS_IP = "192.0.2.254";
export const METRICS = "127.0.0.1:9464";

export const PUBLIC4 = "93.184.215.14";
export const OTHER4 = "93.184.215.15";
export const PUBLIC6 = "2606:4700::1111";
export const IMDS = "169.254.169.254";
export const IMDS6 = "fd00:ec2::254";
export const PRIVATE = "10.9.9.9";
export const BLACKHOLE = "93.184.215.16";
export const REFUSING = "93.184.215.17";

export const ZONE = {
  "public.test": { A: [PUBLIC4], AAAA: [PUBLIC6] },
  "v6only.test": { AAAA: [PUBLIC6] },
  "other.test": { A: [OTHER4] },
  "api.sub.test": { A: [PUBLIC4] },
  "private.test": { A: [PRIVATE] },
  "metadata.test": { A: [IMDS] },
  "mixed.test": { A: [PUBLIC4, IMDS] },
  "mapped.test": { A: [PUBLIC4], AAAA: [`::ffff:${IMDS}`] },
  "mapped6.test": { AAAA: [`::ffff:${IMDS}`] },
  "imds6.test": { AAAA: [IMDS6] },
  "loop.test": { A: ["127.0.0.1"] },
  "rebind.test": { rotate: [{ A: [PUBLIC4] }, { A: [IMDS] }] },
  "slow.test": { drop: true },
  "blackhole.test": { A: [BLACKHOLE] },
  "refused.test": { A: [REFUSING] },
};
const TEST_NAMES = [...Object.keys(ZONE), "missing.test"];

// Every test name is allowlisted: address-class refusals must hold for allowlisted names.
export function labYaml(egressExtra = ""): string {
  return `
version: 1
name: lab
target: { kind: lab }
egress:
  allow: [${TEST_NAMES.filter((n) => n !== "other.test" && n !== "api.sub.test").join(", ")}, "*.sub.test"]
  connectPorts: [443, 8007]
  plainConnectPorts: [8007]
  httpPorts: [80]
${egressExtra}
gateway: { address: ${GATEWAY_IP}, port: ${GATEWAY_PORT}, metricsPort: 9464 }
`;
}

export interface Hit {
  hit: string;
  port: number;
  path?: string;
  headers?: Record<string, string>;
  echo?: boolean;
}

export interface RawResult {
  status: number;
  body: string;
  bytes: number;
  ms: number;
  error?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// Collects a child's stdout JSON lines and stderr text.
export class Watched {
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  private waiters: (() => void)[] = [];

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        this.stderr += `${line}\n`;
      }
      this.wake();
    });
    proc.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      this.wake();
    });
    proc.on("exit", () => this.wake());
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  async waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      if (this.proc.exitCode !== null)
        throw new Error(`${what}: process exited (${this.proc.exitCode}): ${this.stderr}`);
      if (performance.now() > deadline) throw new Error(`${what}: timed out; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
}

export interface TunnelClient {
  watched: Watched;
  opened(): number;
  refused(): number;
  closed(): number;
  echoes(data: string): number;
  send(text: string): void;
  exit(): void;
}

export interface GatewayProc {
  watched: Watched;
  auditFile: string;
  yamlFile: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  audit(): Record<string, unknown>[];
}

export class GatewayLab {
  readonly net: TestNet;
  readonly client: string;
  readonly gw: string;
  readonly inet: string;
  readonly dir: string;
  readonly ca: string;
  private internet!: Watched;
  private canary!: Watched;
  private dns!: Watched;
  private gateways: GatewayProc[] = [];

  constructor(prefix: string) {
    this.net = new TestNet(prefix);
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    this.ca = join(this.dir, "ca.pem");
    this.client = this.net.addNs("client");
    this.gw = this.net.addNs("gw");
    this.inet = this.net.addNs("inet");
  }

  async setup(): Promise<void> {
    const { net, client, gw, inet } = this;
    net.link(client, ["198.18.0.2/24"], gw, [`${GATEWAY_IP}/24`], "cg");
    net.link(gw, ["192.0.2.1/24", "2001:db8:1::1/64"], inet, [`${DNS_IP}/24`, "2001:db8:1::254/64"], "gi");
    inNs(gw, "ip", ["route", "add", "default", "via", DNS_IP]);
    inNs(gw, "ip", ["-6", "route", "add", "default", "via", "2001:db8:1::254"]);
    for (const a of [PUBLIC4, OTHER4, PRIVATE, IMDS, REFUSING])
      inNs(inet, "ip", ["addr", "add", `${a}/32`, "dev", "lo"]);
    // REFUSING resets connections to 80 and 443; BLACKHOLE is routed to inet but owned by no
    // one there, so its SYNs vanish.
    inNs(
      inet,
      "nft",
      ["-f", "-"],
      `table inet lab {\n chain input {\n  type filter hook input priority 0;\n  ip daddr ${REFUSING} tcp dport { 80, 443 } reject with tcp reset\n }\n chain pre {\n  type filter hook prerouting priority 0;\n  ip daddr ${BLACKHOLE} drop\n }\n}\n`,
    );
    for (const a of [PUBLIC6, IMDS6]) inNs(inet, "ip", ["-6", "addr", "add", `${a}/128`, "dev", "lo"]);
    this.makeCerts();

    const zoneFile = this.write("zone.json", JSON.stringify(ZONE));
    this.dns = new Watched(
      net.spawn(inet, "node", ["--import", "tsx", "test/support/fake-dns.ts", DNS_IP, zoneFile], {
        cwd: REPO,
      }),
    );
    const cfg = {
      http: [80],
      https: [443],
      echo: [8007],
      cert: join(this.dir, "leaf.pem"),
      key: join(this.dir, "leaf.key"),
    };
    const inetCfg = this.write("internet.json", JSON.stringify(cfg));
    this.internet = new Watched(
      net.spawn(inet, "node", ["--import", "tsx", "test/support/fake-internet.ts", inetCfg], { cwd: REPO }),
    );
    const canaryCfg = this.write("canary.json", JSON.stringify({ ...cfg, bind: ["127.0.0.1", "::1"] }));
    this.canary = new Watched(
      net.spawn(gw, "node", ["--import", "tsx", "test/support/fake-internet.ts", canaryCfg], { cwd: REPO }),
    );
    for (const w of [this.dns, this.internet, this.canary]) {
      await w.waitFor(() => w.lines.some((l) => "ready" in l), "fake service start");
    }
  }

  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  private makeCerts() {
    const d = this.dir;
    const sans = [...Object.keys(ZONE), "missing.test"].map((n) => `DNS:${n}`).join(",");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run("openssl", [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      join(d, "ca.key"),
      "-out",
      this.ca,
      "-days",
      "2",
      "-subj",
      "/CN=moat test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ]);
    run("openssl", [
      "req",
      ...ec,
      "-keyout",
      join(d, "leaf.key"),
      "-out",
      join(d, "leaf.csr"),
      "-subj",
      "/CN=public.test",
    ]);
    writeFileSync(
      join(d, "ext.cnf"),
      `subjectAltName=${sans},IP:${PUBLIC4},IP:${PUBLIC6}\nextendedKeyUsage=serverAuth\n`,
    );
    run("openssl", [
      "x509",
      "-req",
      "-in",
      join(d, "leaf.csr"),
      "-CA",
      this.ca,
      "-CAkey",
      join(d, "ca.key"),
      "-CAcreateserial",
      "-out",
      join(d, "leaf.pem"),
      "-days",
      "2",
      "-extfile",
      join(d, "ext.cnf"),
    ]);
  }

  // Hits on the fake internet (inet) and on the gateway host's own loopback (canary).
  hits(): Hit[] {
    return this.internet.lines.filter((l) => "hit" in l) as unknown as Hit[];
  }
  canaryHits(): Hit[] {
    return this.canary.lines.filter((l) => "hit" in l) as unknown as Hit[];
  }
  dnsQueries(name: string): number {
    return this.dns.lines.filter((l) => l.dns === name).length;
  }

  async startGateway(
    yaml: string,
    opts: { args?: string[]; weaken?: string[]; tag?: string } = {},
  ): Promise<GatewayProc> {
    const tag = opts.tag ?? `gw${this.gateways.length}`;
    const yamlFile = this.write(`${tag}.yaml`, yaml);
    const auditFile = join(this.dir, `${tag}-audit.log`);
    const entry = opts.weaken ? "test/support/gateway-child.ts" : "src/cli/main.ts";
    const args = [
      "--import",
      "tsx",
      entry,
      "gateway",
      "-c",
      yamlFile,
      "--dns",
      DNS_IP,
      "--audit-log",
      auditFile,
      "--dns-timeout",
      "1s",
      "--drain-timeout",
      "3s",
      ...(opts.args ?? []),
    ];
    const env = {
      ...process.env,
      NO_COLOR: "1",
      MOAT_TEST_WEAKEN: (opts.weaken ?? []).join(","),
      MOAT_TEST_DNS: DNS_IP,
    };
    const proc = this.net.spawn(this.gw, "node", args, { cwd: REPO, env });
    const watched = new Watched(proc);
    // Deadlines are monotonic (a wall-clock step must not fail a start), and a gateway that did not
    // come up is killed, so it cannot hold the next one's ports.
    await watched
      .waitFor(() => watched.stderr.includes("listening on"), "gateway start")
      .catch((err) => {
        proc.kill("SIGKILL");
        throw err;
      });
    const g: GatewayProc = {
      watched,
      auditFile,
      yamlFile,
      async stop(signal = "SIGTERM") {
        if (proc.exitCode !== null) return proc.exitCode;
        const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
        // `ip netns exec` exec()s the command, so this signals the gateway's node process itself.
        proc.kill(signal);
        const hung = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        const code = await exited;
        clearTimeout(hung);
        return code;
      },
      audit() {
        try {
          return readFileSync(auditFile, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l));
        } catch {
          return [];
        }
      },
    };
    this.gateways.push(g);
    return g;
  }

  // Run a command in the client namespace (the agent's side), never in ours.
  exec(
    cmd: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; ns?: string } = {},
  ): Promise<ExecResult> {
    return new Promise((resolvePromise) => {
      execFile(
        "ip",
        ["netns", "exec", opts.ns ?? this.client, cmd, ...args],
        {
          cwd: REPO,
          env: opts.env ?? { PATH: process.env.PATH, HOME: process.env.HOME },
          timeout: opts.timeoutMs ?? 30_000,
          maxBuffer: 64 << 20,
        },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === "number"
              ? (err as { code: number }).code
              : -1
            : 0;
          resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  // curl through the gateway. Returns the status the client saw: for https, the CONNECT
  // status if the tunnel was refused, else the origin's; plus the body.
  async curl(
    url: string,
    extra: string[] = [],
  ): Promise<{ status: number; body: string; exit: number; stderr: string }> {
    const r = await this.exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "--proxy",
      PROXY,
      "--cacert",
      this.ca,
      "-o",
      "-",
      "-w",
      "\n%{http_code} %{http_connect}",
      ...extra,
      url,
    ]);
    const nl = r.stdout.lastIndexOf("\n");
    const [code, connect] = r.stdout
      .slice(nl + 1)
      .split(" ")
      .map(Number) as [number, number];
    const status = url.startsWith("https:") && connect !== 200 && connect !== 0 ? connect : code;
    return { status, body: r.stdout.slice(0, nl), exit: r.code, stderr: r.stderr };
  }

  // Raw bytes to the gateway from the client namespace, one connection per request.
  raw(requests: string[], timeoutMs = 5000): Promise<RawResult[]> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          this.client,
          "node",
          "--import",
          "tsx",
          "test/support/raw-proxy.ts",
          GATEWAY_IP,
          String(GATEWAY_PORT),
          String(timeoutMs),
        ],
        { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      child.on("exit", () => {
        try {
          resolvePromise(JSON.parse(out));
        } catch {
          reject(new Error(`raw-proxy failed: ${err}`));
        }
      });
      child.stdin.end(JSON.stringify(requests));
    });
  }

  // Hold `count` CONNECT tunnels to `target` open from the client namespace.
  tunnels(target: string, count: number): TunnelClient {
    const proc = this.net.spawn(
      this.client,
      "node",
      [
        "--import",
        "tsx",
        "test/support/tunnel-client.ts",
        GATEWAY_IP,
        String(GATEWAY_PORT),
        target,
        String(count),
      ],
      { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] },
    );
    const watched = new Watched(proc);
    const count_ = (key: string) => watched.lines.filter((l) => key in l).length;
    return {
      watched,
      opened: () => count_("open"),
      refused: () => count_("refused"),
      closed: () => count_("closed"),
      echoes: (data: string) => watched.lines.filter((l) => l.data === data).length,
      send: (text: string) => proc.stdin?.write(`send ${text}\n`),
      exit: () => proc.stdin?.end("exit\n"),
    };
  }

  cleanup(): void {
    for (const g of this.gateways) if (g.watched.proc.exitCode === null) g.watched.proc.kill("SIGKILL");
    this.net.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The server a JSON body from the fake internet says it came from.
export function servedBy(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { server?: string }).server;
  } catch {
    return undefined;
  }
}
