// Fake LLM providers over TLS: Anthropic Messages, OpenAI Chat Completions and Gemini
// generateContent, streaming and not, answering in the providers' wire formats closely enough
// for their official SDKs. Each call is recorded (which credential arrived, the request body) and
// each streamed chunk's send time is kept, so tests can compare it with the arrival time.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { LlmAnswer, LlmShape } from "./llm-script.js";
import { toolCallEvents, toolCallWhole } from "./llm-tool-call.js";

export interface FakeLlmOptions {
  cert: string;
  key: string;
  realKeys: { anthropic: string; openai: string; gemini: string };
  pieces?: string[];
  pieceDelayMs?: number;
  usage?: { input: number; output: number };
}

export interface LlmCall {
  shape: "anthropic" | "openai" | "gemini" | "unknown";
  method: string;
  path: string;
  credential: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

export class FakeLlm {
  readonly calls: LlmCall[] = [];
  // performance.now() when each streamed piece was written, per call, in order.
  readonly sent: number[][] = [];
  private readonly server: Server;
  pieces: string[];
  pieceDelayMs: number;
  usage: { input: number; output: number };
  // What to answer a call (the lab's script, llm-script.ts); without it, `pieces` as text.
  respond?: (shape: LlmShape, body: Record<string, unknown> | undefined) => LlmAnswer;

  constructor(private readonly opts: FakeLlmOptions) {
    this.pieces = opts.pieces ?? ["Hel", "lo ", "from ", "the ", "fake"];
    this.pieceDelayMs = opts.pieceDelayMs ?? 0;
    this.usage = opts.usage ?? { input: 11, output: 7 };
    this.server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
      this.serve(req, res).catch(() => res.destroy());
    });
    this.server.on("secureConnection", (s) => s.setNoDelay(true));
  }

  listen(host: string, port = 0): Promise<number> {
    return new Promise((resolve) => {
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {}
    const path = req.url ?? "/";
    const shape = path.startsWith("/v1/messages")
      ? "anthropic"
      : path.includes("/chat/completions")
        ? "openai"
        : path.includes(":generateContent") || path.includes(":streamGenerateContent")
          ? "gemini"
          : "unknown";
    // Anthropic takes x-api-key, or (SDK 1.x) the key as a Bearer token.
    const bearer = (req.headers.authorization as string | undefined)?.replace(/^Bearer /, "");
    const credential =
      shape === "anthropic"
        ? ((req.headers["x-api-key"] as string | undefined) ?? bearer)
        : shape === "gemini"
          ? (req.headers["x-goog-api-key"] as string | undefined)
          : bearer;
    this.calls.push({ shape, method: req.method ?? "", path, credential, headers: { ...req.headers }, body });

    if (shape === "unknown") return json(res, 404, { error: { message: `no fake route ${path}` } });
    if (credential !== this.opts.realKeys[shape]) {
      const message = "invalid x-api-key";
      if (shape === "anthropic")
        return json(res, 401, { type: "error", error: { type: "authentication_error", message } });
      if (shape === "gemini")
        return json(res, 401, { error: { code: 401, message, status: "UNAUTHENTICATED" } });
      return json(res, 401, { error: { message, type: "invalid_request_error", code: "invalid_api_key" } });
    }
    const model = String(body?.model ?? /models\/([^:]+)/.exec(path)?.[1] ?? "unknown");
    const stream = body?.stream === true || path.includes(":streamGenerateContent");
    const answer = this.respond?.(shape, body);
    if (answer && "toolCall" in answer) {
      if (!stream) return json(res, 200, toolCallWhole(shape, model, answer.toolCall, this.usage));
      const include = (body?.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const e of toolCallEvents(shape, model, answer.toolCall, this.usage, include === true))
        res.write(e);
      return res.end();
    }
    const pieces = answer ? (answer.text.match(/\S+\s*|\s+/g) ?? [""]) : this.pieces;
    if (!stream) return json(res, 200, this.whole(shape, model, pieces));
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const times: number[] = [];
    this.sent.push(times);
    const events = this.events(shape, model, body, pieces);
    for (const [i, e] of events.entries()) {
      if (e.piece && i > 0 && this.pieceDelayMs) await sleep(this.pieceDelayMs);
      if (res.destroyed) return;
      res.write(e.text);
      if (e.piece) times.push(performance.now());
    }
    res.end();
  }

  private whole(shape: LlmCall["shape"], model: string, pieces: string[]): unknown {
    const text = pieces.join("");
    const { input, output } = this.usage;
    if (shape === "anthropic") {
      return {
        id: "msg_fake",
        type: "message",
        role: "assistant",
        model,
        content: [{ type: "text", text }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: output },
      };
    }
    if (shape === "gemini") {
      return {
        candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: {
          promptTokenCount: input,
          candidatesTokenCount: output,
          totalTokenCount: input + output,
        },
        modelVersion: model,
      };
    }
    return {
      id: "chatcmpl-fake",
      object: "chat.completion",
      created: 1_700_000_000,
      model,
      choices: [
        { index: 0, message: { role: "assistant", content: text }, finish_reason: "stop", logprobs: null },
      ],
      usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
    };
  }

  // The SSE events of one streamed reply; `piece` marks the ones that carry generated text.
  private events(
    shape: LlmCall["shape"],
    model: string,
    body: Record<string, unknown> | undefined,
    pieces: string[],
  ) {
    const { input, output } = this.usage;
    const out: { text: string; piece: boolean }[] = [];
    const sse = (data: unknown, event?: string) =>
      `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
    if (shape === "anthropic") {
      const message = { id: "msg_fake", type: "message", role: "assistant", content: [], model };
      out.push({
        text:
          sse(
            {
              type: "message_start",
              message: {
                ...message,
                stop_reason: null,
                stop_sequence: null,
                usage: { input_tokens: input, output_tokens: 1 },
              },
            },
            "message_start",
          ) +
          sse(
            { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
            "content_block_start",
          ),
        piece: false,
      });
      for (const p of pieces) {
        out.push({
          text: sse(
            { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p } },
            "content_block_delta",
          ),
          piece: true,
        });
      }
      out.push({
        text:
          sse({ type: "content_block_stop", index: 0 }, "content_block_stop") +
          sse(
            {
              type: "message_delta",
              delta: { stop_reason: "end_turn", stop_sequence: null },
              usage: { output_tokens: output },
            },
            "message_delta",
          ) +
          sse({ type: "message_stop" }, "message_stop"),
        piece: false,
      });
      return out;
    }
    if (shape === "gemini") {
      let sentOut = 0;
      for (const [i, p] of pieces.entries()) {
        sentOut = Math.round((output * (i + 1)) / pieces.length);
        out.push({
          text: sse({
            candidates: [{ content: { role: "model", parts: [{ text: p }] }, index: 0 }],
            usageMetadata: { promptTokenCount: input, candidatesTokenCount: sentOut },
            modelVersion: model,
          }),
          piece: true,
        });
      }
      return out;
    }
    const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model };
    const includeUsage = (body?.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
    for (const [i, p] of pieces.entries()) {
      const delta = i === 0 ? { role: "assistant", content: p } : { content: p };
      out.push({
        text: sse({
          ...base,
          choices: [{ index: 0, delta, finish_reason: null }],
          ...(includeUsage ? { usage: null } : {}),
        }),
        piece: true,
      });
    }
    out.push({
      text: sse({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
      piece: false,
    });
    if (includeUsage) {
      out.push({
        text: sse({
          ...base,
          choices: [],
          usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
        }),
        piece: false,
      });
    }
    out.push({ text: "data: [DONE]\n\n", piece: false });
    return out;
  }
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
