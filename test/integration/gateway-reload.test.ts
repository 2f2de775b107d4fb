// SIGHUP applies every part of moat.yaml the gateway uses, or refuses the whole reload. The real
// `moat gateway` in namespaces, grammY polling it from the agent's side, curl for the LLM routes
// and egress: after each reload the Telegram allowlist (users and chats), the LLM providers,
// their budgets and prices, and the egress allowlist are the new file's; a broken file, a missing
// secret or a moved listener is refused with a log line and a metric, and everything stays as
// it was. The day's spend survives every reload.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { AgentLab, GATEWAY, type Proc, REAL_KEYS, waitUntil } from "../support/agent-lab.js";
import { inNs } from "../support/netns.js";
import { needsRoot } from "../support/root.js";
import { updateOfType } from "../support/telegram-updates.js";

const A = 111_111;
const B = 222_222;
const G1 = -100_111;
const G2 = -100_222;

interface Shape {
  from: number;
  chat: number;
  gpt?: { dailyUsd: number; outputPerMTok: number };
  claude?: boolean;
  claudeKeyFile?: string;
  egress: string[];
  botEnv?: string;
  port?: number;
}

// 7 output tokens per fake reply, input priced at 0: outputPerMTok 100000 is $0.70 a call. The
// call asks for max_tokens 7, so the gateway's worst-case reservation is that same $0.70.
function yaml(s: Shape): string {
  const llm = [
    s.claude
      ? `  - { name: claude, kind: anthropic, apiKey: ${s.claudeKeyFile ? `{ file: "${s.claudeKeyFile}" }` : "{ env: MOAT_T_ANTHROPIC }"}, models: [claude-sonnet-4-5] }`
      : "",
    s.gpt
      ? `  - { name: gpt, kind: openai, apiKey: { env: MOAT_T_OPENAI }, models: [gpt-4o-mini], ` +
        `budget: { dailyUsd: ${s.gpt.dailyUsd} }, ` +
        `prices: { gpt-4o-mini: { inputPerMTok: 0, outputPerMTok: ${s.gpt.outputPerMTok} } } }`
      : "",
  ].filter(Boolean);
  return `
version: 1
name: reloadlab
target: { kind: lab }
messengers:
  telegram: { botToken: { env: ${s.botEnv ?? "MOAT_T_BOT"} }, allowFrom: [${s.from}], allowChats: [${s.chat}] }
${llm.length ? `llm:\n${llm.join("\n")}` : ""}
egress: { allow: [${s.egress.join(", ")}] }
gateway: { address: 198.18.0.1, port: ${s.port ?? 3128}, metricsPort: 9464 }
`;
}

const START: Shape = {
  from: A,
  chat: G1,
  gpt: { dailyUsd: 1, outputPerMTok: 100_000 },
  egress: ["docs.example.test"],
};
const NEXT: Shape = {
  from: B,
  chat: G2,
  gpt: { dailyUsd: 3, outputPerMTok: 200_000 },
  claude: true,
  egress: [],
};

// Made in `before`: making it makes its namespaces, which needs root.
let lab: AgentLab;
let gateway: Proc;
let agent: Proc;
let yamlFile: string;

const text = (from: number, chat: number, t: string) => {
  const u = updateOfType("message", from, chat) as { message: Record<string, unknown> };
  return { message: { ...u.message, text: t } };
};

async function push(bodies: Record<string, unknown>[], hold = false): Promise<number[]> {
  const before = lab.upstreams.lines.filter((l) => "pushed" in l).length;
  lab.upstreams.send({ push: bodies, hold });
  await waitUntil(
    () => lab.upstreams.lines.filter((l) => "pushed" in l).length > before,
    () => "push",
  );
  return lab.upstreams.lines.filter((l) => "pushed" in l).at(-1)?.pushed as number[];
}

// Pushes the messages as one batch and returns the texts the agent heard of them: a batch is
// judged at once, so waiting for the last one the relay could deliver leaves no race.
async function heardOf(messages: Record<string, unknown>[]): Promise<string[]> {
  const ids = await push(messages);
  const mine = () => agent.lines.filter((l) => ids.includes(l.update as number));
  const upstreamDone = () =>
    lab
      .seen("tg")
      .some(
        (c) =>
          c.method === "getUpdates" && Number((c.params as { offset?: unknown }).offset) > Math.max(...ids),
      );
  // Every id is either heard or confirmed upstream (dropped) once an offset passes them all.
  await waitUntil(
    () => upstreamDone() || mine().length === ids.length,
    () => `batch ${ids}: ${agent.stderr}`,
  );
  await new Promise((r) => setTimeout(r, 200));
  return mine().map((l) => l.text as string);
}

// curl in the agent's namespace; its exit code is not the point (a refused CONNECT is 56).
function curlOut(args: string[]): string {
  try {
    return inNs(lab.agent, "curl", ["-s", "--max-time", "10", ...args]);
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? "");
  }
}

function curl(args: string[]): { status: number; body: string } {
  const out = curlOut(["-w", "\n%{http_code}", ...args]);
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

const askGpt = () =>
  curl([
    "-H",
    "authorization: Bearer moat-placeholder-llm-gpt",
    "-H",
    "content-type: application/json",
    "-d",
    JSON.stringify({ model: "gpt-4o-mini", max_tokens: 7, messages: [{ role: "user", content: "hi" }] }),
    `${GATEWAY}/llm/gpt/chat/completions`,
  ]);
const askClaude = () =>
  curl([
    "-H",
    "x-api-key: moat-placeholder-llm-claude",
    "-H",
    "anthropic-version: 2023-06-01",
    "-H",
    "content-type: application/json",
    "-d",
    JSON.stringify({
      model: "claude-sonnet-4-5",
      max_tokens: 8,
      messages: [{ role: "user", content: "hi" }],
    }),
    `${GATEWAY}/llm/claude/v1/messages`,
  ]);
// The CONNECT answer of the gateway for a site (200 opens the tunnel, 403 refuses it).
const connectTo = (host: string) =>
  Number(
    curlOut(["-k", "-o", "/dev/null", "-w", "%{http_connect}", "-x", GATEWAY, `https://${host}/`]).trim(),
  );

const gptCalls = () => lab.audit().filter((l) => l.event === "llm.call" && l.provider === "gpt");

// The call's answer and its audit line (written asynchronously, so waited for).
async function charged(): Promise<{ status: number; body: string; cost: number; spent: number }> {
  const before = gptCalls().length;
  const r = askGpt();
  await waitUntil(
    () => gptCalls().length > before,
    () => "the call's audit line",
  );
  const line = gptCalls().at(-1) as { costUsd: number; spentTodayUsd: number };
  return { ...r, cost: line.costUsd, spent: line.spentTodayUsd };
}

const metrics = () => inNs(lab.gw, "curl", ["-s", "http://127.0.0.1:9464/metrics"]);
const reloads = (result: string) =>
  Number(new RegExp(`moat_gateway_reloads_total\\{result="${result}"\\} (\\d+)`).exec(metrics())?.[1] ?? 0);

async function sighup(shape: Shape | string, expect: RegExp): Promise<string> {
  const before = gateway.stderr.length;
  writeFileSync(yamlFile, typeof shape === "string" ? shape : yaml(shape));
  gateway.child.kill("SIGHUP");
  await waitUntil(
    () => expect.test(gateway.stderr.slice(before)),
    () => `reload line ${expect}: ${gateway.stderr.slice(before)}`,
  );
  return gateway.stderr.slice(before);
}

describe("SIGHUP reloads everything, or nothing", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  before(async () => {
    lab = new AgentLab("mrl4");
    await lab.setup({ holdMs: 2000 });
    gateway = await lab.startGateway(yaml(START));
    yamlFile = `${lab.dir}/moat.yaml`;
    agent = lab.spawn(lab.agent, ["test/support/agent-client.ts", "telegram", GATEWAY]);
    await agent.waitFor((l) => "polling" in l, "grammY polling");
  });
  after(() => {
    agent?.send({ stop: true });
    lab?.cleanup();
  });

  test("before the reload: the first file's Telegram allowlist, providers, budget and egress", async () => {
    assert.deepEqual(
      await heardOf([
        text(B, B, "B-before"),
        text(A, A, "A-before"),
        text(A, G2, "G2-before"),
        text(A, G1, "G1-before"),
      ]),
      ["A-before", "G1-before"],
    );
    assert.equal(askClaude().status, 404);
    const first = await charged();
    assert.equal(first.status, 200);
    assert.ok(Math.abs(first.cost - 0.7) < 1e-9, `price: ${first.cost}`);
    assert.equal(askGpt().status, 429, "$0.70 spent of a $1 budget: another $0.70 does not fit");
    assert.equal(connectTo("docs.example.test"), 200);
  });

  test("a reload swaps the Telegram users and chats", async () => {
    const line = await sighup(NEXT, /reloaded/);
    assert.match(line, /reloaded/);
    assert.deepEqual(
      await heardOf([
        text(A, A, "A-after"),
        text(B, B, "B-after"),
        text(B, G1, "G1-after"),
        text(B, G2, "G2-after"),
      ]),
      ["B-after", "G2-after"],
    );
  });

  test("a reload swaps the providers, the budget and the prices, and keeps the day's spend", async () => {
    assert.equal(askClaude().status, 200, "the added provider is served");
    const r = await charged();
    assert.equal(r.status, 200, `the raised budget admits the call: ${r.body}`);
    assert.ok(Math.abs(r.cost - 1.4) < 1e-9, `new price: ${r.cost}`);
    assert.ok(Math.abs(r.spent - 2.1) < 1e-9, `spend kept: ${r.spent}`);
  });

  test("a reload swaps the egress allowlist", () => {
    assert.equal(connectTo("docs.example.test"), 403);
  });

  test("a provider removed is gone; put back with a lower budget, its spend is still there", async () => {
    await sighup({ ...NEXT, gpt: undefined }, /reloaded/);
    assert.equal(askGpt().status, 404);
    assert.equal(askClaude().status, 200);
    await sighup({ ...NEXT, gpt: { dailyUsd: 1, outputPerMTok: 200_000 } }, /reloaded/);
    const r = askGpt();
    assert.equal(r.status, 429, r.body);
    assert.match(r.body, /\$2\.1000 of \$1/);
    assert.equal(reloads("applied"), 3);
  });

  test("refused whole, with a log line and a metric: a broken file, a missing secret, a moved listener", async () => {
    const broken = await sighup("version: 1\nname: [broken\n", /reload refused/);
    assert.match(broken, /reload refused.*keeping/);
    // Everything in this file would change the gateway, but its bot token cannot be read.
    const missing = await sighup({ ...START, botEnv: "MOAT_T_NOT_SET" }, /reload refused/);
    assert.match(missing, /messengers\.telegram\.botToken/);
    const moved = await sighup({ ...START, port: 3129 }, /reload refused/);
    assert.match(moved, /gateway\.port.*restart needed/);
    assert.equal(reloads("refused"), 3);
    assert.equal(reloads("applied"), 3);
    assert.doesNotMatch(gateway.stderr.split("reload refused")[1] ?? "", /reloaded/);
  });

  test("after the refusals everything is as the last good file made it", async () => {
    assert.deepEqual(
      await heardOf([
        text(A, A, "A-kept"),
        text(B, B, "B-kept"),
        text(B, G1, "G1-kept"),
        text(B, G2, "G2-kept"),
      ]),
      ["B-kept", "G2-kept"],
    );
    assert.equal(askClaude().status, 200);
    assert.equal(askGpt().status, 429);
    assert.equal(connectTo("docs.example.test"), 403);
  });

  test("a reload while a batch is in flight upstream loses and repeats nothing", async () => {
    const last = { ...NEXT, gpt: { dailyUsd: 1, outputPerMTok: 200_000 } };
    const ids = await push([text(B, B, "held-1"), text(B, G2, "held-2")], true);
    // The fake Bot API holds this batch for 2 s: the reload lands while the old relay waits.
    await lab.upstreams.waitFor(
      (l) =>
        Array.isArray(l.batch) && (l.batch as number[]).includes(ids[0] as number) && (l.hold as number) > 0,
      "held batch",
    );
    const held = Date.now();
    await sighup(last, /reloaded/);
    await agent.waitFor((l) => l.update === ids[1], "the held batch, through the new relay");
    // Sooner than the hold: the old relay's poll was ended at the swap and the agent's next
    // poll, through the new relay, was handed the same (unconfirmed) updates.
    assert.ok(Date.now() - held < 1800, `heard after ${Date.now() - held} ms, not through a new poll`);
    await new Promise((r) => setTimeout(r, 2500)); // past the hold: a late copy would show now
    const [after] = await push([text(B, B, "after-held")]);
    await agent.waitFor((l) => l.update === after, "the next message");
    assert.deepEqual(
      agent.lines.filter((l) => [...ids, after].includes(l.update as number)).map((l) => l.text),
      ["held-1", "held-2", "after-held"],
    );
    assert.doesNotMatch(agent.stderr, /Conflict|409|502/);
    const polls = lab.audit().filter((l) => l.event === "telegram.call" && l.method === "getUpdates");
    assert.deepEqual(
      polls.filter((l) => l.status !== 200),
      [],
    );
  });

  test("a key rotated in its secret file is read again on reload (host apply rewrites it, then reloads)", async () => {
    const keyFile = lab.write("claude.key", "sk-ant-api03-OLD-revoked\n");
    const shape = { ...NEXT, gpt: { dailyUsd: 1, outputPerMTok: 200_000 }, claudeKeyFile: keyFile };
    await sighup(shape, /reloaded/);
    assert.equal(askClaude().status, 401, "the provider refuses the old key");
    lab.write("claude.key", `${REAL_KEYS.anthropic}\n`);
    await sighup(shape, /reloaded/);
    assert.equal(askClaude().status, 200, "the rotated key is in use");
  });
});
