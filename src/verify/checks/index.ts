// Every check `moat verify` runs, in report order.
import type { Check } from "../types.js";
import { agentListenersSilent } from "./answers.js";
import * as container from "./container.js";
import * as host from "./host.js";
import { impliedHostsRefused } from "./implied.js";
import * as net from "./network.js";
import { noRealSecrets } from "./secrets.js";

export const CHECKS: readonly Check[] = [
  net.agentUidRefused,
  net.subuidRefused,
  net.containerRefused,
  net.dnsRefused,
  agentListenersSilent,
  net.gatewayReachable,
  net.gatewayRefusesSpellings,
  impliedHostsRefused,
  net.gatewayChecksSni,
  net.telegramAllowlist,
  container.notPrivileged,
  container.readOnlyRoot,
  container.noCapabilities,
  container.noNewPrivileges,
  container.seccompFilter,
  container.tmpfsNoexec,
  container.noHostMounts,
  container.nonRootUser,
  container.limits,
  container.rootlessDaemon,
  container.loopbackPorts,
  noRealSecrets,
  host.publicListeners,
  host.sshdConfig,
  host.fail2banJail,
  host.firewallLoaded,
  host.gatewayOwnUser,
  host.unattendedUpgrades,
  host.tailscaleUp,
];
