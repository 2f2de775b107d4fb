// Step 6 of the pipeline, for tunnels: the ClientHello must ask for the name the CONNECT was
// vetted for. Behind a shared edge (a CDN) the edge routes by SNI, so a tunnel vetted for an
// allowlisted name but carrying another SNI reaches any tenant of that edge (domain fronting);
// an Encrypted Client Hello hides the name the edge routes by, so it is refused unless the
// operator listed the name in egress.echAllow. Pure: the server glues it to the socket.
import { aclHost } from "./acl.js";
import type { Policy } from "./policy.js";
import type { Target } from "./target.js";
import type { HelloParse } from "./tls-hello.js";

type SniDenyCode = "sni-mismatch" | "sni-missing" | "ech-refused" | "not-tls";

export type SniVerdict =
  // note: what the audit should say about a tunnel that was let through unchecked or in part.
  | { action: "pass"; note?: string }
  // report: egress.mode is report, so the refusal is logged and the tunnel goes through.
  | { action: "deny" | "report"; code: SniDenyCode; reason: string };

export type SniPolicy = Pick<Policy, "mode" | "echAcl">;

// A hello the server has finished reading (never "need-more"): a parse verdict, or a timeout
// or close before one arrived, reported as not-tls by the caller.
export type ReadHello = Exclude<HelloParse, { kind: "need-more" }>;

// Names compare as the target parser canonicalises them: lowercase, no trailing dot.
const normaliseSni = (sni: string) => sni.toLowerCase().replace(/\.$/, "");
// For the audit and reasons: an SNI is up to 64 KiB of the agent's choosing; a name is 253.
export const shownSni = (sni: string) => (sni.length > 253 ? `${sni.slice(0, 253)}…` : sni);

export function sniVerdict(target: Target, hello: ReadHello, policy: SniPolicy): SniVerdict {
  const refuse = (code: SniDenyCode, reason: string): SniVerdict => ({
    action: policy.mode === "report" ? "report" : "deny",
    code,
    reason,
  });
  const name = target.host;
  if (hello.kind === "not-tls")
    return refuse("not-tls", `tunnel to ${name} did not start with TLS: ${hello.reason}`);
  if (target.ip !== undefined) {
    // An allowCidrs tunnel was vetted by address, not name: there is no name to hold the SNI to.
    if (hello.ech) return refuse("ech-refused", `Encrypted Client Hello to the IP literal ${name}`);
    return { action: "pass", note: "IP literal: SNI not checked" };
  }
  if (hello.sni === undefined) return refuse("sni-missing", `TLS to ${name} without SNI`);
  const sni = normaliseSni(hello.sni);
  if (sni !== name) return refuse("sni-mismatch", `TLS SNI ${shownSni(sni)} in a tunnel opened for ${name}`);
  if (hello.ech && !aclHost(policy.echAcl, name))
    return refuse("ech-refused", `Encrypted Client Hello to ${name}, which is not in egress.echAllow`);
  return { action: "pass" };
}
