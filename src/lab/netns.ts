// Network namespaces for the lab, linked only to each other: nothing here ever gives a
// namespace a path to this machine's own. Everything is made and removed by name.
import { execFileSync } from "node:child_process";

const ip = (...args: string[]) =>
  execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
export const inNs = (ns: string, cmd: string, ...args: string[]) =>
  execFileSync("ip", ["netns", "exec", ns, cmd, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

export const namespaceExists = (ns: string) =>
  ip("netns", "list")
    .split("\n")
    .some((l) => l.split(" ")[0] === ns);

export function addNamespace(ns: string): void {
  ip("netns", "add", ns);
  inNs(ns, "ip", "link", "set", "lo", "up");
}

// Kills whatever still runs inside, then deletes the namespace (its interfaces go with it).
export function removeNamespace(ns: string): boolean {
  if (!namespaceExists(ns)) return false;
  for (const pid of ip("netns", "pids", ns).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
  ip("netns", "del", ns);
  return true;
}

const withDad = (addr: string) => (addr.includes(":") ? ["nodad"] : []);

// A veth pair between two lab namespaces, with addresses on each end.
export function linkNamespaces(
  a: { ns: string; ifname: string; addrs: string[] },
  b: { ns: string; ifname: string; addrs: string[] },
): void {
  ip("link", "add", a.ifname, "netns", a.ns, "type", "veth", "peer", "name", b.ifname, "netns", b.ns);
  for (const end of [a, b]) {
    for (const addr of end.addrs)
      inNs(end.ns, "ip", "addr", "add", addr, "dev", end.ifname, ...withDad(addr));
    inNs(end.ns, "ip", "link", "set", end.ifname, "up");
  }
}

// A local interface holding addresses (this kernel may lack dummy links; a veth pair whose ends
// both stay in the namespace holds them the same way).
export function addressHolder(ns: string, ifname: string, addrs: string[]): void {
  ip("link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", `${ifname}p`, "netns", ns);
  for (const addr of addrs) inNs(ns, "ip", "addr", "add", addr, "dev", ifname, ...withDad(addr));
  inNs(ns, "ip", "link", "set", ifname, "up");
  inNs(ns, "ip", "link", "set", `${ifname}p`, "up");
}
