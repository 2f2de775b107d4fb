// The TCP and UDP sockets a process listens on, from `ss -H -ltnup` (run in the namespace to look
// at), and which of them are not on loopback.
import { execFileSync } from "node:child_process";

export interface Listener {
  proto: string;
  local: string;
}

// One line: `tcp LISTEN 0 511 127.0.0.1:18789 0.0.0.0:* users:(("node",pid=42,fd=20))`.
export function listenersOf(ssOutput: string, pid: number): Listener[] {
  return ssOutput
    .split("\n")
    .filter((l) => new RegExp(`[(,]pid=${pid},`).test(l))
    .map((l) => {
      const [proto = "", , , , local = ""] = l.trim().split(/\s+/);
      return { proto, local };
    });
}

const host = (local: string) =>
  local
    .slice(0, local.lastIndexOf(":"))
    .replace(/^\[|\]$/g, "")
    .replace(/%.*$/, "");

export const isLoopback = (local: string) => {
  const h = host(local);
  return /^127\./.test(h) || h === "::1";
};

export const notOnLoopback = (listeners: Listener[]) => listeners.filter((l) => !isLoopback(l.local));

// `ss` in this machine's namespace, or in a named one (ip netns exec).
export const socketTable = (netns?: string) =>
  execFileSync(netns ? "ip" : "ss", [...(netns ? ["netns", "exec", netns, "ss"] : []), "-H", "-ltnup"], {
    encoding: "utf8",
  });
