// A tool call in each provider's wire format, whole and streamed (SSE), as their SDKs parse it:
// OpenAI `tool_calls` with JSON-string arguments, Anthropic `tool_use` blocks (streamed as
// input_json_delta), Gemini `functionCall` parts.
import type { LlmShape, ToolCall } from "./llm-script.js";

export interface Usage {
  input: number;
  output: number;
}

let calls = 0;
const nextId = (prefix: string) => `${prefix}_lab${++calls}`;

export function toolCallWhole(shape: LlmShape, model: string, call: ToolCall, usage: Usage): unknown {
  if (shape === "anthropic")
    return {
      id: "msg_fake",
      type: "message",
      role: "assistant",
      model,
      content: [{ type: "tool_use", id: nextId("toolu"), name: call.name, input: call.arguments }],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: usage.input, output_tokens: usage.output },
    };
  if (shape === "gemini")
    return {
      candidates: [
        {
          content: { role: "model", parts: [{ functionCall: { name: call.name, args: call.arguments } }] },
          finishReason: "STOP",
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: usage.input,
        candidatesTokenCount: usage.output,
        totalTokenCount: usage.input + usage.output,
      },
      modelVersion: model,
    };
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: nextId("call"),
              type: "function",
              function: { name: call.name, arguments: JSON.stringify(call.arguments) },
            },
          ],
        },
        finish_reason: "tool_calls",
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: usage.input,
      completion_tokens: usage.output,
      total_tokens: usage.input + usage.output,
    },
  };
}

const sse = (data: unknown, event?: string) =>
  `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

export function toolCallEvents(
  shape: LlmShape,
  model: string,
  call: ToolCall,
  usage: Usage,
  includeUsage: boolean,
): string[] {
  const args = JSON.stringify(call.arguments);
  if (shape === "anthropic") {
    const start = {
      type: "message_start",
      message: {
        id: "msg_fake",
        type: "message",
        role: "assistant",
        content: [],
        model,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input, output_tokens: 1 },
      },
    };
    const block = { type: "tool_use", id: nextId("toolu"), name: call.name, input: {} };
    return [
      sse(start, "message_start"),
      sse({ type: "content_block_start", index: 0, content_block: block }, "content_block_start"),
      sse(
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: args } },
        "content_block_delta",
      ),
      sse({ type: "content_block_stop", index: 0 }, "content_block_stop"),
      sse(
        {
          type: "message_delta",
          delta: { stop_reason: "tool_use", stop_sequence: null },
          usage: { output_tokens: usage.output },
        },
        "message_delta",
      ),
      sse({ type: "message_stop" }, "message_stop"),
    ];
  }
  if (shape === "gemini") return [sse(toolCallWhole("gemini", model, call, usage))];
  const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model };
  const chunk = (delta: unknown, finish: string | null) =>
    sse({
      ...base,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
  const first = {
    index: 0,
    id: nextId("call"),
    type: "function",
    function: { name: call.name, arguments: "" },
  };
  return [
    chunk({ role: "assistant", content: null, tool_calls: [first] }, null),
    chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }, null),
    chunk({}, "tool_calls"),
    ...(includeUsage
      ? [
          sse({
            ...base,
            choices: [],
            usage: {
              prompt_tokens: usage.input,
              completion_tokens: usage.output,
              total_tokens: usage.input + usage.output,
            },
          }),
        ]
      : []),
    "data: [DONE]\n\n",
  ];
}
