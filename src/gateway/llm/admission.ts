// Whether an LLM route forwards a call, and the most it may cost. Pure: the request (method,
// path under the route, parsed JSON body, its size) and the provider's spec in, a refusal with a
// reason or a forward with its model, price and worst-case cost out. The route reserves that
// cost against the day's budget before anything leaves.
import type { LlmProvider } from "../../spec/schema.js";
import { allowPathMatches, type Endpoint, INFERENCE_ENDPOINTS, inferenceEndpoint } from "./endpoints.js";
import { type FetchPolicy, fetchingProblem } from "./fetching.js";
import {
  DEFAULT_MAX_OUTPUT_TOKENS,
  type Price,
  type PriceSource,
  priceFor,
  worstCaseCost,
} from "./prices.js";

export interface LlmRequest {
  method: string;
  // The route's suffix, query excluded: "/chat/completions".
  path: string;
  body: unknown;
  bodyBytes: number;
}

export interface Refusal {
  status: number;
  code: "not_inference" | "bad_body" | "refused_field" | "provider_fetch" | "model" | "price";
  reason: string;
}

export interface Forward {
  model?: string;
  price?: Price;
  priceSource?: PriceSource;
  reservationUsd: number;
}

export type Admission = { refuse: Refusal } | { forward: Forward };

// `field` names the provider in the owner's terms: "llm[1]".
export interface ProviderPolicy extends FetchPolicy {
  field: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function at(body: Json, dotted: string): unknown {
  let v: unknown = body;
  for (const k of dotted.split(".")) v = isObject(v) && Object.hasOwn(v, k) ? v[k] : undefined;
  return v;
}

// The largest positive whole number among the fields, if any is one.
function largest(body: Json, fields: readonly string[]): number | undefined {
  const values = fields
    .map((f) => at(body, f))
    .filter((v): v is number => Number.isInteger(v) && (v as number) > 0);
  return values.length ? Math.max(...values) : undefined;
}

const refuse = (status: number, code: Refusal["code"], reason: string): Admission => ({
  refuse: { status, code, reason },
});

function modelOf(endpoint: Endpoint | undefined, req: LlmRequest, body: Json | undefined): unknown {
  if (endpoint?.model === "path") return endpoint.path.exec(req.path)?.[1];
  return body?.model;
}

export function admitLlmCall(req: LlmRequest, provider: LlmProvider, policy: ProviderPolicy): Admission {
  const endpoint = inferenceEndpoint(provider.kind, req.method, req.path);
  const opened =
    !endpoint && (provider.allowPaths ?? []).some((e) => allowPathMatches(e, req.method, req.path));
  if (!endpoint && !opened) {
    const known = INFERENCE_ENDPOINTS[provider.kind].map((e) => `${e.method} ${e.doc}`).join(", ");
    return refuse(
      403,
      "not_inference",
      `${req.method} ${req.path} is not an inference endpoint of ${provider.kind} (${known}); ` +
        `${policy.field}.allowPaths can open it explicitly`,
    );
  }
  const body = isObject(req.body) ? req.body : undefined;
  if (endpoint && !body) return refuse(400, "bad_body", `${req.method} ${req.path} needs a JSON object body`);

  for (const r of endpoint?.refuse ?? []) {
    if (body && at(body, r.field) === r.when) return refuse(400, "refused_field", `${r.field}: ${r.reason}`);
  }
  const fetching = fetchingProblem(req.body, policy);
  if (fetching) return refuse(403, "provider_fetch", fetching);

  const model = modelOf(endpoint, req, body);
  if (model === undefined && opened) return { forward: { reservationUsd: 0 } };
  if (typeof model !== "string" || model === "") {
    return refuse(400, "model", `the request names no model; ${policy.field}.models lists the allowed ones`);
  }
  if (!provider.models.includes(model)) {
    return refuse(400, "model", `${model} is not in ${policy.field}.models (${provider.models.join(", ")})`);
  }
  const priced = priceFor(model, provider.prices);
  if (!priced) {
    return refuse(400, "price", `no price is known for ${model}; name it in ${policy.field}.prices`);
  }
  const forward = { model, price: priced.price, priceSource: priced.source };
  if (endpoint?.free) return { forward: { ...forward, reservationUsd: 0 } };

  const ceiling = priced.price.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  const asked = body && endpoint ? largest(body, endpoint.maxOutput) : undefined;
  const choices = (body && endpoint ? largest(body, endpoint.choices) : undefined) ?? 1;
  const outputTokens = Math.min(asked ?? ceiling, ceiling) * choices;
  return {
    forward: { ...forward, reservationUsd: worstCaseCost(req.bodyBytes, outputTokens, priced.price) },
  };
}
