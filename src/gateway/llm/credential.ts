// The agent holds only a placeholder; this is the one place the real key enters a request.
// Pure: headers in, headers out (or a refusal). The route decides what to do with a refusal.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { PROVIDER_SHAPES } from "../../spec/derive.js";
import type { LlmKind } from "../../spec/schema.js";
import { withoutHopByHop } from "../headers.js";
import { sameSecret } from "../upstream/secret.js";

// Every header a provider SDK might carry a credential in. Only the provider's own one may be
// set, and only to the placeholder; all of them are removed before the real key goes in.
const CREDENTIAL_HEADERS = [
  "authorization",
  "x-api-key",
  "x-goog-api-key",
  "api-key",
  "proxy-authorization",
] as const;

// Where each kind's clients put the key. Anthropic's SDK 1.x sends an API key as a Bearer token,
// older clients use x-api-key; the real key goes out in the header the placeholder came in.
const KEY_HEADERS: Record<LlmKind, readonly string[]> = {
  anthropic: ["x-api-key", "authorization"],
  openai: ["authorization"],
  "openai-compatible": ["authorization"],
  gemini: ["x-goog-api-key"],
  openrouter: ["authorization"],
};

export type SwapResult =
  | { ok: true; headers: OutgoingHttpHeaders }
  | { ok: false; reason: string; realKeyPresented: boolean };

// The credential as the provider's header writes it: "Bearer <key>" for Authorization.
function credentialIn(header: string, value: string): string | undefined {
  if (header !== "authorization" && header !== "proxy-authorization") return value;
  const m = /^Bearer ([^\s]+)$/i.exec(value);
  return m?.[1];
}

export function swapCredential(
  headers: IncomingHttpHeaders,
  kind: LlmKind,
  placeholder: string,
  realKey: string,
): SwapResult {
  const own = PROVIDER_SHAPES[kind].authHeader;
  const keyHeaders = KEY_HEADERS[kind];
  const refuse = (reason: string, realKeyPresented = false): SwapResult => ({
    ok: false,
    reason,
    realKeyPresented,
  });
  const carried: string[] = [];
  for (const name of CREDENTIAL_HEADERS) {
    const raw = headers[name];
    if (raw === undefined) continue;
    if (Array.isArray(raw)) return refuse(`${name} sent more than once`);
    const presented = credentialIn(name, raw.trim());
    if (presented !== undefined && sameSecret(presented, realKey)) {
      return refuse(`${name} carries the real key; the agent must never hold it`, true);
    }
    if (presented === undefined || !sameSecret(presented, placeholder)) {
      return refuse(`${name} does not carry this route's placeholder`);
    }
    if (keyHeaders.includes(name)) carried.push(name);
  }
  const target = carried.includes(own) ? own : carried[0];
  if (!target) return refuse(`no placeholder credential in ${keyHeaders.join(" or ")}`);

  const out = withoutHopByHop(headers);
  for (const name of CREDENTIAL_HEADERS) delete out[name];
  delete out.host;
  delete out["content-length"]; // the route sets it for the body it actually sends
  // Usage is read from the response on its way through, so it must not be compressed.
  out["accept-encoding"] = "identity";
  out[target] = target === "authorization" ? `Bearer ${realKey}` : realKey;
  return { ok: true, headers: out };
}
