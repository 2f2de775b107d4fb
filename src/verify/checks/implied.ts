// Issue 13: the hosts llm, messengers and agent.image imply are served by the gateway's own routes
// (and host apply's pull). The agent's own CONNECT to one would carry an attacker's credential
// past the relay's filters, so each must be refused to the agent's uid — unless egress.allow
// lists it explicitly (the owner reopened it; `moat validate` warns).
import { isIP } from "node:net";
import { aclHost, compileAcl } from "../../gateway/acl.js";
import { SPEC_ON_VM } from "../../render/paths.js";
import { impliedHosts } from "../../spec/derive.js";
import type { MoatSpec } from "../../spec/schema.js";
import type { ProbeOutcome } from "../probe-script.js";
import { probeAsUid } from "../probes.js";
import { type Check, fail, pass, skip } from "../types.js";

// The implied names to probe: IP literals are the address table's (net.gateway-refuses), and a
// name the owner listed is theirs to reach.
export function impliedProbeHosts(spec: MoatSpec): string[] {
  const acl = compileAcl(spec.egress.allow);
  const names = impliedHosts(spec)
    .map((h) => h.host)
    .filter((h) => isIP(h) === 0 && !aclHost(acl, h));
  return [...new Set(names)];
}

// Pure: every implied host must have answered 403.
export function judgeImplied(outcomes: readonly ProbeOutcome[]): { ok: boolean; detail: string } {
  const open = outcomes.filter((o) => o.outcome !== "403");
  if (open.length === 0)
    return {
      ok: true,
      detail: `${outcomes.length} refused (403): ${outcomes.map((o) => o.target.target).join(", ")}`,
    };
  return {
    ok: false,
    detail: `not refused to the agent: ${open.map((o) => `CONNECT ${o.target.target} → ${o.outcome}`).join(", ")}`,
  };
}

export const impliedHostsRefused: Check = {
  id: "net.implied-hosts",
  title: "the hosts the gateway's own routes serve (llm, messengers, agent.image) are refused to the agent",
  required: true,
  run: async (ctx) => {
    const hosts = impliedProbeHosts(ctx.spec);
    if (hosts.length === 0) return skip("no implied host outside egress.allow");
    const { address, port } = ctx.spec.gateway;
    const connectPort = ctx.spec.egress.connectPorts[0] ?? 443;
    const targets = hosts.map((h) => ({
      kind: "connect" as const,
      host: address,
      port,
      target: `${h}:${connectPort}`,
    }));
    const verdict = judgeImplied(await probeAsUid(ctx.spec.host.agentUid, targets, 5000));
    return verdict.ok
      ? pass(verdict.detail)
      : fail(
          verdict.detail,
          `the gateway must compile only egress.allow for the agent: reinstall Moat (\`moat host apply --only gateway\`) and check ${SPEC_ON_VM}`,
        );
  },
};
