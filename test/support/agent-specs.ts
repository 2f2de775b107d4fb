// Specs that exercise the container-side renderers: each profile, several providers, with and
// without Telegram. Secrets are env/file references whose values the tests plant and then look for.
import { specFrom } from "../helpers.js";

export const PLANTED_SECRETS = {
  MOAT_TEST_OPENAI_KEY: "sk-planted-openai-0123456789",
  MOAT_TEST_ANTHROPIC_KEY: "sk-ant-planted-0123456789",
  MOAT_TEST_GEMINI_KEY: "AIza-planted-0123456789",
  MOAT_TEST_LOCAL_KEY: "planted-local-0123456789",
  MOAT_TEST_TG_TOKEN: "987654321:planted-telegram-token",
  MOAT_TEST_TS_KEY: "tskey-planted-0123456789",
} as const;

const base = (rest: string) => `
version: 1
name: multi
target: { kind: ssh, host: vm.example.com }
${rest}
`;

export const AGENT_SPECS = {
  example: () => specFrom(),
  manyProviders: () =>
    specFrom(
      base(`
agent: { profile: openclaw, memory: 3g, port: 19000 }
access: { tailscale: { authKey: { env: MOAT_TEST_TS_KEY } } }
messengers:
  telegram: { botToken: { env: MOAT_TEST_TG_TOKEN }, allowFrom: [111, 222], allowChats: [-1001234567890] }
llm:
  - { name: claude, kind: anthropic, apiKey: { env: MOAT_TEST_ANTHROPIC_KEY }, models: [claude-sonnet-4-6, claude-haiku-4-5] }
  - { name: gem, kind: gemini, apiKey: { env: MOAT_TEST_GEMINI_KEY }, models: [gemini-2.5-pro] }
  - { name: local-llm, kind: openai-compatible, baseUrl: "https://llm.example.com/v1", apiKey: { file: /run/planted-key }, models: [qwen3] }
  - { name: oai, kind: openai, apiKey: { env: MOAT_TEST_OPENAI_KEY }, models: [gpt-5.4] }
  - { name: oai-2, kind: openai, apiKey: { env: MOAT_TEST_LOCAL_KEY }, models: [gpt-5.4-mini] }
hardening: { pids: 128, tmpfsSize: 32m, nofile: 2048, seccomp: docker-default }
gateway: { address: 198.18.5.5, port: 8080 }
`),
    ),
  noTelegram: () =>
    specFrom(
      base(`
agent: { profile: openclaw, memory: 512m }
llm:
  - { name: main, kind: openrouter, apiKey: { env: MOAT_TEST_OPENAI_KEY }, models: [anthropic/claude-sonnet-4-6] }
`),
    ),
  custom: () =>
    specFrom(
      base(`
agent:
  profile: custom
  image: registry.example.com/agent:1.2.3
  port: 8000
  user: "10001:10001"
  command: [python, -m, agent]
  env: { LOG_LEVEL: debug, GREETING: "cost $5 ok" }
  writablePaths: [/tmp, /var/cache/agent]
  volumes: [{ name: agent-data, path: /data }]
llm:
  - { name: main, kind: anthropic, apiKey: { env: MOAT_TEST_ANTHROPIC_KEY }, models: [claude-sonnet-4-6] }
messengers:
  telegram: { botToken: { env: MOAT_TEST_TG_TOKEN }, allowFrom: [42] }
`),
    ),
  customBare: () => specFrom(base("agent: { profile: custom, image: 'example/agent:1', writablePaths: [] }")),
};

export function plantSecrets(): () => void {
  const before = { ...process.env };
  Object.assign(process.env, PLANTED_SECRETS);
  return () => {
    for (const k of Object.keys(PLANTED_SECRETS)) if (!(k in before)) delete process.env[k];
  };
}

export function assertNoPlantedSecret(content: string): void {
  for (const [name, value] of Object.entries(PLANTED_SECRETS)) {
    if (content.includes(value)) throw new Error(`secret ${name} leaked into rendered output`);
  }
}
