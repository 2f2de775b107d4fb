// Whether an LLM route forwards a call, and the most it may cost. Pure, in two steps around the
// body read: the head (path, query, credential headers) is admitted before a byte of the body
// is read, so a call without the placeholder costs the gateway nothing; then the call itself
// (method, path, parsed JSON body, its size) and the provider's spec give a refusal with a
// reason or a forward with its model, price and worst-case cost. The route reserves that cost
// against the day's budget before anything leaves.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { upstreamBaseUrl } from "../../spec/derive.js";
import type { LlmProvider } from "../../spec/schema.js";
import { safeSuffix } from "../route-http.js";
import { upstreamRefusal } from "../upstream/lookup.js";
import { swapCredential } from "./credential.js";
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

export interface LlmHead {
  method: string;
  // The route's suffix, query excluded, exactly as sent: "/chat/completions".
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface Refusal {
  status: number;
  code:
    | "path"
    | "credential"
    | "not_inference"
    | "bad_body"
    | "refused_field"
    | "provider_fetch"
    | "model"
    | "price"
    | "upstream";
  reason: string;
}

export interface Forward {
  model?: string;
  price?: Price;
  priceSource?: PriceSource;
  reservationUsd: number;
}

export type Admission = { refuse: Refusal } | { forward: Forward };

// `field` names the provider in the owner's terms: "llm[1]"; `allowCidrs` is egress.allowCidrs,
// the only private ranges a base URL may name.
export interface ProviderPolicy extends FetchPolicy {
  field: string;
  allowCidrs: readonly string[];
}

// The route's placeholder and the real key it is swapped for; `swap` is a seam only so the
// tests can show they notice when it is switched off.
export interface ProviderCredential {
  placeholder: string;
  key: string;
  swap?: typeof swapCredential;
}

export type HeadAdmission = { refuse: Refusal } | { headers: OutgoingHttpHeaders };

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

const refuse = (status: number, code: Refusal["code"], reason: string) => ({
  refuse: { status, code, reason },
});

// The head of a call: refused, or the headers to send upstream (the real key in place).
export function admitLlmHead(head: LlmHead, provider: LlmProvider, cred: ProviderCredential): HeadAdmission {
  if (!safeSuffix(head.path)) return refuse(400, "path", "path not allowed on an llm route");
  // A key in the query string (Gemini accepts ?key=) would slip past the header check.
  if (head.query.has("key")) return refuse(401, "credential", "credential in the query string");
  const swapped = (cred.swap ?? swapCredential)(head.headers, provider.kind, cred.placeholder, cred.key);
  if (!swapped.ok) return refuse(401, "credential", swapped.reason);
  return { headers: swapped.headers };
}

function modelOf(endpoint: Endpoint | undefined, req: LlmRequest, body: Json | undefined): unknown {
  if (endpoint?.model === "path") return endpoint.path.exec(req.path)?.[1];
  return body?.model;
}

export function admitLlmCall(req: LlmRequest, provider: LlmProvider, policy: ProviderPolicy): Admission {
  const admission = admitInference(req, provider, policy);
  if ("refuse" in admission) return admission;
  // Node dials an IP literal without the guarded lookup; the base URL is screened here instead.
  const upstream = upstreamRefusal(upstreamBaseUrl(provider), policy.allowCidrs);
  return upstream ? refuse(502, "upstream", upstream) : admission;
}

function admitInference(req: LlmRequest, provider: LlmProvider, policy: ProviderPolicy): Admission {
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
