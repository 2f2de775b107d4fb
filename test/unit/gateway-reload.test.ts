// Reload, without a network: what needs a restart (table), what a prepared generation carries
// over (the one Budget, the relay's memory), that preparing changes nothing until the swap, and
// that a retired generation keeps serving its requests in flight and closes only after them.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Registry } from "prom-client";
import { AgentRoutes, type AgentRoutesOptions, mountAgentRoutes } from "../../src/gateway/agent-routes.js";
import type { LlmRoutes } from "../../src/gateway/llm/routes.js";
import { restartNeeded } from "../../src/gateway/reload.js";
import { InternalRouter } from "../../src/gateway/router.js";
import type { TelegramRelay } from "../../src/gateway/telegram/relay.js";
import { specFrom } from "../helpers.js";

const yaml = (o: { port?: number; address?: string; metricsPort?: number; extra?: string } = {}) => `
version: 1
name: reload
target: { kind: lab }
messengers:
  telegram: { botToken: { env: BOT }, allowFrom: [1] }
llm:
  - { name: gpt, kind: openai, apiKey: { env: OPENAI }, models: [gpt-4o-mini], budget: { dailyUsd: 1 } }
${o.extra ?? ""}
gateway: { address: ${o.address ?? "198.18.0.1"}, port: ${o.port ?? 3128}, metricsPort: ${o.metricsPort ?? 9464} }
`;

describe("restartNeeded", () => {
  const running = specFrom(yaml());
  const rows: [what: string, next: string, expect: RegExp | undefined][] = [
    ["the same file", yaml(), undefined],
    ["egress, llm and telegram changes", yaml({ extra: "egress: { allow: [example.com] }" }), undefined],
    ["the port", yaml({ port: 3129 }), /^gateway\.port 3128 → 3129: .*restart needed$/],
    [
      "the address",
      yaml({ address: "198.18.0.9" }),
      /^gateway\.address 198\.18\.0\.1 → 198\.18\.0\.9: .*restart/,
    ],
    ["the metrics port", yaml({ metricsPort: 9465 }), /^gateway\.metricsPort 9464 → 9465: .*restart/],
    [
      "two at once",
      yaml({ port: 1, metricsPort: 2 }),
      /gateway\.port 3128 → 1, gateway\.metricsPort 9464 → 2/,
    ],
  ];
  for (const [what, next, expect] of rows) {
    test(what, () => {
      const got = restartNeeded(running, specFrom(next));
      if (expect === undefined) assert.equal(got, undefined);
      else assert.match(got ?? "", expect);
    });
  }
});

describe("preparing and swapping generations", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "moat-reload-unit-"));
  after(() => rmSync(stateDir, { recursive: true, force: true }));
  const opts: AgentRoutesOptions = {
    audit: { record() {}, close() {} },
    registry: new Registry(),
    resolver: { resolve: () => Promise.reject(new Error("no network in this test")) },
    stateDir,
    env: { BOT: "7000:real-bot", OPENAI: "sk-real" },
  };

  test("a missing secret refuses the generation, naming the field; the live one is untouched", () => {
    const routes = mountAgentRoutes(new InternalRouter(), specFrom(yaml()), opts);
    try {
      const next = specFrom(yaml().replace("env: BOT", "env: NOT_SET"));
      assert.throws(() => routes.prepare(next), /messengers\.telegram\.botToken/);
      const noKey = specFrom(yaml().replace("env: OPENAI", "env: NOT_SET"));
      assert.throws(() => routes.prepare(noKey), /llm\[0\]\.apiKey/);
    } finally {
      routes.close();
    }
  });

  test("the next generation shares the Budget and the relay's memory; limits change at the swap only", () => {
    const routes = mountAgentRoutes(new InternalRouter(), specFrom(yaml()), opts);
    try {
      const first = routes.prepare(specFrom(yaml()));
      const raised = routes.prepare(
        specFrom(yaml().replace("dailyUsd: 1", "dailyUsd: 7").replace("allowFrom: [1]", "allowFrom: [2]")),
      );
      assert.ok(first.budget && first.budget === raised.budget, "one Budget across generations");
      assert.ok(first.telegram && first.telegram.memory === raised.telegram?.memory, "one offset keeper");
      first.budget.charge("gpt", 0.25);
      assert.equal(first.budget.limit("gpt"), 1, "prepared, not swapped: the old limit holds");
      routes.swap(raised);
      assert.equal(raised.budget?.limit("gpt"), 7);
      assert.equal(raised.budget?.spent("gpt"), 0.25, "the swap kept the day's spend");
      routes.swap(routes.prepare(specFrom(yaml().replace(/llm:\n.*\n/, ""))));
      const back = routes.prepare(specFrom(yaml()));
      assert.equal(back.budget, raised.budget, "a provider removed and put back finds its spend");
      for (const g of [first, back]) {
        g.llm?.close();
        g.telegram?.close();
      }
    } finally {
      routes.close();
    }
  });
});

// Hand-made generations: a handler the test finishes, and counters for retire and close.
function fakeGeneration() {
  const calls: { finish: () => void }[] = [];
  const counts = { closed: 0, retired: 0, served: 0 };
  const handle = () => {
    counts.served++;
    return new Promise<void>((resolve) => calls.push({ finish: resolve }));
  };
  const close = () => {
    counts.closed++;
  };
  const llm = { handle, close } as unknown as LlmRoutes;
  const telegram = {
    handle,
    close,
    retire: () => {
      counts.retired++;
    },
  } as unknown as TelegramRelay;
  return { routes: { llm, telegram, limits: {} }, calls, counts };
}

function request(router: InternalRouter, path: string) {
  const res = new EventEmitter() as unknown as ServerResponse;
  router.handle({ url: path, method: "POST" } as IncomingMessage, res);
  return { closed: () => (res as unknown as EventEmitter).emit("close") };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("requests in flight keep their generation", () => {
  const opts = {} as AgentRoutesOptions;

  test("the old generation ends its polls at the swap and closes after its last request", async () => {
    const old = fakeGeneration();
    const next = fakeGeneration();
    const router = new InternalRouter();
    const routes = new AgentRoutes(opts, old.routes);
    routes.mount(router);
    const llmCall = request(router, "/llm/gpt/chat/completions");
    const poll = request(router, "/telegram/botX/getUpdates");
    await tick();
    assert.equal(old.counts.served, 2);

    routes.swap(next.routes);
    assert.equal(old.counts.retired, 1, "the old relay's long polls are ended at the swap");
    request(router, "/llm/gpt/chat/completions");
    await tick();
    assert.equal(next.counts.served, 1, "a request after the swap meets the new generation");
    assert.equal(old.counts.closed, 0, "closed under requests in flight");

    old.calls[1]?.finish();
    poll.closed();
    await tick();
    assert.equal(old.counts.closed, 0, "the LLM call is still being read");
    llmCall.closed();
    await tick();
    assert.equal(old.counts.closed, 0, "the agent left, but the handler still reads the usage");
    old.calls[0]?.finish();
    await tick();
    assert.equal(old.counts.closed, 2, "closed (llm and relay) once idle");
    assert.equal(next.counts.closed, 0);
    routes.close();
    assert.equal(next.counts.closed, 2);
  });

  test("a generation without a route answers 404 like the router", async () => {
    const router = new InternalRouter();
    const routes = new AgentRoutes(opts, { limits: {} });
    routes.mount(router);
    let status = 0;
    const res = {
      writeHead: (s: number) => {
        status = s;
      },
      end() {},
    } as unknown as ServerResponse;
    router.handle({ url: "/llm/gpt/x", method: "GET" } as IncomingMessage, res);
    assert.equal(status, 404);
  });
});
