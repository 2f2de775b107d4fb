// The bundle: every artifact the VM needs, each from a pure renderer of the spec.
import type { MoatSpec } from "../spec/schema.js";
import type { Artifact } from "./artifact.js";
import { renderCloudInit } from "./cloud-init.js";
import { renderCompose } from "./compose.js";
import { renderFail2ban } from "./fail2ban.js";
import { renderNftables } from "./nftables.js";
import { renderOpenclawConfig } from "./openclaw.js";
import { renderRootlessDockerUnit } from "./rootless-docker.js";
import { renderSeccomp } from "./seccomp.js";
import { renderSshLockdown } from "./ssh-lockdown.js";
import { renderSshd } from "./sshd.js";
import { renderSystemdUnits } from "./systemd.js";
import { renderTerraform } from "./terraform/index.js";

type Renderer = (spec: MoatSpec) => Artifact[];

const RENDERERS: Renderer[] = [
  renderNftables,
  renderCompose,
  renderSeccomp,
  renderOpenclawConfig,
  renderSshd,
  renderSshLockdown,
  renderFail2ban,
  renderSystemdUnits,
  renderRootlessDockerUnit,
  // Cloud targets only: how the VM is made, before host apply runs on it.
  renderCloudInit,
  renderTerraform,
];

export function renderBundle(spec: MoatSpec): Artifact[] {
  const artifacts = RENDERERS.flatMap((render) => render(spec));
  const paths = new Set<string>();
  for (const a of artifacts) {
    if (paths.has(a.path)) throw new Error(`two artifacts claim ${a.path}`);
    paths.add(a.path);
  }
  return artifacts.sort((a, b) => a.path.localeCompare(b.path));
}
