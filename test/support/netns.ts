// Test hosts in network namespaces that the test creates and links only to each other,
// never to the machine's own namespace. Everything made here is removed by name.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";

export const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });

export function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return run("ip", ["netns", "exec", ns, cmd, ...args], input);
}

export function spawnInNs(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], ...opts });
}

export class TestNet {
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  // Prefix keeps names unique per test file and recognisable for cleanup.
  constructor(private readonly prefix: string) {}

  addNs(name: string): string {
    const full = `${this.prefix}-${name}`;
    try {
      run("ip", ["netns", "del", full]);
    } catch {}
    run("ip", ["netns", "add", full]);
    this.namespaces.push(full);
    inNs(full, "ip", ["link", "set", "lo", "up"]);
    return full;
  }

  // A veth pair between two test namespaces, with an address on each end.
  link(a: string, aAddrs: string[], b: string, bAddrs: string[], name = "v"): void {
    const ifA = `${name}a`;
    const ifB = `${name}b`;
    run("ip", ["link", "add", ifA, "netns", a, "type", "veth", "peer", "name", ifB, "netns", b]);
    for (const addr of aAddrs)
      inNs(a, "ip", ["addr", "add", addr, "dev", ifA, ...(addr.includes(":") ? ["nodad"] : [])]);
    for (const addr of bAddrs)
      inNs(b, "ip", ["addr", "add", addr, "dev", ifB, ...(addr.includes(":") ? ["nodad"] : [])]);
    inNs(a, "ip", ["link", "set", ifA, "up"]);
    inNs(b, "ip", ["link", "set", ifB, "up"]);
  }

  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawnInNs(ns, cmd, args, opts);
    this.children.push(child);
    return child;
  }

  cleanup(): void {
    for (const child of this.children) {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    for (const ns of this.namespaces.reverse()) {
      try {
        // Kill anything still running inside before deleting the namespace.
        const pids = run("ip", ["netns", "pids", ns]).split(/\s+/).filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), "SIGKILL");
      } catch {}
      try {
        run("ip", ["netns", "del", ns]);
      } catch {}
    }
  }
}
