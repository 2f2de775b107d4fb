// What the lab's fake LLM answers. By default it echoes what it was asked and says it is the lab's
// model; a script (a list of rules, JSON or YAML) makes it reply with set text or call a tool when
// the last user message matches, so a user or a test can watch a tool call meet the perimeter.
// After a tool has run, the next call carries the tool's result: the model then reports it in
// words (rules match only user messages, so a scripted tool call cannot loop).
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { MoatError } from "../../errors.js";

export const LAB_MODEL_GREETING = "Hello from the fake lab model (moat lab).";

const toolCallSchema = z.strictObject({
  name: z.string().min(1, "names the tool to call"),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

const ruleSchema = z
  .strictObject({
    match: z.string().min(1, "is a substring or /regex/flags of the last user message"),
    reply: z.string().optional(),
    tool_call: toolCallSchema.optional(),
  })
  .refine((r) => (r.reply === undefined) !== (r.tool_call === undefined), {
    message: "needs exactly one of reply or tool_call",
  });

export const llmScriptSchema = z.array(ruleSchema);
export type LlmScript = z.infer<typeof llmScriptSchema>;
export type ToolCall = z.infer<typeof toolCallSchema>;

export type LlmAnswer = { text: string } | { toolCall: ToolCall };
export type LlmShape = "anthropic" | "openai" | "gemini";
// The newest turn of a conversation: what the user wrote, or what a tool returned.
export type LastTurn = { from: "user"; text: string } | { from: "tool"; text: string };

export class LlmScriptError extends MoatError {
  override readonly name = "LlmScriptError";
  readonly code = "MOAT_LAB_SCRIPT";
}

const pathText = (path: readonly PropertyKey[]) =>
  path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("") || "(top level)";

// `/…/flags` is a regular expression; anything else a case-insensitive substring.
function matcher(match: string): (text: string) => boolean {
  const re = /^\/(.+)\/([a-z]*)$/s.exec(match);
  if (!re) return (text) => text.toLowerCase().includes(match.toLowerCase());
  const compiled = new RegExp(re[1] as string, re[2]);
  return (text) => compiled.test(text);
}

// Parses and validates a script; errors name the rule and field, e.g. `[1].tool_call.name`.
export function parseLlmScript(text: string, source = "script"): LlmScript {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new LlmScriptError(`${source}: not JSON or YAML: ${(err as Error).message}`);
  }
  const result = llmScriptSchema.safeParse(data);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${pathText(i.path)}: ${i.message}`);
    throw new LlmScriptError(
      `${source} is not a valid lab LLM script (a list of {match, reply | tool_call}):\n${lines.join("\n")}`,
    );
  }
  for (const [i, rule] of result.data.entries()) {
    try {
      matcher(rule.match);
    } catch (err) {
      throw new LlmScriptError(`${source}: [${i}].match: ${(err as Error).message}`);
    }
  }
  return result.data;
}

const textOf = (content: unknown): string => {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content === undefined ? "" : JSON.stringify(content);
  return content
    .map((part) => {
      const p = part as Record<string, unknown>;
      if (typeof p.text === "string") return p.text;
      if (p.content !== undefined) return textOf(p.content);
      return "";
    })
    .join("\n");
};

// The newest turn of a request body in the provider's wire format: a tool's result, or the user
// messages since the model last spoke (OpenClaw sends the user's words and then its own context
// as separate user messages).
export function lastTurn(shape: LlmShape, body: Record<string, unknown> | undefined): LastTurn {
  if (shape === "gemini") {
    const partsText = (c: { parts?: Record<string, unknown>[] }) =>
      (c.parts ?? []).map((p) => (typeof p.text === "string" ? p.text : "")).join("\n");
    const contents = (
      (body?.contents ?? []) as { role?: string; parts?: Record<string, unknown>[] }[]
    ).filter((c) => !(c.role !== "model" && onlyContext(partsText(c))));
    const result = contents.at(-1)?.parts?.find((p) => p.functionResponse);
    if (result) return { from: "tool", text: JSON.stringify(result.functionResponse) };
    const turn = trailing(contents, (c) => c.role !== "model");
    return { from: "user", text: turn.map(partsText).join("\n") };
  }
  const messages = ((body?.messages ?? []) as { role?: string; content?: unknown }[]).filter(
    (m) => !(m.role === "user" && onlyContext(textOf(m.content))),
  );
  const last = messages.at(-1);
  if (!last) return { from: "user", text: "" };
  if (last.role === "tool") return { from: "tool", text: textOf(last.content) };
  if (shape === "anthropic" && Array.isArray(last.content)) {
    const results = (last.content as Record<string, unknown>[]).filter((b) => b.type === "tool_result");
    if (results.length) return { from: "tool", text: textOf(results.map((r) => ({ content: r.content }))) };
  }
  const turn = trailing(messages, (m) => m.role === "user");
  return { from: "user", text: turn.map((m) => textOf(m.content)).join("\n") };
}

function trailing<T>(items: T[], keep: (item: T) => boolean): T[] {
  let start = items.length;
  while (start > 0 && keep(items[start - 1] as T)) start--;
  return items.slice(start);
}

const CONTEXT_BLOCK = /<<<BEGIN_([A-Z_]+)>>>[\s\S]*?<<<END_\1>>>/g;
// OpenClaw ends each request with a user message holding only its own context for the model
// (inside <<<BEGIN_…>>> markers); the user's turn is the message before it.
const onlyContext = (text: string) =>
  text.includes("<<<BEGIN_") && text.replace(CONTEXT_BLOCK, "").trim() === "";

// The user's own words for the echo, without OpenClaw's envelope: its internal-context blocks,
// fenced metadata, the "[time] Conversation info:" line and the "Runtime:" line.
function userWords(text: string): string {
  return text
    .replace(CONTEXT_BLOCK, "")
    .replace(/```[\s\S]*?```/g, "")
    .split("\n")
    .filter((l) => !/^(\[[^\]]*\] )?Conversation info:|^Runtime: /.test(l))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

export function answer(script: LlmScript, turn: LastTurn): LlmAnswer {
  if (turn.from === "tool")
    return { text: `${LAB_MODEL_GREETING} The tool answered: ${clip(turn.text.trim(), 600)}` };
  const words = userWords(turn.text);
  const rule = script.find((r) => matcher(r.match)(words));
  if (rule?.tool_call) return { toolCall: rule.tool_call };
  if (rule?.reply !== undefined) return { text: rule.reply };
  return { text: `${LAB_MODEL_GREETING} You said: ${clip(words, 400)}` };
}
