// Test-only process for a namespace that plays the internet: the fake LLM providers and the
// fake Telegram Bot API, both on 443 over TLS with the test CA. Usage: fake-upstreams.ts <config.json>.
// Prints JSON lines: {"ready":true}, one {"llm":…} per provider call, one {"tg":…} per Bot API
// call, {"batch":[ids],"hold":ms} per getUpdates answer. Reads JSON lines on stdin:
// {"push":[update bodies]} → {"pushed":[ids]}.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { FakeLlm } from "../../src/lab/fakes/llm.js";
import { FakeTelegram } from "../../src/lab/fakes/telegram.js";

export interface FakeUpstreamsConfig {
  llmAddress: string;
  telegramAddress: string;
  cert: string;
  key: string;
  realKeys: { anthropic: string; openai: string; gemini: string };
  botToken: string;
  // Hold the first batches holding these update ids this long (to kill the gateway meanwhile).
  holdMs?: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as FakeUpstreamsConfig;
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const llm = new FakeLlm({ cert: cfg.cert, key: cfg.key, realKeys: cfg.realKeys });
const telegram = new FakeTelegram({ cert: cfg.cert, key: cfg.key }, cfg.botToken);
const holdIds = new Set<number>();
telegram.holdBatchMs = (ids) => {
  const hold = ids.some((id) => holdIds.has(id)) ? (cfg.holdMs ?? 0) : 0;
  for (const id of ids) holdIds.delete(id);
  out({ batch: ids, hold });
  return hold;
};

let llmSeen = 0;
let tgSeen = 0;
setInterval(() => {
  for (const c of llm.calls.slice(llmSeen))
    out({ llm: { shape: c.shape, path: c.path, credential: c.credential, headers: c.headers } });
  llmSeen = llm.calls.length;
  for (const c of telegram.calls.slice(tgSeen))
    out({ tg: { method: c.method, token: c.token, params: c.params } });
  tgSeen = telegram.calls.length;
}, 20);

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line) as { push?: Record<string, unknown>[]; hold?: boolean };
  if (cmd.push) {
    // Marked before the push: a waiting poll is answered within push() itself.
    if (cmd.hold) for (let i = 0; i < cmd.push.length; i++) holdIds.add(telegram.nextUpdateId + i);
    out({ pushed: telegram.push(...cmd.push) });
  }
});

await llm.listen(cfg.llmAddress, 443);
await telegram.listen(cfg.telegramAddress, 443);
out({ ready: true });
