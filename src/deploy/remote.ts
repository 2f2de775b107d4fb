// What deploy needs to know about the VM before pushing: who it is logged in as, whether sudo
// works, whether cloud-init finished, which Node can run Moat, and what was pushed last time.

import { nodeIsRecentEnough } from "../host/distro.js";
import { CLOUD_INIT_DONE, DEPLOY_STAGE_DIR, RUNTIME_NODE } from "../render/paths.js";
import { DeployProblem } from "./problem.js";
import { type Remote, shellQuote } from "./ssh.js";

export const STAGED_PACKAGE = `${DEPLOY_STAGE_DIR}/agentmoat`;
export const STAGED_SPEC = `${DEPLOY_STAGE_DIR}/moat.yaml`;
export const STAGED_IMAGE = `${DEPLOY_STAGE_DIR}/agent-image.tar`;
const PACKAGE_HASH_FILE = `${STAGED_PACKAGE}/.deploy-sha256`;
export const IMAGE_HASH_FILE = `${DEPLOY_STAGE_DIR}/agent-image.sha256`;

export class RemoteUnfit extends DeployProblem {
  override readonly name = "RemoteUnfit";
  override readonly code = "MOAT_DEPLOY_REMOTE_UNFIT";
}

export interface RemoteFacts {
  cloudInitDone: boolean;
  packageSha256: string;
  imageSha256: string;
  nodes: { path: string; version: string }[];
}

const FACTS_SCRIPT = `
[ -e ${CLOUD_INIT_DONE} ] && echo cloud-init=done
echo "package=$(cat ${PACKAGE_HASH_FILE} 2>/dev/null)"
echo "image=$(cat ${IMAGE_HASH_FILE} 2>/dev/null)"
for n in ${RUNTIME_NODE} $(command -v node 2>/dev/null); do
  [ -x "$n" ] && echo "node=$n $("$n" --version 2>/dev/null)"
done
true`;

export function parseFacts(text: string): RemoteFacts {
  const lines = text.split("\n");
  const value = (key: string) =>
    lines
      .find((l) => l.startsWith(`${key}=`))
      ?.slice(key.length + 1)
      .trim() ?? "";
  return {
    cloudInitDone: lines.includes("cloud-init=done"),
    packageSha256: value("package"),
    imageSha256: value("image"),
    nodes: lines
      .filter((l) => l.startsWith("node="))
      .map((l) => {
        const [path = "", version = ""] = l.slice(5).split(" ");
        return { path, version };
      }),
  };
}

// cloud-init's pinned Node first, then one on PATH if recent enough; never a download.
export function pickNode(facts: RemoteFacts): string {
  const usable = facts.nodes.find((n) => n.version && nodeIsRecentEnough(n.version));
  if (usable) return usable.path;
  const seen = facts.nodes.map((n) => `${n.path} ${n.version || "(unrunnable)"}`).join(", ");
  throw new RemoteUnfit(
    `no Node.js ≥ 20.19 on the host${seen ? ` (found ${seen})` : ""}: install one (e.g. Debian 13's nodejs package, or NodeSource's node_22.x) and deploy again`,
  );
}

// Every remote command that needs root goes through this: sudo without a password prompt.
export interface Privileged {
  remote: Remote;
  sudo: string;
}

export async function privileged(remote: Remote): Promise<Privileged> {
  const r = await remote.run("id -u");
  if (r.code !== 0) throw new RemoteUnfit(`\`id -u\` failed on the host: ${r.stderr.trim()}`);
  if (r.stdout.trim() === "0") return { remote, sudo: "" };
  const s = await remote.run("sudo -n true");
  if (s.code !== 0)
    throw new RemoteUnfit(
      `${remote.endpoint.user} cannot run sudo without a password on the host (${s.stderr.trim() || `exit ${s.code}`}): deploy needs root or passwordless sudo`,
    );
  return { remote, sudo: "sudo -n " };
}

export const asRoot = (p: Privileged, script: string) => `${p.sudo}sh -c ${shellQuote(script)}`;

export async function readFacts(p: Privileged): Promise<RemoteFacts> {
  const r = await p.remote.run(asRoot(p, FACTS_SCRIPT));
  if (r.code !== 0) throw new RemoteUnfit(`reading the host's state failed: ${r.stderr.trim()}`);
  return parseFacts(r.stdout);
}
