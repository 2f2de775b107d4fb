// Valid but risky choices `moat validate` points out, each naming its field. Pure.
import { aclHost, compileAcl } from "../gateway/acl.js";
import { priceFor } from "../gateway/llm/prices.js";
import { impliedHosts } from "./derive.js";
import type { MoatSpec } from "./schema.js";

export interface SpecWarning {
  path: string;
  message: string;
}

// An egress.allow entry that covers a host the gateway's own routes serve reopens the channel
// issue 13 closed: the agent can reach it with a credential of its own, past the route's filters.
export function specWarnings(spec: MoatSpec): SpecWarning[] {
  return [...reopenedHosts(spec), ...unpricedModels(spec)];
}

function reopenedHosts(spec: MoatSpec): SpecWarning[] {
  const implied = impliedHosts(spec);
  return spec.egress.allow.flatMap((entry, i) => {
    const acl = compileAcl([entry]);
    const covered = implied.filter((h) => aclHost(acl, h.host));
    if (covered.length === 0) return [];
    const what = covered.map((h) => `${h.host} (${h.servedBy}, for ${h.field})`).join(", ");
    return [
      {
        path: `egress.allow[${i}]`,
        message: `${entry} covers ${what}, served by the gateway's own routes; listing it lets the agent reach it directly with credentials of its own, past the gateway's filters. Remove it unless that is what you mean`,
      },
    ];
  });
}

// The gateway refuses a model it cannot price (its budget would be no cap); say so before the
// first call is refused rather than after.
function unpricedModels(spec: MoatSpec): SpecWarning[] {
  return spec.llm.flatMap((p, i) =>
    p.models.flatMap((model, j) =>
      priceFor(model, p.prices)
        ? []
        : [
            {
              path: `llm[${i}].models[${j}]`,
              message: `${model} has no price in Moat's table; the gateway refuses calls to it until llm[${i}].prices names it`,
            },
          ],
    ),
  );
}
