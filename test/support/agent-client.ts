// Test-only process that plays the agent in its own namespace, holding only placeholders.
// Usage: agent-client.ts llm <gateway-origin>
//        agent-client.ts telegram <gateway-origin>   (polls until "stop" arrives on stdin)
// Prints one JSON line per observation.
import { connect } from "node:net";
import { createInterface } from "node:readline";
import Anthropic from "@anthropic-ai/sdk";
import { Bot, GrammyError } from "grammy";
import OpenAI from "openai";
import { EnvHttpProxyAgent, fetch as undiciFetch } from "undici";
import { TELEGRAM_PLACEHOLDER_TOKEN } from "../../src/spec/derive.js";

const [mode, origin] = process.argv.slice(2) as [string, string];
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const outcome = async (name: string, f: () => Promise<unknown>) => {
  try {
    out({ name, ok: true, value: await f() });
  } catch (err) {
    const e = err as { status?: number; message?: string; code?: string };
    out({ name, ok: false, status: e.status, error: e.message ?? String(err), code: e.code });
  }
};

// Can the agent open a TCP connection straight to this address? (It must not.)
function direct(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 2000 });
    s.on("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("timeout", () => {
      s.destroy();
      reject(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" }));
    });
    s.on("error", reject);
  });
}

if (mode === "llm") {
  const gpt = new OpenAI({ apiKey: "moat-placeholder-llm-gpt", baseURL: `${origin}/llm/gpt`, maxRetries: 0 });
  const claude = new Anthropic({
    apiKey: "moat-placeholder-llm-claude",
    baseURL: `${origin}/llm/claude`,
    maxRetries: 0,
  });
  await outcome("openai", async () => {
    const r = await gpt.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    return r.choices[0]?.message.content;
  });
  await outcome("openai-stream", async () => {
    const stream = await gpt.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    return text;
  });
  await outcome("anthropic-stream", async () => {
    const m = await claude.messages
      .stream({ model: "claude-sonnet-4-5", max_tokens: 32, messages: [{ role: "user", content: "hi" }] })
      .finalMessage();
    return m.content[0]?.type === "text" ? m.content[0].text : "";
  });
  // As OpenClaw runs it: HTTP_PROXY set, every request sent to the gateway as a proxy.
  await outcome("openai-via-proxy-env", async () => {
    const proxied = new OpenAI({
      apiKey: "moat-placeholder-llm-gpt",
      baseURL: `${origin}/llm/gpt`,
      maxRetries: 0,
      fetch: undiciFetch as unknown as typeof fetch,
      fetchOptions: { dispatcher: new EnvHttpProxyAgent({ httpProxy: origin, httpsProxy: origin }) } as never,
    });
    const r = await proxied.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    return r.choices[0]?.message.content;
  });
  await outcome("wrong-key", async () => {
    const wrong = new OpenAI({
      apiKey: "sk-proj-leaked-or-guessed",
      baseURL: `${origin}/llm/gpt`,
      maxRetries: 0,
    });
    return wrong.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
  });
  await outcome("direct-to-provider", () => direct(process.env.PROVIDER_ADDRESS as string, 443));
} else if (mode === "telegram") {
  const bot = new Bot(TELEGRAM_PLACEHOLDER_TOKEN, { client: { apiRoot: `${origin}/telegram` } });
  bot.use((ctx) => {
    out({ update: ctx.update.update_id, text: ctx.update.message?.text, from: ctx.from?.id });
  });
  bot.catch((err) => out({ botError: String(err.error) }));
  createInterface({ input: process.stdin }).on("line", async (line) => {
    const cmd = JSON.parse(line) as { stop?: boolean; send?: number };
    if (cmd.send !== undefined) {
      await outcome(`send:${cmd.send}`, () =>
        bot.api.sendMessage(cmd.send as number, "hello").then((m) => m.chat.id),
      );
    }
    if (cmd.stop) {
      await bot.stop();
      process.exit(0);
    }
  });
  await bot.init().catch((err: unknown) => {
    out({ initError: err instanceof GrammyError ? err.description : String(err) });
    process.exit(1);
  });
  void bot.start({
    timeout: 2,
    onStart: () => {
      out({ polling: true });
    },
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
