// Steps 2 and 4 of the pipeline as pure functions: admit a parsed target before any lookup
// (ports, local names, the ACL, IP literals), then screen every DNS answer with the shared
// address table. The server only glues these to sockets; tests drive them from tables.
import { type AddressClass, type Classification, classify, isRefusedName } from "../spec/addresses.js";
import { aclHost } from "./acl.js";
import { matchingCidr, type Policy, servedKey } from "./policy.js";
import type { Target } from "./target.js";

export type RequestKind = "CONNECT" | "HTTP";

export interface GatewayRequest {
  kind: RequestKind;
  target: Target;
}

// Stable, low-cardinality codes: metric labels and the audit's `code` field.
type DenyCode =
  | "malformed"
  | "port"
  | "refused-name"
  | "not-allowlisted"
  | "gateway-route"
  | "ip-literal"
  | "no-answers"
  | `class:${Exclude<AddressClass, "public">}`;
type PassCode = "allowlisted" | "allow-cidr" | "report-unlisted";

export type Verdict =
  // addrs: the vetted addresses to dial, in the order to try them; nothing else may be dialled.
  | { action: "allow" | "report"; code: PassCode; reason: string; addrs: string[] }
  // addr: the refused address, when one was involved.
  | { action: "deny"; code: DenyCode; reason: string; addr?: string };
type Deny = Extract<Verdict, { action: "deny" }>;

// A name that passed admission and now needs its answers screened.
interface NeedsLookup {
  action: "lookup";
  name: string;
  listed: boolean;
}
type Admission = Verdict | NeedsLookup;

export type Classifier = (address: string) => Classification;

export interface Pipeline {
  admit(req: GatewayRequest, policy: Policy): Admission;
  screenAnswers(req: GatewayRequest, adm: NeedsLookup, answers: readonly string[], policy: Policy): Verdict;
}

const deny = (code: DenyCode, reason: string, addr?: string): Deny =>
  addr === undefined ? { action: "deny", code, reason } : { action: "deny", code, reason, addr };

// Why `address` must not be dialled, or undefined if it may be. Only rows marked openable can
// be opened by allowCidrs, whatever the CIDR list says.
export function refuseAddress(
  address: string,
  policy: Pick<Policy, "allowCidrs">,
  classifier: Classifier = classify,
): { cls: Exclude<AddressClass, "public">; note: string; address: string } | undefined {
  const c = classifier(address);
  if (c.class === "public") return undefined;
  if (c.row?.openable && matchingCidr(policy, c.address)) return undefined;
  return { cls: c.class, note: c.row?.note ?? "outside global unicast", address: c.address };
}

export function createPipeline(classifier: Classifier = classify): Pipeline {
  return {
    admit(req, policy) {
      const { target } = req;
      const ports = req.kind === "CONNECT" ? policy.connectPorts : policy.httpPorts;
      if (!ports.has(target.port)) {
        const field = req.kind === "CONNECT" ? "egress.connectPorts" : "egress.httpPorts";
        return deny("port", `port ${target.port} is not in ${field}`);
      }
      const listed = target.ip === undefined && aclHost(policy.acl, target.host);
      // Even in report mode: the agent's own credential there is a channel out (issue 13). An IP
      // literal one (a model server's baseUrl) stays closed even where allowCidrs opens its range.
      const served = listed ? undefined : policy.gatewayServed.get(servedKey(target.ip ?? target.host));
      if (served) {
        const reason = `${target.host} is served only by the gateway's own routes (${served.servedBy}, for ${served.field}); the agent may not reach it directly`;
        return deny("gateway-route", reason);
      }
      if (target.ip !== undefined) return admitLiteral(target.ip, policy, classifier);
      if (isRefusedName(target.host)) return deny("refused-name", `${target.host} is a local name`);
      if (!listed && policy.mode === "enforce") {
        return deny("not-allowlisted", `${target.host} is not in ${policy.aclName ?? "egress.allow"}`);
      }
      return { action: "lookup", name: target.host, listed };
    },

    screenAnswers(_req, adm, answers, policy) {
      if (answers.length === 0) return deny("no-answers", `${adm.name} has no A or AAAA records`);
      // A name is refused if ANY answer is refused: the client could be steered to any of them.
      for (const address of answers) {
        const refused = refuseAddress(address, policy, classifier);
        if (refused) {
          const shown = refused.address;
          return deny(`class:${refused.cls}`, `${adm.name} resolves to ${shown} (${refused.cls})`, shown);
        }
      }
      const addrs = preferIPv4(answers);
      return adm.listed
        ? { action: "allow", code: "allowlisted", reason: `${adm.name} is allowlisted`, addrs }
        : { action: "report", code: "report-unlisted", reason: `${adm.name} is not in egress.allow`, addrs };
    },
  };
}

function admitLiteral(ip: string, policy: Policy, classifier: Classifier): Verdict {
  const refused = refuseAddress(ip, policy, classifier);
  if (refused) return deny(`class:${refused.cls}`, `${ip} is ${refused.cls} (${refused.note})`, ip);
  const cidr = matchingCidr(policy, ip);
  if (cidr) return { action: "allow", code: "allow-cidr", reason: `${ip} is in ${cidr.text}`, addrs: [ip] };
  // A public literal skips the hostname ACL, so it needs an explicit allowCidrs entry.
  const reason = `${ip} is an IP literal outside egress.allowCidrs`;
  return policy.mode === "report"
    ? { action: "report", code: "report-unlisted", reason, addrs: [ip] }
    : deny("ip-literal", reason);
}

// IPv4 first: many hosts publish AAAA but have no IPv6 route.
function preferIPv4(answers: readonly string[]): string[] {
  const v4 = answers.filter((a) => !a.includes(":"));
  return v4.length === answers.length ? [...answers] : [...v4, ...answers.filter((a) => a.includes(":"))];
}

export const defaultPipeline = createPipeline();

// The whole pure pipeline in one call, for tests and for anything that already has answers.
export function decide(
  req: GatewayRequest,
  answers: readonly string[],
  policy: Policy,
  pipeline: Pipeline = defaultPipeline,
): Verdict {
  const adm = pipeline.admit(req, policy);
  return adm.action === "lookup" ? pipeline.screenAnswers(req, adm, answers, policy) : adm;
}
