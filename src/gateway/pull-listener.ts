// Host apply's image pulls (issue 13): a second listener, on loopback, which the firewall never
// lets the agent's uids reach. Its policy is exactly the registry hosts of agent.image, CONNECT
// only, nothing else; the agent's own listener refuses those hosts (gateway-route), so neither the
// agent nor its rootless daemon (same uid) can push to an attacker's namespace there. Root's
// skopeo pulls through this listener, and every audit line it writes says listener "pull".
import { registryHosts, registryPort } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { compileAcl } from "./acl.js";
import type { AuditEntry, AuditSink } from "./audit.js";
import type { Policy } from "./policy.js";

const PULL_LISTENER = "pull" satisfies AuditEntry["listener"];

// Same port as the agent's listener, on 127.0.0.1: loopback is refused to the agent's uids.
export const pullListenAddress = (spec: MoatSpec) => ({ host: "127.0.0.1", port: spec.gateway.port });
export const pullProxyUrl = (spec: MoatSpec) => {
  const { host, port } = pullListenAddress(spec);
  return `http://${host}:${port}`;
};

export function pullPolicyFromSpec(spec: MoatSpec): Policy {
  return {
    acl: compileAcl(registryHosts(spec.agent.image)),
    gatewayServed: new Map(),
    aclName: "the registry hosts of agent.image",
    allowCidrs: [],
    mode: "enforce",
    connectPorts: new Set([registryPort(spec.agent.image)]),
    // No plain HTTP: a registry is reached over TLS only.
    httpPorts: new Set(),
    // Registry tunnels are TLS, their SNI the registry's name; nothing may offer ECH.
    plainConnectPorts: new Set(),
    echAcl: compileAcl([]),
  };
}

// The shared audit log, each line marked as the pull listener's.
export const pullAudit = (audit: AuditSink): AuditSink<AuditEntry> => ({
  record: (e) => audit.record({ ...e, listener: PULL_LISTENER }),
  close: () => {},
});
