// UDP for firewall tests: an echo socket run as any uid, and a one-shot client that sends one
// datagram and says whether an answer came back. Both inside test namespaces.
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import type { TestNet } from "./netns.js";
import { asUid, untilReady } from "./tcp-probe.js";

const ECHO = `
const s = require("node:dgram").createSocket(process.argv[1].includes(":") ? "udp6" : "udp4");
s.on("message", (m, from) => s.send(m, from.port, from.address));
s.bind(Number(process.argv[2]), process.argv[1], () => process.stdout.write("ready\\n"));
`;

export async function startUdpEcho(
  net: TestNet,
  ns: string,
  uid: number,
  host: string,
  port: number,
): Promise<ChildProcess> {
  const child = net.spawn(ns, "setpriv", [...asUid(uid), process.execPath, "-e", ECHO, host, String(port)], {
    cwd: "/",
  });
  await untilReady(child, `udp echo in ${ns}`);
  return child;
}

const CLIENT = `
const [host, port] = process.argv.slice(1);
const s = require("node:dgram").createSocket(host.includes(":") ? "udp6" : "udp4");
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.on("message", (m) => done(m.toString() === "moat-udp-probe" ? "answered" : "garbled"));
s.on("error", (e) => done(e.code || e.message));
setTimeout(() => done("timeout"), 2000);
s.send("moat-udp-probe", Number(port), host);
`;

// "answered" when the echo came back; otherwise the error code or "timeout". Run as root.
export const udpProbe = (ns: string, host: string, port: number): string =>
  execFileSync("ip", ["netns", "exec", ns, process.execPath, "-e", CLIENT, host, String(port)], {
    encoding: "utf8",
    cwd: "/",
    timeout: 10000,
  }).trim();
