// Token counts as the providers report them, streaming and not. Pure functions over parsed
// JSON; the route feeds them response bodies and SSE events as they pass through.
import type { LlmKind } from "../../spec/schema.js";

export interface Usage {
  model?: string;
  inputTokens: number;
  outputTokens: number;
  // Anthropic reports prompt-cache traffic apart from input_tokens and prices it differently.
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export type UsageFamily = "anthropic" | "openai" | "gemini";
export const usageFamily = (kind: LlmKind): UsageFamily =>
  kind === "anthropic" ? "anthropic" : kind === "gemini" ? "gemini" : "openai";

// A partial report: the fields this event or body carries. Later reports replace earlier ones
// field by field, because every provider reports running totals, not increments.
export type UsageReport = Partial<Usage>;

export const EMPTY_USAGE: Usage = {
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
};

export function mergeUsage(into: Usage, report: UsageReport): Usage {
  const out = { ...into };
  for (const [k, v] of Object.entries(report) as [keyof Usage, Usage[keyof Usage]][]) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const count = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
const text = (v: unknown): string | undefined => (typeof v === "string" && v ? v : undefined);

function drop<T extends Json>(o: T): UsageReport {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as UsageReport;
}

function anthropicUsage(u: Json | undefined, model?: string): UsageReport {
  return drop({
    model,
    inputTokens: count(u?.input_tokens),
    outputTokens: count(u?.output_tokens),
    cacheReadTokens: count(u?.cache_read_input_tokens),
    cacheWriteTokens: count(u?.cache_creation_input_tokens),
  });
}

// Chat Completions says prompt/completion, the Responses API says input/output. Cached prompt
// tokens stay inside the input count: priced at the full input rate, the budget errs high.
function openaiUsage(u: Json | undefined, model?: string): UsageReport {
  if (!u) return drop({ model });
  return drop({
    model,
    inputTokens: count(u.prompt_tokens) ?? count(u.input_tokens),
    outputTokens: count(u.completion_tokens) ?? count(u.output_tokens) ?? 0,
  });
}

function geminiUsage(body: Json): UsageReport {
  const u = obj(body.usageMetadata);
  const model = text(body.modelVersion);
  if (!u) return drop({ model });
  const candidates = count(u.candidatesTokenCount) ?? 0;
  const thoughts = count(u.thoughtsTokenCount) ?? 0;
  return drop({ model, inputTokens: count(u.promptTokenCount), outputTokens: candidates + thoughts });
}

// A whole (non-streaming) response body. Gemini's streamGenerateContent without alt=sse
// answers with a JSON array of chunks; the last report wins.
export function usageFromResponse(family: UsageFamily, body: unknown): UsageReport {
  if (Array.isArray(body)) {
    const report: UsageReport = {};
    for (const chunk of body) Object.assign(report, usageFromResponse(family, chunk));
    return report;
  }
  const b = obj(body);
  if (!b) return {};
  if (family === "anthropic") return anthropicUsage(obj(b.usage), text(b.model));
  if (family === "gemini") return geminiUsage(b);
  return openaiUsage(obj(b.usage), text(b.model));
}

// One parsed SSE `data:` payload.
export function usageFromStreamEvent(family: UsageFamily, event: unknown): UsageReport {
  const e = obj(event);
  if (!e) return {};
  if (family === "anthropic") {
    if (e.type === "message_start") {
      const message = obj(e.message);
      return anthropicUsage(obj(message?.usage), text(message?.model));
    }
    if (e.type === "message_delta") return anthropicUsage(obj(e.usage));
    return {};
  }
  if (family === "gemini") return geminiUsage(e);
  // Responses API streams wrap the response object in its lifecycle events.
  const response = obj(e.response);
  if (response && typeof e.type === "string" && e.type.startsWith("response.")) {
    return openaiUsage(obj(response.usage), text(response.model));
  }
  return openaiUsage(obj(e.usage), text(e.model));
}

// Incremental Server-Sent Events reader: bytes in, `data` payloads out. It only watches the
// stream; the bytes themselves go to the agent untouched and unbuffered.
export class SseTap {
  private pending = "";
  private data: string[] = [];
  private readonly decoder = new TextDecoder();
  // A line longer than this cannot hold a usage report worth reading; skip it, bounded memory.
  private static readonly MAX_LINE = 1 << 20;

  constructor(private readonly onData: (data: string) => void) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let nl = this.pending.search(/\r\n|\r|\n/);
    while (nl >= 0) {
      const line = this.pending.slice(0, nl);
      const width = this.pending.startsWith("\r\n", nl) ? 2 : 1;
      this.pending = this.pending.slice(nl + width);
      this.line(line);
      nl = this.pending.search(/\r\n|\r|\n/);
    }
    if (this.pending.length > SseTap.MAX_LINE) this.pending = "";
  }

  end(): void {
    if (this.pending) this.line(this.pending);
    this.line("");
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length) this.onData(this.data.join("\n"));
      this.data = [];
    } else if (line.startsWith("data:")) {
      this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  }
}

// The body as the gateway sends it, parsed for admission. OpenAI-style streams carry usage only
// when asked; the gateway always asks, or a streamed call would be free against the budget.
export function meteredBody(family: UsageFamily, path: string, raw: Buffer): { json: unknown; body: Buffer } {
  const json = parseJson(raw);
  const isObject = typeof json === "object" && json !== null && !Array.isArray(json);
  if (isObject && withUsageRequested(family, path, json as Record<string, unknown>)) {
    return { json, body: Buffer.from(JSON.stringify(json)) };
  }
  return { json, body: raw };
}

function withUsageRequested(family: UsageFamily, path: string, json: Record<string, unknown>): boolean {
  if (family !== "openai" || json.stream !== true || !/\/(chat\/)?completions$/.test(path)) return false;
  const options = json.stream_options;
  if (typeof options === "object" && options !== null && (options as Record<string, unknown>).include_usage)
    return false;
  json.stream_options = {
    ...(typeof options === "object" && options !== null ? options : {}),
    include_usage: true,
  };
  return true;
}

export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch {
    return undefined;
  }
}
