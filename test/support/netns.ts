// Test hosts in network namespaces that the test creates and links only to each other,
// never to the machine's own namespace. Everything made here is removed by name.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";
import { addNamespace, linkNamespaces, removeNamespace } from "../../src/lab/netns.js";

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
    removeNamespace(full);
    addNamespace(full);
    this.namespaces.push(full);
    return full;
  }

  // A veth pair between two test namespaces, with an address on each end.
  link(a: string, aAddrs: string[], b: string, bAddrs: string[], name = "v"): void {
    linkNamespaces(
      { ns: a, ifname: `${name}a`, addrs: aAddrs },
      { ns: b, ifname: `${name}b`, addrs: bAddrs },
    );
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
        removeNamespace(ns);
      } catch {}
    }
  }
}
