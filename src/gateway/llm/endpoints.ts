// The inference endpoints of each provider kind: the only requests an LLM route forwards unless
// `llm[].allowPaths` opens more. Everything else a provider offers with the same key (files,
// batches, stored responses, speech, fine-tuning, deletion) is an account, not a model, and stays
// closed: an allowlisted host with the owner's credentials is a channel.
//
// Paths are the route's suffix (under the provider's base URL, query excluded). Each row says
// where its body names the model and the reply's token limit, so the gateway can refuse models
// outside `llm[].models` and reserve the worst case before forwarding.
import { ALLOW_PATH_PATTERN, type LlmKind } from "../../spec/schema.js";

export interface Endpoint {
  method: "POST";
  path: RegExp;
  doc: string;
  // "body": the JSON body's `model`; "path": the pattern's first capture group.
  model: "body" | "path";
  // Body fields (dotted) that bound the reply's tokens; when several are present the largest
  // counts, since which one the provider honours is its business.
  maxOutput: readonly string[];
  // Body fields (dotted) asking for several replies at once, each up to the limit.
  choices: readonly string[];
  // Body fields that turn the call into something other than an inference whose usage comes back
  // in its reply, refused with the reason given.
  refuse: readonly { field: string; when: unknown; reason: string }[];
  // Counting tokens costs nothing and answers no output.
  free?: boolean;
}

const ANTHROPIC_MESSAGES: Endpoint = {
  method: "POST",
  path: /^\/v1\/messages$/,
  doc: "https://docs.anthropic.com/en/api/messages",
  model: "body",
  maxOutput: ["max_tokens"],
  choices: [],
  refuse: [],
};

const ANTHROPIC_COUNT: Endpoint = {
  ...ANTHROPIC_MESSAGES,
  path: /^\/v1\/messages\/count_tokens$/,
  doc: "https://docs.anthropic.com/en/api/messages-count-tokens",
  free: true,
};

const OPENAI_CHAT: Endpoint = {
  method: "POST",
  path: /^\/chat\/completions$/,
  doc: "https://platform.openai.com/docs/api-reference/chat/create",
  model: "body",
  maxOutput: ["max_completion_tokens", "max_tokens"],
  choices: ["n"],
  refuse: [],
};

const OPENAI_RESPONSES: Endpoint = {
  method: "POST",
  path: /^\/responses$/,
  doc: "https://platform.openai.com/docs/api-reference/responses/create",
  model: "body",
  maxOutput: ["max_output_tokens"],
  choices: [],
  refuse: [
    {
      field: "background",
      when: true,
      reason: "background responses answer before their usage is known; call without background: true",
    },
  ],
};

// OpenRouter speaks OpenAI's Chat Completions.
const OPENROUTER_CHAT: Endpoint = {
  ...OPENAI_CHAT,
  doc: "https://openrouter.ai/docs/api-reference/chat-completion",
};

const GEMINI_GENERATE: Endpoint = {
  method: "POST",
  path: /^\/models\/([^/:]+):(?:generateContent|streamGenerateContent)$/,
  doc: "https://ai.google.dev/api/generate-content",
  model: "path",
  // Google's JSON accepts proto field names as well as lowerCamelCase.
  maxOutput: ["generationConfig.maxOutputTokens", "generation_config.max_output_tokens"],
  choices: ["generationConfig.candidateCount", "generation_config.candidate_count"],
  refuse: [],
};

const GEMINI_COUNT: Endpoint = {
  ...GEMINI_GENERATE,
  path: /^\/models\/([^/:]+):countTokens$/,
  doc: "https://ai.google.dev/api/tokens",
  free: true,
};

export const INFERENCE_ENDPOINTS: Readonly<Record<LlmKind, readonly Endpoint[]>> = {
  anthropic: [ANTHROPIC_MESSAGES, ANTHROPIC_COUNT],
  openai: [OPENAI_CHAT, OPENAI_RESPONSES],
  // Local servers (vLLM, Ollama, llama.cpp) serve OpenAI's Chat Completions; more via allowPaths.
  "openai-compatible": [OPENAI_CHAT],
  gemini: [GEMINI_GENERATE, GEMINI_COUNT],
  openrouter: [OPENROUTER_CHAT],
};

export function inferenceEndpoint(kind: LlmKind, method: string, path: string): Endpoint | undefined {
  return INFERENCE_ENDPOINTS[kind].find((e) => e.method === method && e.path.test(path));
}

// An owner-opened `llm[].allowPaths` entry: "METHOD /path", `*` standing for one path segment.
export function allowPathMatches(entry: string, method: string, path: string): boolean {
  const m = ALLOW_PATH_PATTERN.exec(entry);
  if (!m || m[1] !== method) return false;
  const pattern = (m[2] as string)
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("[^/]+");
  return new RegExp(`^${pattern}$`).test(path);
}
