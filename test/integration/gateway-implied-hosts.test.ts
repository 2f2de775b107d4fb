// Issue 13, item 1, in namespaces: a hijacked agent holding credentials of its own (an attacker's
// bot token, an attacker's OpenAI key) tunnels with a plain CONNECT to the hosts the gateway's own
// routes serve, and to the image registry. Each is refused with the reason, and the fake Bot API
// and providers never see the request. The owner may reopen one in egress.allow (validate warns).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AgentLab, labSpec, type Proc, waitUntil } from "../support/agent-lab.js";
import { needsRoot } from "../support/root.js";

const REGISTRY = "registry.moat-test.example";
const spec = (allow = "[]") =>
  `${labSpec().replace("name: agentlab", `name: agentlab\nagent: { profile: custom, image: "${REGISTRY}/acme/agent:1.0", writablePaths: [/tmp] }`)}egress:\n  allow: ${allow}\n`;

describe("the hosts the gateway serves are not the agent's to reach", {
  skip: needsRoot("network namespaces (ip netns)"),
  concurrency: false,
}, () => {
  const lab = new AgentLab("mimp");
  let gateway: Proc;

  // Runs the attacker's client in the agent's namespace; its JSON lines.
  const direct = async (authority: string, method: string, path: string, body = "") => {
    const p = lab.spawn(lab.agent, [
      "test/support/direct-client.ts",
      "198.18.0.1",
      "3128",
      authority,
      method,
      path,
      body,
    ]);
    await p.exited();
    return p.lines;
  };
  const tgCalls = (token: string) => lab.seen("tg").filter((c) => c.token === token);
  const llmCalls = () => lab.seen("llm").length;

  before(async () => {
    await lab.setup();
    gateway = await lab.startGateway(spec());
  });
  after(() => {
    gateway?.child.kill();
    lab.cleanup();
  });

  test("CONNECT api.telegram.org with an attacker's bot token is refused; the Bot API sees nothing", async () => {
    const lines = await direct(
      "api.telegram.org:443",
      "POST",
      "/bot999:ATTACKER/sendMessage",
      JSON.stringify({ chat_id: 666, text: "exfiltrated" }),
    );
    assert.deepEqual(lines[0], {
      connect: 403,
      connectBody:
        "moat: denied: api.telegram.org is served only by the gateway's own routes (/telegram, for messengers.telegram); the agent may not reach it directly\n",
    });
    assert.deepEqual(tgCalls("999:ATTACKER"), [], "the attacker's sendMessage reached the Bot API");
    const audit = lab.audit().find((a) => a.host === "api.telegram.org" && a.method === "CONNECT");
    assert.deepEqual(audit && [audit.decision, audit.code], ["deny", "gateway-route"]);
  });

  test("CONNECT to the LLM hosts and the image registry is refused, naming what serves each", async () => {
    const before = llmCalls();
    const want: [string, string][] = [
      ["api.openai.com:443", "(/llm/gpt, for llm[0])"],
      ["api.anthropic.com:443", "(/llm/claude, for llm[1])"],
      [`${REGISTRY}:443`, "(host apply's image pull, for agent.image)"],
    ];
    for (const [authority, servedBy] of want) {
      const [first] = await direct(authority, "POST", "/v1/chat/completions", "{}");
      assert.equal(first?.connect, 403, `${authority}: ${JSON.stringify(first)}`);
      const reason = String(first?.connectBody);
      assert.ok(reason.includes(`served only by the gateway's own routes ${servedBy}`), reason);
    }
    assert.equal(llmCalls(), before, "a provider saw a request");
  });

  test("the pull listener on the gateway's loopback admits the registry only, audited as listener pull", async () => {
    const onLoopback = async (authority: string) => {
      const p = lab.spawn(lab.gw, [
        "test/support/direct-client.ts",
        "127.0.0.1",
        "3128",
        authority,
        "GET",
        "/v2/",
      ]);
      await p.exited();
      return p.lines[0];
    };
    // Admitted, then the lookup fails: this world's DNS has no such registry.
    assert.deepEqual(await onLoopback(`${REGISTRY}:443`), {
      connect: 502,
      connectBody: `moat: error: ${REGISTRY} does not resolve\n`,
    });
    const tg = await onLoopback("api.telegram.org:443");
    assert.equal(tg?.connect, 403);
    assert.equal(
      tg?.connectBody,
      "moat: denied: api.telegram.org is not in the registry hosts of agent.image\n",
    );
    const pulls = lab.audit().filter((a) => a.listener === "pull");
    assert.deepEqual(
      pulls.map((a) => [a.host, a.decision, a.code]),
      [
        [REGISTRY, "error", "dns-notfound"],
        ["api.telegram.org", "deny", "not-allowlisted"],
      ],
    );
  });

  test("negative control: listed in egress.allow, the same tunnel reaches the Bot API", async () => {
    gateway.child.kill();
    await gateway.exited();
    gateway = await lab.startGateway(spec("[api.telegram.org]"));
    const before = tgCalls("999:ATTACKER").length;
    const lines = await direct("api.telegram.org:443", "POST", "/bot999:ATTACKER/sendMessage", "{}");
    assert.equal(lines[0]?.connect, 200, JSON.stringify(lines));
    // The fake Bot API reports on its own stdout, which may reach this process after the reply did.
    await waitUntil(
      () => tgCalls("999:ATTACKER").length === before + 1,
      () => `the reopened channel is a channel: the Bot API saw no call (client: ${JSON.stringify(lines)})`,
      5_000,
    );
  });
});
