import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { llmKeyEnv } from "../../src/render/agent-env.js";
import { OPENCLAW_CONFIG_PATH, openclawConfig, renderOpenclawConfig } from "../../src/render/openclaw.js";
import { PROVIDER_SHAPES } from "../../src/spec/derive.js";
import type { MoatSpec } from "../../src/spec/schema.js";
import { AGENT_SPECS, assertNoPlantedSecret, plantSecrets } from "../support/agent-specs.js";

// biome-ignore lint/suspicious/noExplicitAny: the rendered config is plain JSON.
const configOf = (spec: MoatSpec): any => JSON.parse(renderOpenclawConfig(spec)[0]?.content ?? "null");
const envRef = (id: string) => ({ source: "env", provider: "default", id });
const OPENCLAW_SPECS = Object.entries(AGENT_SPECS).filter(([, make]) => make().agent.profile === "openclaw");

describe("openclaw config renderer", () => {
  let restore: () => void;
  before(() => {
    restore = plantSecrets();
  });
  after(() => restore());

  it("renders the example's key settings", () => {
    const [a, ...rest] = renderOpenclawConfig(AGENT_SPECS.example());
    assert.equal(rest.length, 0);
    assert.equal(a?.kind, "openclaw-config");
    assert.equal(a?.path, OPENCLAW_CONFIG_PATH);
    assert.ok(a?.content.endsWith("}\n"));
    const c = configOf(AGENT_SPECS.example());
    assert.deepEqual(c.gateway.auth.token, envRef("OPENCLAW_GATEWAY_TOKEN"));
    assert.equal(c.gateway.auth.mode, "token");
    assert.equal(c.gateway.mode, "local");
    assert.equal(c.gateway.bind, "lan");
    assert.equal(c.gateway.port, 18789);
    assert.deepEqual(c.gateway.terminal, { enabled: false });
    assert.equal(c.gateway.controlUi.automaticallyFetchFavicons, false);
    assert.deepEqual(c.gateway.controlUi.allowedOrigins, [
      "http://127.0.0.1:18789",
      "http://localhost:18789",
    ]);
    assert.deepEqual(c.gateway.tailscale, { mode: "off" });
    assert.deepEqual(c.channels.telegram, {
      enabled: true,
      dmPolicy: "allowlist",
      allowFrom: ["123456789"],
      groupPolicy: "disabled",
      apiRoot: "http://198.18.0.1:3128/telegram",
      botToken: envRef("TELEGRAM_BOT_TOKEN"),
      configWrites: false,
    });
    assert.deepEqual(c.models, {
      catalogRefresh: { enabled: false },
      mode: "replace",
      providers: {
        main: {
          baseUrl: "http://198.18.0.1:3128/llm/main",
          apiKey: envRef("MOAT_LLM_MAIN_API_KEY"),
          api: "openai-completions",
          models: [{ id: "gpt-5.4", name: "gpt-5.4" }],
        },
      },
    });
    assert.deepEqual(c.agents.defaults.model, { primary: "main/gpt-5.4" });
    assert.deepEqual(c.proxy, { proxyUrl: "http://198.18.0.1:3128", loopbackMode: "gateway-only" });
    assert.deepEqual(c.update, { checkOnStart: false, auto: { enabled: false } });
    assert.deepEqual(c.discovery, { mdns: { mode: "off" } });
    assert.deepEqual(c.tools.exec, { mode: "deny" });
    assert.deepEqual(c.tools.elevated, { enabled: false });
    assert.equal(c.tools.web.fetch.enabled, false);
    assert.deepEqual(c.plugins, { entries: { acpx: { enabled: false } } });
    assert.deepEqual(c.commands.ownerAllowFrom, ["telegram:123456789"]);
  });

  it("custom profile renders nothing", () => {
    assert.deepEqual(renderOpenclawConfig(AGENT_SPECS.custom()), []);
    assert.deepEqual(renderOpenclawConfig(AGENT_SPECS.customBare()), []);
  });

  for (const [name, make] of OPENCLAW_SPECS) {
    it(`${name}: every route goes to the gateway, every credential is an env reference`, () => {
      const spec = make();
      const c = configOf(spec);
      const origin = `http://${spec.gateway.address}:${spec.gateway.port}`;
      assert.equal(c.proxy.proxyUrl, origin);
      assert.deepEqual(
        Object.keys(c.models.providers),
        spec.llm.map((p) => p.name),
      );
      for (const p of spec.llm) {
        const rendered = c.models.providers[p.name];
        assert.equal(rendered.baseUrl, `${origin}/llm/${p.name}`);
        assert.deepEqual(rendered.apiKey, envRef(llmKeyEnv(p)));
        assert.equal(rendered.api, PROVIDER_SHAPES[p.kind].openclawApi);
        assert.deepEqual(
          rendered.models.map((m: { id: string }) => m.id),
          p.models,
        );
        assert.equal(rendered.request, undefined, "no private-network opt-in beyond the configured origin");
      }
      assert.equal(c.agents.defaults.model.primary, `${spec.llm[0]?.name}/${spec.llm[0]?.models[0]}`);
      assert.equal(c.gateway.port, spec.agent.port);
      const tg = spec.messengers.telegram;
      if (tg) {
        assert.equal(c.channels.telegram.apiRoot, `${origin}/telegram`);
        assert.deepEqual(c.channels.telegram.allowFrom, tg.allowFrom.map(String));
        assert.equal(c.channels.telegram.network, undefined, "no dangerouslyAllowPrivateNetwork");
      } else {
        assert.equal(c.channels, undefined);
        assert.equal(c.commands.ownerAllowFrom, undefined);
      }
      assertNoPlantedSecret(renderOpenclawConfig(spec)[0]?.content ?? "");
    });

    it(`${name}: string credentials never appear; only SecretRef objects`, () => {
      const secrets: unknown[] = [];
      const walk = (v: unknown, key = ""): void => {
        if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
        else if (/token|key|password|secret/i.test(key)) secrets.push(v);
      };
      walk(configOf(make()));
      assert.deepEqual(secrets, []);
    });

    it(`${name}: byte-identical across renders, in a stable key order`, () => {
      assert.equal(renderOpenclawConfig(make())[0]?.content, renderOpenclawConfig(make())[0]?.content);
      assert.deepEqual(Object.keys(configOf(make())), Object.keys(openclawConfig(make())));
    });
  }

  it("allowChats turns groups on for exactly those chats, senders still allowlisted", () => {
    const tg = configOf(AGENT_SPECS.manyProviders()).channels.telegram;
    assert.equal(tg.groupPolicy, "allowlist");
    assert.deepEqual(tg.groups, { "-1001234567890": { requireMention: true } });
    assert.deepEqual(tg.groupAllowFrom, ["111", "222"]);
    assert.deepEqual(tg.allowFrom, ["111", "222"]);
  });

  it("primary model follows the first provider; the gateway port follows agent.port", () => {
    const c = configOf(AGENT_SPECS.manyProviders());
    assert.equal(c.agents.defaults.model.primary, "claude/claude-sonnet-4-6");
    assert.equal(c.gateway.port, 19000);
    assert.equal(c.models.providers.gem.api, "google-generative-ai");
    assert.equal(c.models.providers.claude.api, "anthropic-messages");
  });
});
