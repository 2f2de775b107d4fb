// Real TCP connections for firewall tests: a listener that greets every connection, and a
// one-shot client run as any uid (setpriv, no user account needed) inside a test namespace.
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import type { TestNet } from "./netns.js";

export const GREETING = "moat-test-listener";

// setpriv flags to run as uid with no supplementary groups: what the kernel's skuid match sees.
export const asUid = (uid: number) => [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];

const LISTENER = `
const net = require("node:net");
const endpoints = process.argv.slice(1);
let ready = 0;
for (const ep of endpoints) {
  const i = ep.lastIndexOf(":");
  const server = net.createServer((s) => { s.on("error", () => {}); s.on("data", (d) => s.write(d)); s.write(${JSON.stringify(GREETING)}); });
  server.listen({ host: ep.slice(0, i).replace(/^\\[|\\]$/g, ""), port: Number(ep.slice(i + 1)) }, () => {
    if (++ready === endpoints.length) process.stdout.write("ready\\n");
  });
}
`;

// Endpoints as "host:port" or "[v6]:port". Resolves once every socket listens. With a uid, the
// listener runs as that uid (its sockets are owned by it, as the firewall's skuid match sees).
export async function startListener(
  net: TestNet,
  ns: string,
  endpoints: string[],
  uid?: number,
): Promise<ChildProcess> {
  const args = ["-e", LISTENER, ...endpoints];
  const child =
    uid === undefined
      ? net.spawn(ns, process.execPath, args)
      : net.spawn(ns, "setpriv", [...asUid(uid), process.execPath, ...args], { cwd: "/" });
  await untilReady(child, `listener in ${ns}`);
  return child;
}

// Resolves once the child prints "ready"; its stderr goes into the error if it exits or stalls.
export function untilReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${what} not ready: ${err}`)), 5000);
    child.stderr?.on("data", (d) => {
      err += d;
    });
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}: ${err}`));
    });
  });
}

const CLIENT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(3000, () => done("timeout"));
s.on("data", (d) => done(d.toString().startsWith(${JSON.stringify(GREETING)}) ? "open" : "garbled"));
s.on("error", (e) => done(e.code || e.message));
`;

// Runs a client script (given host and port as arguments) as uid inside ns; returns what it printed.
export function probeWith(client: string, ns: string, uid: number, host: string, port: number): string {
  return execFileSync(
    "ip",
    ["netns", "exec", ns, "setpriv", ...asUid(uid), process.execPath, "-e", client, host, String(port)],
    { encoding: "utf8", cwd: "/", timeout: 10000 },
  ).trim();
}

// "open" when the listener greeted us; otherwise the error code (ECONNREFUSED, EPERM, …) or "timeout".
export const probe = (ns: string, uid: number, host: string, port: number): string =>
  probeWith(CLIENT, ns, uid, host, port);

// A client that connects now, then on "go\n" sends again: shows whether an established
// connection survives a rule change made in between.
const HELD_CLIENT = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
const done = (r) => { process.stdout.write(r + "\\n"); process.exit(0); };
let phase = "connecting";
s.on("data", (d) => {
  if (phase === "connecting") { phase = "held"; process.stdout.write("held\\n"); return; }
  if (d.toString().includes("ping")) done("alive");
});
s.on("error", (e) => done(e.code || e.message));
s.on("close", () => done("closed"));
process.stdin.on("data", () => { s.write("ping"); setTimeout(() => done("timeout"), 3000); });
`;

export interface HeldConnection {
  // Sends once more over the held connection: "alive", or how it died.
  retry(): Promise<string>;
}

export async function holdConnection(
  net: TestNet,
  ns: string,
  uid: number,
  host: string,
  port: number,
): Promise<HeldConnection> {
  const child = net.spawn(
    ns,
    "setpriv",
    [...asUid(uid), process.execPath, "-e", HELD_CLIENT, host, String(port)],
    { stdio: ["pipe", "pipe", "pipe"], cwd: "/" },
  );
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffer = "";
  child.stdout?.on("data", (d: Buffer) => {
    buffer += d.toString();
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const queued = lines.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(() => reject(new Error("held client said nothing")), 8000);
      waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  const first = await nextLine();
  if (first !== "held") throw new Error(`could not hold a connection to ${host}:${port}: ${first}`);
  return {
    retry: () => {
      child.stdin?.write("go\n");
      return nextLine();
    },
  };
}
