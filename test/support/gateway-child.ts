// Test-only entry: the real `moat gateway` command with parts deliberately broken, so the
// integration tests can show they notice (negative controls). Never shipped, never in src/.
//   MOAT_TEST_WEAKEN=metadata,link-local   treat these address classes as public
//   MOAT_TEST_WEAKEN=first-answer          screen only the first DNS answer
//   MOAT_TEST_WEAKEN=acl-open|names-open|ports-open   skip one pre-DNS check
//   MOAT_TEST_WEAKEN=redial-by-name        look the name up again at dial time (TOCTOU)
//   MOAT_TEST_WEAKEN=head-check-off        relay any upstream head (Node's writeHead then throws)
//   MOAT_TEST_WEAKEN=last-resort-off       no process-level net for what a request lets through
// MOAT_TEST_DNS names the resolver the redialler uses.
import { Resolver } from "node:dns/promises";
import { Command } from "commander";
import { registerGateway } from "../../src/cli/gateway.js";
import { runMain } from "../../src/cli/util.js";
import { createPipeline, type Pipeline } from "../../src/gateway/decide.js";
import { connectOne, type Dialer } from "../../src/gateway/dial.js";
import type { GatewaySeams } from "../../src/gateway/run.js";
import { classify } from "../../src/spec/addresses.js";

const weaken = new Set((process.env.MOAT_TEST_WEAKEN ?? "").split(",").filter(Boolean));
const seams: GatewaySeams = {};

let pipeline: Pipeline = createPipeline((a) => {
  const c = classify(a);
  return weaken.has(c.class) ? { class: "public", address: c.address } : c;
});
// Pre-DNS checks switched off one by one: the ACL, the local-name list, the port lists.
const admitChecks: Record<string, string> = {
  "acl-open": "not-allowlisted",
  "names-open": "refused-name",
  "ports-open": "port",
};
for (const [flag, code] of Object.entries(admitChecks)) {
  if (!weaken.has(flag)) continue;
  const inner = pipeline;
  pipeline = {
    ...inner,
    admit(req, policy) {
      const ports = new Set([req.target.port]);
      const p = code === "port" ? { ...policy, connectPorts: ports, httpPorts: ports } : policy;
      const adm = inner.admit(req, p);
      if (adm.action !== "deny" || adm.code !== code) return adm;
      return req.target.ip
        ? { action: "allow", code: "allow-cidr", reason: "weakened", addrs: [req.target.ip] }
        : { action: "lookup", name: req.target.host, listed: true };
    },
  };
}
if (weaken.has("first-answer")) {
  const inner = pipeline;
  pipeline = {
    ...inner,
    screenAnswers: (req, adm, answers, policy) => inner.screenAnswers(req, adm, answers.slice(0, 1), policy),
  };
}
seams.pipeline = pipeline;

if (weaken.has("redial-by-name")) {
  const resolver = new Resolver();
  if (process.env.MOAT_TEST_DNS) resolver.setServers([process.env.MOAT_TEST_DNS]);
  const redial: Dialer = async (req) => {
    const again = await resolver.resolve4(req.name).catch(() => [...req.addrs]);
    return connectOne(again[0] ?? (req.addrs[0] as string), req.port, req.timeoutMs);
  };
  seams.dial = redial;
}

if (weaken.has("head-check-off")) seams.headCheck = () => ({ ok: true });
if (weaken.has("last-resort-off")) seams.lastResort = false;

if (weaken.size > 0) process.stderr.write(`moat gateway (TEST BUILD): weakened: ${[...weaken].join(", ")}\n`);
const program = new Command("moat-test-gateway");
registerGateway(program, seams);
await runMain(program);
