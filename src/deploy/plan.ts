// What `moat deploy` does for each target, decided from the spec alone. Pure.

import { sshLoginUsers } from "../render/sshd.js";
import type { MoatSpec } from "../spec/schema.js";
import { DeployProblem } from "./problem.js";

export class DeployRefused extends DeployProblem {
  override readonly name = "DeployRefused";
  override readonly code = "MOAT_DEPLOY_REFUSED";
}

export type DeployStep = "render" | "terraform" | "connect" | "push" | "apply" | "verify";

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
}

export const isCloud = (spec: MoatSpec): boolean => spec.target.kind === "oci" || spec.target.kind === "aws";

export function deploySteps(spec: MoatSpec): DeployStep[] {
  switch (spec.target.kind) {
    case "oci":
    case "aws":
      return ["render", "terraform", "connect", "push", "apply", "verify"];
    case "ssh":
      return ["render", "connect", "push", "apply", "verify"];
    case "lab":
      throw new DeployRefused(
        "target.kind lab is a simulated VM on this machine (`moat lab`, not built yet); deploy handles oci, aws and ssh",
      );
  }
}

// The account deploy logs in as: the ssh target's user, or the cloud image's (Canonical's
// Ubuntu images use `ubuntu`) unless --ssh-user says otherwise.
export function loginUser(spec: MoatSpec, override?: string): string {
  if (override) return override;
  return spec.target.kind === "ssh" ? spec.target.user : "ubuntu";
}

// Host apply installs an sshd AllowUsers from the spec; a login user outside it would lock the
// next deploy out, so it is refused before anything changes.
export function loginProblem(spec: MoatSpec, user: string): string | null {
  const allowed = sshLoginUsers(spec);
  if (allowed.includes(user)) return null;
  return `deploy logs in as ${user}, but host apply will allow SSH only for ${allowed.join(", ")} (access.sshUsers): add ${user} there or pass --ssh-user`;
}

// The rendered cloud firewall lets SSH in only from access.allowFrom, and deploy needs SSH before
// Tailscale exists (host apply brings it up), so a cloud deploy with an empty list could never connect.
export function cloudSshProblem(spec: MoatSpec): string | null {
  if (!isCloud(spec) || spec.access.allowFrom.length) return null;
  return "access.allowFrom is empty, and the cloud firewall opens SSH only to it: add the address deploy connects from (e.g. your public IP as 198.51.100.7/32)";
}

// Where to reach the host, in the order to try. Once Tailscale has closed public SSH (after the
// first successful apply), its MagicDNS name is tried first; the public address stays as a fallback.
export function sshCandidates(
  spec: MoatSpec,
  opts: { publicHost: string; user: string; appliedBefore: boolean },
): SshEndpoint[] {
  const port = spec.target.kind === "ssh" ? spec.target.port : 22;
  const direct = { host: opts.publicHost, port, user: opts.user };
  const ts = spec.access.tailscale;
  if (!ts) return [direct];
  const tailnet = { host: ts.hostname ?? spec.name, port: 22, user: opts.user };
  return opts.appliedBefore ? [tailnet, direct] : [direct, tailnet];
}

// How the operator reaches the agent once deployed. Moat's sshd forbids TCP forwarding, so
// without Tailscale the agent's port stays on the host's loopback.
export function accessHint(spec: MoatSpec, endpoint: SshEndpoint, tailnetDnsName?: string): string {
  const ts = spec.access.tailscale;
  if (ts?.serve && tailnetDnsName) return `https://${tailnetDnsName.replace(/\.$/, "")}/ (Tailscale serve)`;
  if (ts?.serve) return `https://${ts.hostname ?? spec.name}.<your tailnet>.ts.net/ (Tailscale serve)`;
  const local = `127.0.0.1:${spec.agent.port} on ${endpoint.host} (loopback only; add access.tailscale to reach it from your devices)`;
  return spec.messengers.telegram ? `your Telegram bot; the agent's API is on ${local}` : local;
}
