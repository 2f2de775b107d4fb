// OpenClaw's config for the `openclaw` profile. Every key below was checked against the JSON
// Schema printed by `openclaw config schema` from openclaw@2026.9.6 (npm), and the rendered file
// passes that version's own `openclaw config validate` (test/integration/openclaw-config.test.ts).
// Behaviour notes cite files in that package's dist/ (bundle names carry a content hash).
import { gatewayOrigin, llmRouteUrl, PROVIDER_SHAPES, telegramRouteUrl } from "../spec/derive.js";
import type { LlmProvider, MoatSpec } from "../spec/schema.js";
import { GATEWAY_TOKEN_ENV, llmKeyEnv, TELEGRAM_TOKEN_ENV } from "./agent-env.js";
import type { Artifact } from "./artifact.js";
import { onVm } from "./paths.js";

export const OPENCLAW_CONFIG_PATH = "openclaw/openclaw.json";
export const OPENCLAW_CONFIG_ON_VM = onVm(OPENCLAW_CONFIG_PATH);

// Where the image keeps its state (openclaw.md §2.2). The config sits at its default path inside
// the state volume, mounted read-only over it: OpenClaw can still write its siblings there, but
// never the config, so the agent cannot rewrite its own allowlists.
export const OPENCLAW_HOME = "/home/node";
const OPENCLAW_STATE_DIR = `${OPENCLAW_HOME}/.openclaw`;
export const OPENCLAW_CONFIG_IN_CONTAINER = `${OPENCLAW_STATE_DIR}/openclaw.json`;
export const OPENCLAW_VOLUMES = [
  { name: "openclaw-state", path: OPENCLAW_STATE_DIR },
  // Auth-profile encryption key, kept apart from the state it encrypts (OPENCLAW_AUTH_PROFILE_SECRET_DIR).
  { name: "openclaw-auth", path: `${OPENCLAW_HOME}/.config/openclaw` },
];
export const OPENCLAW_WRITABLE_PATHS = [
  "/tmp",
  `${OPENCLAW_HOME}/.cache`,
  `${OPENCLAW_HOME}/.local`,
  `${OPENCLAW_HOME}/.npm`,
];

const envSecret = (id: string) => ({ source: "env", provider: "default", id });

function telegramChannel(spec: MoatSpec) {
  const tg = spec.messengers.telegram;
  if (!tg) return undefined;
  const users = tg.allowFrom.map(String);
  const groups = tg.allowChats.map(String);
  return {
    enabled: true,
    dmPolicy: "allowlist",
    allowFrom: users,
    groupPolicy: groups.length ? "allowlist" : "disabled",
    ...(groups.length && {
      groupAllowFrom: users,
      groups: Object.fromEntries(groups.map((id) => [id, { requireMention: true }])),
    }),
    // No network.dangerouslyAllowPrivateNetwork: OpenClaw already exempts exactly the apiRoot host
    // from its private-address check (buildTelegramMediaSsrfPolicy in
    // dist/telegram-ingress-drain-factory-*.mjs puts it in allowedHostnames), so the flag would only
    // widen access beyond the gateway.
    apiRoot: telegramRouteUrl(spec),
    botToken: envSecret(TELEGRAM_TOKEN_ENV),
    configWrites: false,
  };
}

// No request.allowPrivateNetwork: for a baseUrl that is not a known vendor host, OpenClaw trusts
// exactly that origin (trustConfiguredBaseUrlOrigin in dist/provider-request-config-*.mjs,
// resolveProviderTransportSsrFPolicy in dist/provider-transport-fetch-*.mjs). Setting the flag true
// would open every private address to the provider client; setting it false would revoke that trust.
const provider = (spec: MoatSpec, p: LlmProvider) => ({
  baseUrl: llmRouteUrl(spec, p),
  apiKey: envSecret(llmKeyEnv(p)),
  api: PROVIDER_SHAPES[p.kind].openclawApi,
  models: p.models.map((id) => ({ id, name: id })),
});

function models(spec: MoatSpec) {
  return {
    // Seen in the lab: without this, every start asks catalog.openclaw.ai for model updates (the
    // gateway refuses it, being no allowlisted host); the providers below list their models.
    catalogRefresh: { enabled: false },
    ...(spec.llm.length > 0 && {
      // Only Moat's providers: built-in ones would point at vendor hosts around the gateway's routes.
      mode: "replace",
      providers: Object.fromEntries(spec.llm.map((p) => [p.name, provider(spec, p)])),
    }),
  };
}

function primaryModel(spec: MoatSpec) {
  const first = spec.llm[0];
  return first && { primary: `${first.name}/${first.models[0]}` };
}

export function openclawConfig(spec: MoatSpec) {
  const telegram = telegramChannel(spec);
  const owner = spec.messengers.telegram?.allowFrom[0];
  const model = primaryModel(spec);
  return {
    gateway: {
      mode: "local",
      port: spec.agent.port,
      // lan: the published port cannot reach a loopback bind inside the container; Docker publishes
      // it on the VM's 127.0.0.1 only.
      bind: "lan",
      auth: {
        mode: "token",
        token: envSecret(GATEWAY_TOKEN_ENV),
        rateLimit: { maxAttempts: 10, windowMs: 60_000, lockoutMs: 300_000 },
      },
      terminal: { enabled: false },
      // The Control UI's page must come from the VM's own loopback port (an SSH tunnel, `moat lab
      // open`): OpenClaw seeds these origins only for a loopback bind, and the published port
      // reaches it from RootlessKit's address, not loopback. Tailnet (.ts.net) origins it accepts itself.
      controlUi: {
        automaticallyFetchFavicons: false,
        allowedOrigins: [`http://127.0.0.1:${spec.agent.port}`, `http://localhost:${spec.agent.port}`],
      },
      tailscale: { mode: "off" },
      http: { endpoints: { chatCompletions: { enabled: false }, responses: { enabled: false } } },
    },
    ...(telegram && { channels: { telegram } }),
    models: models(spec),
    agents: { defaults: { ...(model && { model }), sandbox: { mode: "off" } } },
    // Hardened baseline of docs/gateway/security/index.md; exec uses 2026.9's `mode`, which the
    // validator refuses to combine with the older security/ask pair.
    tools: {
      profile: "messaging",
      deny: ["group:automation", "group:runtime", "group:fs", "sessions_spawn", "sessions_send"],
      exec: { mode: "deny" },
      elevated: { enabled: false },
      fs: { workspaceOnly: true },
      web: { fetch: { enabled: false }, search: { enabled: false } },
    },
    session: { dmScope: "per-channel-peer" },
    commands: {
      ...(owner !== undefined && { ownerAllowFrom: [`telegram:${owner}`] }),
      bash: false,
      config: false,
      mcp: false,
      plugins: false,
      debug: false,
      restart: false,
    },
    proxy: { proxyUrl: gatewayOrigin(spec), loopbackMode: "gateway-only" },
    update: { checkOnStart: false, auto: { enabled: false } },
    discovery: { mdns: { mode: "off" } },
    // acpx runs `npx` at start-up, which needs npm egress and a writable home (openclaw.md §2.2).
    // 2026.9.6 no longer bundles it; the entry keeps an installed copy off.
    plugins: { entries: { acpx: { enabled: false } } },
  };
}

export function renderOpenclawConfig(spec: MoatSpec): Artifact[] {
  if (spec.agent.profile !== "openclaw") return [];
  const content = `${JSON.stringify(openclawConfig(spec), null, 2)}\n`;
  return [{ kind: "openclaw-config", path: OPENCLAW_CONFIG_PATH, content, mode: 0o644 }];
}
