// Provider-side fetching: parts of a request that make the provider itself open a URL (an MCP
// server, a file or image by URL, a web fetch or search tool). The provider's fetch leaves from
// the provider, not through the gateway, so it is a way out for whatever the agent puts in the
// URL; it is allowed only to hosts the owner already lets the agent reach (`egress.allow`), or the
// provider's own host. Pure: a parsed JSON body in, the first problem out.
//
// What is recognised, and where it is documented:
// - any `*_url` / `*Url` / `*_uri` / `*Uri` field holding a URL, or an object with one in `url`:
//   OpenAI `tools[].server_url` (MCP), `input_file.file_url`, `image_url` (string or {url}),
//   https://platform.openai.com/docs/guides/tools-remote-mcp,
//   https://platform.openai.com/docs/guides/pdf-files, https://platform.openai.com/docs/guides/images-vision;
//   Gemini `fileData.fileUri`, https://ai.google.dev/api/caching#FileData
// - any object `{type: "url", url}`: Anthropic image/document `source`, `mcp_servers[]`,
//   https://docs.anthropic.com/en/docs/build-with-claude/vision,
//   https://docs.anthropic.com/en/docs/agents-and-tools/mcp-connector
// - OpenAI MCP connectors (`connector_id`): an account the request names, never a listed host
// - web search and fetch tools, allowed only when confined to listed domains: OpenAI
//   `web_search*` with `filters.allowed_domains`
//   (https://platform.openai.com/docs/guides/tools-web-search), Anthropic `web_search_*` and
//   `web_fetch_*` with `allowed_domains` (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-fetch-tool)
// - unconfinable, always refused: Gemini `url_context` and Google Search grounding (URLs come from
//   the prompt; https://ai.google.dev/gemini-api/docs/url-context), OpenAI Chat Completions
//   `web_search_options`, OpenRouter's `web` plugin (https://openrouter.ai/docs/features/web-search)
import { aclHost, type HostAcl } from "../acl.js";

export interface FetchPolicy {
  // `egress.allow`, compiled.
  acl: HostAcl;
  // The provider's own API host (Gemini's uploaded files live there).
  providerHost: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

const URL_KEY = /(_url|Url|_uri|Uri)$/;
const UNCONFINABLE_KEYS: Record<string, string> = {
  url_context: "Gemini url_context reads any URL in the prompt",
  urlContext: "Gemini url_context reads any URL in the prompt",
  google_search: "Google Search grounding fetches the open web",
  googleSearch: "Google Search grounding fetches the open web",
  google_search_retrieval: "Google Search grounding fetches the open web",
  googleSearchRetrieval: "Google Search grounding fetches the open web",
  web_search_options: "Chat Completions web search fetches the open web",
};

function hostAllowed(host: string, policy: FetchPolicy): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === policy.providerHost || aclHost(policy.acl, h);
}

function urlProblem(where: string, text: string, policy: FetchPolicy): string | undefined {
  if (/^data:/i.test(text)) return undefined; // inline content, nothing is fetched
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined; // not a URL: an id or a name, which the provider resolves in its own account
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return `${where}: the provider would fetch ${url.protocol}// URLs; only http(s) URLs on hosts in egress.allow`;
  }
  if (!hostAllowed(url.hostname.replace(/^\[|\]$/g, ""), policy)) {
    return `${where}: the provider would fetch ${url.hostname}, which is not in egress.allow`;
  }
  return undefined;
}

function domainsProblem(where: string, domains: unknown, policy: FetchPolicy): string | undefined {
  if (!Array.isArray(domains) || domains.length === 0) {
    return `${where}: a web tool not confined to domains in egress.allow (set its allowed_domains)`;
  }
  for (const d of domains) {
    const host = String(d)
      .replace(/^[a-z]+:\/\//i, "")
      .replace(/[/:].*$/, "");
    if (!hostAllowed(host, policy)) return `${where}: allowed domain ${host} is not in egress.allow`;
  }
  return undefined;
}

function toolProblem(where: string, tool: Json, policy: FetchPolicy): string | undefined {
  const type = typeof tool.type === "string" ? tool.type : "";
  if (type === "mcp" && tool.connector_id !== undefined && tool.server_url === undefined) {
    return `${where}: MCP connectors reach an account the request names; only server_url on hosts in egress.allow`;
  }
  if (type.startsWith("web_search")) {
    const filters = isObject(tool.filters) ? tool.filters.allowed_domains : undefined;
    return domainsProblem(where, filters ?? tool.allowed_domains, policy);
  }
  if (type.startsWith("web_fetch")) return domainsProblem(where, tool.allowed_domains, policy);
  return undefined;
}

export function fetchingProblem(body: unknown, policy: FetchPolicy, where = "body"): string | undefined {
  if (Array.isArray(body)) {
    for (const [i, v] of body.entries()) {
      const p = fetchingProblem(v, policy, `${where}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (!isObject(body)) return undefined;
  if (body.type === "url" && typeof body.url === "string") {
    const p = urlProblem(`${where}.url`, body.url, policy);
    if (p) return p;
  }
  for (const [key, value] of Object.entries(body)) {
    const at = `${where}.${key}`;
    if (Object.hasOwn(UNCONFINABLE_KEYS, key)) {
      return `${at}: ${UNCONFINABLE_KEYS[key]}; it cannot be confined to egress.allow`;
    }
    if (key === "plugins" && Array.isArray(value) && value.some((v) => isObject(v) && v.id === "web")) {
      return `${at}: OpenRouter's web plugin fetches the open web; it cannot be confined to egress.allow`;
    }
    // Only declared tools: a past turn's `web_search_call` in the history fetches nothing now.
    if (key === "tools" && Array.isArray(value)) {
      for (const [i, tool] of value.entries()) {
        const p = isObject(tool) ? toolProblem(`${at}[${i}]`, tool, policy) : undefined;
        if (p) return p;
      }
    }
    if (URL_KEY.test(key)) {
      const text = typeof value === "string" ? value : isObject(value) ? value.url : undefined;
      if (typeof text === "string") {
        const p = urlProblem(at, text, policy);
        if (p) return p;
      }
    }
    const p = fetchingProblem(value, policy, at);
    if (p) return p;
  }
  return undefined;
}
