// Names of the credentials the agent container holds. Each holds a placeholder, never a real
// secret: the gateway swaps placeholders for real credentials on the way out.
import { llmPlaceholder, TELEGRAM_PLACEHOLDER_TOKEN } from "../spec/derive.js";
import type { LlmKind, LlmProvider, MoatSpec } from "../spec/schema.js";

// The agent's own API token is the one real secret in its container (clients must present it).
// Host apply writes it at apply time; no renderer ever sees its value.
export const GATEWAY_TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN";
export const TELEGRAM_TOKEN_ENV = "TELEGRAM_BOT_TOKEN";

// One variable per provider, so two providers of one kind never share a name.
export const llmKeyEnv = (p: LlmProvider) => `MOAT_LLM_${p.name.toUpperCase().replaceAll("-", "_")}_API_KEY`;

// The conventional variable of each kind, for tools in the container that only know these names.
const CONVENTIONAL_KEY_ENV: Partial<Record<LlmKind, string>> = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
  gemini: "GEMINI_API_KEY",
  openrouter: "OPENROUTER_API_KEY",
};

export function placeholderCredentials(spec: MoatSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of spec.llm) {
    env[llmKeyEnv(p)] = llmPlaceholder(p);
    const conventional = CONVENTIONAL_KEY_ENV[p.kind];
    // The first provider of a kind owns the conventional name, matching the order in moat.yaml.
    if (conventional && !(conventional in env)) env[conventional] = llmPlaceholder(p);
  }
  if (spec.messengers.telegram) env[TELEGRAM_TOKEN_ENV] = TELEGRAM_PLACEHOLDER_TOKEN;
  return env;
}
