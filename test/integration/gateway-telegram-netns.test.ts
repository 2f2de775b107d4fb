// End to end in namespaces: grammY in the agent's namespace polls the real `moat gateway` with
// the placeholder token; the gateway relays to a fake api.telegram.org over TLS. Strangers are
// never heard, the bot cannot write to them, and a gateway killed with SIGKILL in the middle of
// a poll loses and repeats nothing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { KNOWN_UPDATE_TYPES } from "../../src/gateway/telegram/updates.js";
import { AgentLab, GATEWAY, labSpec, type Proc, REAL_BOT, waitUntil } from "../support/agent-lab.js";
import { needsRoot } from "../support/root.js";
import { GROUP, OWNER, STRANGE_GROUP, STRANGER, updateOfType } from "../support/telegram-updates.js";

const skip = needsRoot("network namespaces (ip netns)");

// Made in `before`: making it makes its namespaces, which needs root.
let lab: AgentLab;
let gateway: Proc;
let agent: Proc;

const owner = (text: string) => ({
  message: {
    message_id: 1,
    date: 1,
    from: { id: OWNER, is_bot: false, first_name: "o" },
    chat: { id: OWNER, type: "private" },
    text,
  },
});
const strangers = () =>
  KNOWN_UPDATE_TYPES.map((t) => updateOfType(t, STRANGER, t.includes("channel") ? STRANGE_GROUP : GROUP));
const heard = () => agent.lines.filter((l) => "update" in l);
const getUpdatesCalls = () => lab.seen("tg").filter((c) => c.method === "getUpdates").length;

async function push(bodies: Record<string, unknown>[], hold = false): Promise<number[]> {
  const before = lab.upstreams.lines.filter((l) => "pushed" in l).length;
  lab.upstreams.send({ push: bodies, hold });
  await waitUntil(
    () => lab.upstreams.lines.filter((l) => "pushed" in l).length > before,
    () => "push",
  );
  return lab.upstreams.lines.filter((l) => "pushed" in l).at(-1)?.pushed as number[];
}

before(async () => {
  if (skip) return;
  lab = new AgentLab("mtt4");
  await lab.setup({ holdMs: 2000 });
  gateway = await lab.startGateway(labSpec());
  agent = lab.spawn(lab.agent, ["test/support/agent-client.ts", "telegram", GATEWAY]);
  await agent.waitFor((l) => "polling" in l, "grammY polling");
});
after(() => {
  if (skip) return;
  agent?.send({ stop: true });
  lab?.cleanup();
});

test("strangers are dropped before grammY sees them; the owner is heard", { skip }, async () => {
  await push(strangers());
  const [id] = await push([owner("hello")]);
  await agent.waitFor((l) => l.update === id, "owner message");
  assert.deepEqual(
    heard().map((l) => [l.text, l.from]),
    [["hello", OWNER]],
  );
  const drops = lab.audit().filter((l) => l.event === "telegram.drop");
  assert.deepEqual([...new Set(drops.map((d) => d.updateType))].sort(), [...KNOWN_UPDATE_TYPES].sort());
  assert.ok(drops.every((d) => typeof d.reason === "string"));
});

test("an all-dropped flood costs a few upstream polls, not a busy loop", { skip }, async (t) => {
  const before = getUpdatesCalls();
  await push([...strangers(), ...strangers(), ...strangers()]);
  await new Promise((r) => setTimeout(r, 4000));
  const calls = getUpdatesCalls() - before;
  t.diagnostic(`${calls} getUpdates calls upstream in 4 s (grammY long-polls 2 s)`);
  assert.ok(calls <= 6, `${calls} upstream polls`);
  assert.equal(heard().length, 1);
});

test("the bot cannot write to a stranger; it can write to the owner", { skip }, async () => {
  agent.send({ send: STRANGER });
  agent.send({ send: OWNER });
  const refused = await agent.waitFor((l) => l.name === `send:${STRANGER}`, "stranger send");
  const allowed = await agent.waitFor((l) => l.name === `send:${OWNER}`, "owner send");
  assert.equal(refused.ok, false);
  assert.match(String(refused.error), /403.*not allowlisted/);
  assert.deepEqual(allowed, { name: `send:${OWNER}`, ok: true, value: OWNER });
  // The fake Bot API logs from its own process: its line can trail the agent's answer.
  // A stranger's send, had it been forwarded, would have been logged before the owner's.
  await lab.upstreams.waitFor((l) => {
    const tg = l.tg as { method?: string; params?: { chat_id?: number } } | undefined;
    return tg?.method === "sendMessage" && tg.params?.chat_id === OWNER;
  }, "the owner's sendMessage at the fake Bot API");
  const sends = lab.seen("tg").filter((c) => c.method === "sendMessage");
  assert.deepEqual(
    sends.map((c) => (c.params as { chat_id: number }).chat_id),
    [OWNER],
  );
  assert.ok(
    lab.seen("tg").every((c) => c.token === REAL_BOT),
    "Telegram saw a token other than the real one",
  );
});

test("SIGKILL of the gateway while a batch is in flight loses and repeats nothing", { skip }, async () => {
  const ids = await push([owner("during-crash-1"), owner("during-crash-2")], true);
  // The fake Bot API holds this batch for 2 s: the gateway dies holding the request.
  await lab.upstreams.waitFor(
    (l) =>
      Array.isArray(l.batch) && (l.batch as number[]).includes(ids[0] as number) && (l.hold as number) > 0,
    "held batch",
  );
  gateway.child.kill("SIGKILL");
  await gateway.exited();
  gateway = await lab.startGateway(labSpec());
  const [after] = await push([owner("after-restart")]);
  await agent.waitFor((l) => l.update === after, "message after the restart", 30_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(
    heard().map((l) => l.text),
    ["hello", "during-crash-1", "during-crash-2", "after-restart"],
  );
});
