// Facts every artifact derives the same way from the spec: where the gateway is, which
// hosts the llm and messengers sections imply, and the placeholders the agent holds
// instead of real credentials.
import type { LlmKind, LlmProvider, MoatSpec } from "./schema.js";

export interface ProviderShape {
  defaultBaseUrl?: string;
  // The header that carries the credential, and how the value is written in it.
  authHeader: "x-api-key" | "authorization" | "x-goog-api-key";
  openclawApi: "anthropic-messages" | "openai-completions" | "google-generative-ai";
}

export const PROVIDER_SHAPES: Record<LlmKind, ProviderShape> = {
  anthropic: {
    defaultBaseUrl: "https://api.anthropic.com",
    authHeader: "x-api-key",
    openclawApi: "anthropic-messages",
  },
  openai: {
    defaultBaseUrl: "https://api.openai.com/v1",
    authHeader: "authorization",
    openclawApi: "openai-completions",
  },
  "openai-compatible": { authHeader: "authorization", openclawApi: "openai-completions" },
  gemini: {
    defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta",
    authHeader: "x-goog-api-key",
    openclawApi: "google-generative-ai",
  },
  openrouter: {
    defaultBaseUrl: "https://openrouter.ai/api/v1",
    authHeader: "authorization",
    openclawApi: "openai-completions",
  },
};

export const TELEGRAM_API = "https://api.telegram.org";

export function upstreamBaseUrl(p: LlmProvider): string {
  const url = p.baseUrl ?? PROVIDER_SHAPES[p.kind].defaultBaseUrl;
  if (!url) throw new Error(`llm provider ${p.name} has no baseUrl`);
  return url.replace(/\/+$/, "");
}

export const gatewayOrigin = (spec: MoatSpec) => `http://${spec.gateway.address}:${spec.gateway.port}`;
export const llmRouteUrl = (spec: MoatSpec, p: LlmProvider) => `${gatewayOrigin(spec)}/llm/${p.name}`;
export const telegramRouteUrl = (spec: MoatSpec) => `${gatewayOrigin(spec)}/telegram`;

// Placeholders are public by design: they are what the agent may leak without loss.
export const llmPlaceholder = (p: LlmProvider) => `moat-placeholder-llm-${p.name}`;
export const TELEGRAM_PLACEHOLDER_TOKEN = "1000000000:moat-placeholder-telegram-bot-token";

// Every hostname the gateway lets the agent reach: the allowlist plus what llm and messengers imply.
export function allowedHosts(spec: MoatSpec): string[] {
  const hosts = new Set(spec.egress.allow);
  for (const p of spec.llm) hosts.add(new URL(upstreamBaseUrl(p)).hostname.toLowerCase());
  if (spec.messengers.telegram) hosts.add(new URL(TELEGRAM_API).hostname);
  return [...hosts].sort();
}

// The agent's container UID as the host sees it is the rootless user's subuid range; the
// renderers only need the in-container numbers, host apply reads the real range.
export const agentUidGid = (spec: MoatSpec) => {
  const [uid, gid] = spec.agent.user.split(":").map(Number);
  return { uid: uid ?? 1000, gid: gid ?? 1000 };
};
