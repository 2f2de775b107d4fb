// End to end in namespaces: the real `moat gateway` holds the keys; the agent, in a namespace
// whose only neighbour is the gateway, talks to api.openai.com and api.anthropic.com through
// the /llm routes with the official SDKs and placeholders, both addressed directly and (as
// OpenClaw does) through HTTP_PROXY. The providers are fakes over TLS with a test CA.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AgentLab, GATEWAY, LLM_HOST, labSpec, type Proc, REAL_KEYS } from "../support/agent-lab.js";
import { inNs } from "../support/netns.js";
import { needsRoot } from "../support/root.js";

const skip = needsRoot("network namespaces (ip netns)");

// Made in `before`: making it makes its namespaces, which needs root.
let lab: AgentLab;
let gateway: Proc;
let results: Record<string, Record<string, unknown>>;

before(async () => {
  if (skip) return;
  lab = new AgentLab("mtl4");
  await lab.setup();
  gateway = await lab.startGateway(labSpec());
  const agent = lab.spawn(lab.agent, ["test/support/agent-client.ts", "llm", GATEWAY], {
    PROVIDER_ADDRESS: LLM_HOST,
  });
  await agent.exited();
  results = Object.fromEntries(agent.lines.map((l) => [l.name as string, l]));
  assert.ok(Object.keys(results).length >= 6, agent.stderr);
});
after(() => {
  lab?.cleanup();
});

test("the SDKs get their answers through the gateway with placeholders only", { skip }, () => {
  for (const name of ["openai", "openai-stream", "anthropic-stream", "openai-via-proxy-env"]) {
    assert.deepEqual(results[name], { name, ok: true, value: "Hello from the fake" }, name);
  }
});

test("the providers saw the real keys and never a placeholder", { skip }, () => {
  const calls = lab.seen("llm");
  assert.equal(calls.length, 4);
  for (const c of calls) {
    const real = REAL_KEYS[c.shape as "openai" | "anthropic"];
    assert.equal(c.credential, real, JSON.stringify(c));
    assert.ok(!JSON.stringify(c.headers).includes("moat-placeholder"), "a placeholder reached the provider");
  }
});

test("a wrong key is refused at the gateway and never reaches the provider", { skip }, () => {
  assert.equal(results["wrong-key"]?.ok, false);
  assert.equal(results["wrong-key"]?.status, 401);
});

test("the agent cannot reach the provider directly", { skip }, () => {
  assert.equal(results["direct-to-provider"]?.ok, false, JSON.stringify(results["direct-to-provider"]));
});

test("each call is in the audit trail with tokens and cost, never a key or a prompt", { skip }, () => {
  const calls = lab.audit().filter((l) => l.event === "llm.call");
  assert.equal(calls.filter((c) => c.outcome === "forwarded").length, 4);
  assert.equal(calls.filter((c) => c.outcome === "refused").length, 1);
  for (const c of calls.filter((c) => c.outcome === "forwarded")) {
    assert.equal(c.inputTokens, 11);
    assert.equal(c.outputTokens, 7);
    assert.ok((c.costUsd as number) > 0);
    assert.equal(typeof c.time, "string");
  }
  const text = JSON.stringify(lab.audit());
  for (const secret of Object.values(REAL_KEYS))
    assert.ok(!text.includes(secret), "a key reached the audit trail");
  assert.ok(!text.includes('"hi"'), "a prompt reached the audit trail");
});

test("spend is in the metrics", { skip }, () => {
  const metrics = inNs(lab.gw, "curl", ["-s", "http://127.0.0.1:9464/metrics"]);
  assert.match(metrics, /moat_llm_spend_today_usd\{provider="gpt"\} [0-9.e-]+/);
  assert.match(metrics, /moat_llm_budget_daily_usd\{provider="gpt"\} 1/);
  assert.match(metrics, /moat_llm_requests_total\{provider="gpt",outcome="forwarded"\} 3/);
});

test("the gateway stops cleanly and keeps the day's spend on disk", { skip }, async () => {
  gateway.child.kill("SIGTERM");
  assert.equal(await gateway.exited(), 0);
  const state = JSON.parse(inNs(lab.gw, "cat", [`${lab.stateDir}/llm-budget.json`]));
  assert.ok(state.spentUsd.gpt > 0 && state.spentUsd.claude > 0, JSON.stringify(state));
});
