// Errors the gateway itself answers with, in each provider's own error shape so the agent's SDK
// surfaces them as the provider's errors (RateLimitError, AuthenticationError, ...).
import type { LlmKind } from "../../spec/schema.js";

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  502: "api_error",
  504: "api_error",
};

const GOOGLE_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  502: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const OPENAI_TYPES: Record<number, string> = {
  401: "invalid_request_error",
  429: "insufficient_quota",
  502: "server_error",
  504: "server_error",
};

export function providerErrorBody(kind: LlmKind | undefined, status: number, message: string): unknown {
  if (kind === "anthropic") {
    return { type: "error", error: { type: ANTHROPIC_TYPES[status] ?? "api_error", message } };
  }
  if (kind === "gemini") {
    return { error: { code: status, message, status: GOOGLE_STATUS[status] ?? "UNKNOWN" } };
  }
  const type = OPENAI_TYPES[status] ?? "invalid_request_error";
  const code = status === 429 ? "insufficient_quota" : status === 401 ? "invalid_api_key" : null;
  return { error: { message, type, param: null, code } };
}
