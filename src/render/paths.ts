// Where the bundle lives on the VM. Host apply installs the bundle directory as BUNDLE_DIR,
// so an artifact at bundle path P is at `${BUNDLE_DIR}/${P}` on the VM.
export const BUNDLE_DIR = "/etc/moat";
export const SECRETS_DIR = "/etc/moat-secrets";
export const STATE_DIR = "/var/lib/moat";
export const LOG_DIR = "/var/log/moat";
export const MOAT_INSTALL_DIR = "/opt/moat";
// The gateway's agent-facing address lives on this dummy interface, never on a public one.
export const GATEWAY_INTERFACE = "moat0";

export const onVm = (bundlePath: string) => `${BUNDLE_DIR}/${bundlePath}`;
