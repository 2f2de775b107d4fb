// Running probes from the agent's side: as a uid on the host (setpriv + Node), and inside the
// agent's container (busybox-style nc and nslookup, when the image has them).
import { existsSync } from "node:fs";
import { SYSTEM_NODE } from "../render/paths.js";
import { PROBE_SCRIPT, type ProbeOutcome, type ProbeTarget } from "./probe-script.js";
import { sh } from "./shell.js";
import type { Observations } from "./types.js";

// The agent's uids cannot read root's home; prefer the system-wide Node host apply installs.
const nodeForProbes = () => (existsSync(SYSTEM_NODE) ? SYSTEM_NODE : process.execPath);

// Node run as `uid` (its own gid, no supplementary groups), as the agent's processes run.
export const nodeAsUid = (uid: number) => [
  "setpriv",
  `--reuid=${uid}`,
  `--regid=${uid}`,
  "--clear-groups",
  nodeForProbes(),
];

export async function probeAsUid(
  uid: number,
  targets: ProbeTarget[],
  limitMs = 2000,
): Promise<ProbeOutcome[]> {
  const r = await sh([...nodeAsUid(uid), "-e", PROBE_SCRIPT, JSON.stringify(targets), String(limitMs)], {
    timeoutMs: limitMs + 4000,
  });
  if (r.code !== 0)
    throw new Error(`probe as uid ${uid} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return JSON.parse(r.stdout) as ProbeOutcome[];
}

const quote = (s: string) => `'${s.replace(/'/g, "")}'`;

// One shell line per target, all in the background; each prints "<index> <outcome>".
function containerScript(targets: readonly ProbeTarget[]): string {
  const lines = targets.map((t, i) => {
    const host = quote(t.host);
    if (t.kind === "dns")
      return `( o=$(timeout 2 nslookup example.org ${host} 2>&1); r=$?; case "$o" in *"Name:"*|*"can't find"*|*NXDOMAIN*) echo "${i} answered";; *) echo "${i} unanswered-$r";; esac ) &`;
    return `( o=$(nc -w 2 ${host} ${t.port} </dev/null 2>&1); if [ $? -eq 0 ]; then echo "${i} open"; else echo "${i} $(echo "$o" | sed 's/.*: //' | tr ' ' '-')"; fi ) &`;
  });
  return `${lines.join("\n")}\nwait\n`;
}

export async function probeInContainer(
  observe: Observations,
  targets: ProbeTarget[],
): Promise<ProbeOutcome[] | { missing: string }> {
  const tools = await observe.inContainer("command -v nc && command -v nslookup && command -v timeout", 5000);
  if (tools.code !== 0) return { missing: "the agent image has no nc, nslookup and timeout to probe with" };
  const r = await observe.inContainer(containerScript(targets), 8000);
  const byIndex = new Map<number, string>();
  for (const line of r.stdout.split("\n")) {
    const m = line.match(/^(\d+) (.+)$/);
    if (m) byIndex.set(Number(m[1]), m[2] ?? "");
  }
  return targets.map((target, i) => ({ target, outcome: byIndex.get(i) ?? "no-result" }));
}
