// A target's decision with the network's part included: admit it (decide.ts), resolve its name
// when the pipeline asks, screen the answers. A refusal comes back ready to answer and audit.
import type { Pipeline, RequestKind, Verdict } from "./decide.js";
import type { Refusal } from "./exchange.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Policy } from "./policy.js";
import type { NameResolver } from "./resolve.js";
import type { Target } from "./target.js";

export interface Vetting {
  pipeline: Pipeline;
  resolver: NameResolver;
  metrics?: GatewayMetrics;
}

type Passed = Extract<Verdict, { addrs: string[] }>;
type Vetted = { ok: true; verdict: Passed } | { ok: false; refusal: Refusal };

export async function vet(v: Vetting, kind: RequestKind, target: Target, policy: Policy): Promise<Vetted> {
  const req = { kind, target };
  let verdict: Verdict;
  const adm = v.pipeline.admit(req, policy);
  if (adm.action === "lookup") {
    const r = await v.resolver.resolve(adm.name);
    if (!r.ok) {
      const status = r.code === "dns-timeout" ? 504 : 502;
      return { ok: false, refusal: { decision: "error", code: r.code, reason: r.reason, status } };
    }
    verdict = v.pipeline.screenAnswers(req, adm, r.answers, policy);
  } else {
    verdict = adm;
  }
  v.metrics?.decision(verdict.action, verdict.code);
  if (verdict.action === "deny") {
    const { code, reason, addr } = verdict;
    return { ok: false, refusal: { decision: "deny", code, reason, status: 403, addr } };
  }
  return { ok: true, verdict };
}
