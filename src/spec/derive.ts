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

// The hosts a pull of `image` talks to. The registry is the reference's first component when
// it looks like a host (has a dot or a port, or is localhost), else Docker Hub: the rule of
// distribution/reference's splitDockerDomain (normalize.go). Blobs are served by redirect from
// other hosts: Docker Hub's are listed in Docker's allowlist page (docs.docker.com, "Allowlist for
// Docker Desktop": registry-1.docker.io for pull, auth.docker.io for tokens,
// production.cloudflare.docker.com and, for anonymous pulls, the R2 bucket host); ghcr.io
// redirects blob downloads to pkg-containers.githubusercontent.com (GitHub's Meta API, `packages`).
export const DOCKER_HUB_HOSTS = [
  "registry-1.docker.io",
  "auth.docker.io",
  "production.cloudflare.docker.com",
  "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com",
];
const registryPart = (image: string) => {
  const slash = image.indexOf("/");
  const first = slash < 0 ? "" : image.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost";
  return { first, isHost };
};
export function registryHosts(image: string): string[] {
  const { first, isHost } = registryPart(image);
  if (!isHost || ["docker.io", "index.docker.io", "registry-1.docker.io"].includes(first.toLowerCase()))
    return DOCKER_HUB_HOSTS;
  // A port is not part of the hostname the gateway's allowlist matches.
  const host = first.replace(/:\d+$/, "").toLowerCase();
  if (host === "ghcr.io") return [host, "pkg-containers.githubusercontent.com"];
  return [host];
}
// The port a pull of `image` connects to: the reference's own, else HTTPS.
export function registryPort(image: string): number {
  const { first, isHost } = registryPart(image);
  const port = isHost ? /:(\d+)$/.exec(first)?.[1] : undefined;
  return port ? Number(port) : 443;
}

// The hosts the agent may reach itself, by CONNECT or absolute-form HTTP: what the owner listed,
// and nothing more. What llm, messengers and agent.image imply is served by the gateway's own
// routes (impliedHosts) and is a channel out, not a destination, for a credential of the agent's own.
export const agentAllowedHosts = (spec: MoatSpec): string[] => [...new Set(spec.egress.allow)].sort();

export interface ImpliedHost {
  host: string;
  // The field that implies it, and the gateway's route (or host apply's pull) that reaches it.
  field: string;
  servedBy: string;
}

export function impliedHosts(spec: MoatSpec): ImpliedHost[] {
  const implied: ImpliedHost[] = spec.llm.map((p, i) => ({
    host: new URL(upstreamBaseUrl(p)).hostname.toLowerCase(),
    field: `llm[${i}]`,
    servedBy: `/llm/${p.name}`,
  }));
  if (spec.messengers.telegram)
    implied.push({
      host: new URL(TELEGRAM_API).hostname,
      field: "messengers.telegram",
      servedBy: "/telegram",
    });
  for (const host of registryHosts(spec.agent.image))
    implied.push({ host, field: "agent.image", servedBy: "host apply's image pull" });
  return implied;
}

// The name the agent's image carries in its rootless daemon. A tag is kept as it is. A digest
// cannot be written into the archive host apply loads (docker-archive takes name:tag), and a
// loaded image has no repository digest for Compose to find, so a digest pin is carried as a tag
// made of the digest: skopeo checked the manifest against that digest when it pulled.
export function localImageName(image: string): string {
  const at = image.indexOf("@sha256:");
  if (at < 0) return image;
  const repo = image.slice(0, at).replace(/:[\w][\w.-]*$/, ""); // a tag beside the digest
  return `${repo}:sha256-${image.slice(at + "@sha256:".length)}`;
}

// The agent's container UID as the host sees it is the rootless user's subuid range; the
// renderers only need the in-container numbers, host apply reads the real range.
export const agentUidGid = (spec: MoatSpec) => {
  const [uid, gid] = spec.agent.user.split(":").map(Number);
  return { uid: uid ?? 1000, gid: gid ?? 1000 };
};
