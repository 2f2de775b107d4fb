// Where things live on the VM: the one table every module reads (renderers, host apply, verify,
// deploy, the lab). A path on the VM written anywhere else is a second copy that can drift, and
// test/unit/vm-paths.test.ts fails on one.
import type { MoatSpec } from "../spec/schema.js";

// Host apply installs the bundle directory as BUNDLE_DIR, so an artifact at bundle path P is at
// `${BUNDLE_DIR}/${P}` on the VM.
export const BUNDLE_DIR = "/etc/moat";
export const SECRETS_DIR = "/etc/moat-secrets";
export const STATE_DIR = "/var/lib/moat";
export const LOG_DIR = "/var/log/moat";
export const MOAT_INSTALL_DIR = "/opt/moat";
// Host apply's own records (fingerprints of what it last applied); root only, and apart from
// STATE_DIR, which the gateway user can write.
export const HOST_STATE_DIR = "/var/lib/moat-host";
// Where deploy uploads the package, spec and image before host apply installs them.
export const DEPLOY_STAGE_DIR = "/var/cache/moat-deploy";
// The gateway's agent-facing address lives on this dummy interface, never on a public one.
export const GATEWAY_INTERFACE = "moat0";

export const onVm = (bundlePath: string) => `${BUNDLE_DIR}/${bundlePath}`;

// The spec the gateway and drift run with.
export const SPEC_ON_VM = onVm("moat.yaml");
// Tailscale's auth key: root only (0600 root:root) although SECRETS_DIR is the gateway group's,
// so the gateway never gets the tailnet's key. Host apply and deploy write it there.
export const TAILSCALE_AUTHKEY_FILE = `${SECRETS_DIR}/tailscale-authkey`;
// `{ env }` secrets for the gateway: root only, read by systemd before it drops privileges.
export const GATEWAY_ENV_FILE = `${SECRETS_DIR}/gateway.env`;
// Moat as installed, and the Node runtime cloud-init puts there and host apply keeps.
export const INSTALLED_MOAT_JS = `${MOAT_INSTALL_DIR}/bin/moat.js`;
export const RUNTIME_DIR = `${MOAT_INSTALL_DIR}/node`;
export const RUNTIME_NODE = `${RUNTIME_DIR}/bin/node`;
// The gateway and drift units run this Node; host apply links it to RUNTIME_NODE.
export const SYSTEM_NODE = "/usr/bin/node";
// \`moat\` on root's PATH on the VM (sbin: its commands run as root): the runtime and the installed package.
export const MOAT_COMMAND = "/usr/local/sbin/moat";
// Written last by the rendered cloud-init, so deploy can wait for it before pushing anything.
export const CLOUD_INIT_DONE = `${STATE_DIR}/cloud-init.done`;
// An agent image tarball's config (what a Dockerfile would set) lies next to it under this
// suffix, for host apply's `docker import --change`.
export const IMPORT_CHANGES_SUFFIX = ".changes.json";

// The agent's account: its home, its runtime dir and its rootless Docker's socket.
export const agentHome = (spec: MoatSpec) => `/home/${spec.host.agentUser}`;
export const agentRuntimeDir = (spec: MoatSpec) => `/run/user/${spec.host.agentUid}`;
export const agentDockerHost = (spec: MoatSpec) => `unix://${agentRuntimeDir(spec)}/docker.sock`;

// argv run as the agent user (setpriv keeps the environment it is given, nothing else), with
// the agent's home, runtime dir and Docker socket: how host apply and verify act as the agent.
export function agentCommand(
  spec: MoatSpec,
  argv: string[],
): { argv: string[]; env: Record<string, string> } {
  const id = String(spec.host.agentUid);
  return {
    argv: ["setpriv", "--reuid", id, "--regid", id, "--init-groups", "--", ...argv],
    env: {
      HOME: agentHome(spec),
      XDG_RUNTIME_DIR: agentRuntimeDir(spec),
      DOCKER_HOST: agentDockerHost(spec),
      PATH: "/usr/local/bin:/usr/bin:/bin",
    },
  };
}
