import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { COMPOSE_PATH, heapLimitMib, renderCompose, sizeInMib } from "../../src/render/compose.js";
import { SECCOMP_ON_VM } from "../../src/render/seccomp.js";
import { llmPlaceholder, TELEGRAM_PLACEHOLDER_TOKEN } from "../../src/spec/derive.js";
import type { MoatSpec } from "../../src/spec/schema.js";
import { AGENT_SPECS, assertNoPlantedSecret, plantSecrets } from "../support/agent-specs.js";

// biome-ignore lint/suspicious/noExplicitAny: a parsed Compose file is untyped YAML.
type Compose = any;
const compose = (spec: MoatSpec): Compose => parse(renderCompose(spec)[0]?.content ?? "");
const agentOf = (spec: MoatSpec) => compose(spec).services.agent;
const ALL = Object.entries(AGENT_SPECS);
// biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation, literally.
const TOKEN_REF = "${OPENCLAW_GATEWAY_TOKEN:?written by moat host apply}";

describe("compose renderer", () => {
  let restore: () => void;
  before(() => {
    restore = plantSecrets();
  });
  after(() => restore());

  it("renders the example as expected (key properties)", () => {
    const [a, ...rest] = renderCompose(AGENT_SPECS.example());
    assert.equal(rest.length, 0);
    assert.equal(a?.kind, "compose");
    assert.equal(a?.path, COMPOSE_PATH);
    const agent = agentOf(AGENT_SPECS.example());
    assert.equal(agent.image, "ghcr.io/openclaw/openclaw:2026.9.6");
    assert.equal(agent.user, "1000:1000");
    assert.deepEqual(agent.security_opt, ["no-new-privileges:true", `seccomp=${SECCOMP_ON_VM}`]);
    assert.deepEqual(agent.tmpfs, [
      "/tmp:noexec,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700",
      "/home/node/.cache:noexec,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700",
      "/home/node/.local:noexec,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700",
      "/home/node/.npm:noexec,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700",
    ]);
    assert.deepEqual(agent.volumes, [
      { type: "volume", source: "openclaw-state", target: "/home/node/.openclaw" },
      { type: "volume", source: "openclaw-auth", target: "/home/node/.config/openclaw" },
      {
        type: "bind",
        source: "/etc/moat/openclaw/openclaw.json",
        target: "/home/node/.openclaw/openclaw.json",
        read_only: true,
      },
    ]);
    assert.deepEqual(agent.ports, ["127.0.0.1:18789:18789"]);
    assert.deepEqual(agent.ulimits, { nofile: { soft: 4096, hard: 4096 } });
    assert.equal(agent.pids_limit, 256);
    assert.equal(agent.mem_limit, "2g");
    assert.equal(agent.cpus, 1);
    assert.deepEqual(agent.environment, {
      HTTPS_PROXY: "http://198.18.0.1:3128",
      HTTP_PROXY: "http://198.18.0.1:3128",
      MOAT_LLM_MAIN_API_KEY: "moat-placeholder-llm-main",
      NODE_OPTIONS: "--max-old-space-size=1536",
      NODE_USE_ENV_PROXY: "1",
      NO_PROXY: "",
      OPENAI_API_KEY: "moat-placeholder-llm-main",
      OPENCLAW_CONFIG_PATH: "/home/node/.openclaw/openclaw.json",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_GATEWAY_TOKEN: TOKEN_REF,
      OPENCLAW_NO_AUTO_UPDATE: "1",
      OPENCLAW_OFFLINE: "1",
      TELEGRAM_BOT_TOKEN: TELEGRAM_PLACEHOLDER_TOKEN,
      http_proxy: "http://198.18.0.1:3128",
      https_proxy: "http://198.18.0.1:3128",
      no_proxy: "",
    });
    assert.match(agent.healthcheck.test.join(" "), /GET \/healthz/);
    assert.deepEqual(compose(AGENT_SPECS.example()).volumes, { "openclaw-state": {}, "openclaw-auth": {} });
  });

  for (const [name, make] of ALL) {
    it(`${name}: the container boundary holds`, () => {
      const spec = make();
      assert.deepEqual(boundaryViolations(agentOf(spec), spec), []);
      assert.doesNotMatch(renderCompose(spec)[0]?.content ?? "", /docker\.sock/);
    });

    it(`${name}: forces the gateway as proxy and holds only placeholders`, () => {
      const spec = make();
      const env = agentOf(spec).environment;
      const origin = `http://${spec.gateway.address}:${spec.gateway.port}`;
      for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"])
        assert.equal(env[k], origin);
      assert.equal(env.NO_PROXY, "");
      assert.equal(env.no_proxy, "");
      assert.equal(env.NODE_USE_ENV_PROXY, "1");
      for (const p of spec.llm) assert.ok(Object.values(env).includes(llmPlaceholder(p)), p.name);
      assert.equal(env.TELEGRAM_BOT_TOKEN, spec.messengers.telegram ? TELEGRAM_PLACEHOLDER_TOKEN : undefined);
      assertNoPlantedSecret(renderCompose(spec)[0]?.content ?? "");
    });

    it(`${name}: is byte-identical across renders`, () => {
      assert.equal(renderCompose(make())[0]?.content, renderCompose(make())[0]?.content);
    });
  }

  it("negative control: the boundary check catches each way of breaking the boundary", () => {
    const spec = AGENT_SPECS.example();
    const breaks: [string, (a: Compose) => void][] = [
      ["writable root", (a) => delete a.read_only],
      ["capability", (a) => Object.assign(a, { cap_add: ["NET_ADMIN"] })],
      ["privileged", (a) => Object.assign(a, { privileged: true })],
      ["host network", (a) => Object.assign(a, { network_mode: "host" })],
      ["no seccomp", (a) => a.security_opt.pop()],
      ["root user", (a) => Object.assign(a, { user: "0:0" })],
      ["public port", (a) => a.ports.push("18789:18789")],
      ["exec tmpfs", (a) => a.tmpfs.push("/x:size=1m")],
      ["docker.sock", (a) => a.volumes.push({ type: "bind", source: "/run/docker.sock", target: "/s" })],
      ["writable config", (a) => delete a.volumes[2].read_only],
      ["no pids limit", (a) => delete a.pids_limit],
    ];
    for (const [what, breakIt] of breaks) {
      const agent = agentOf(spec);
      breakIt(agent);
      assert.notDeepEqual(boundaryViolations(agent, spec), [], what);
    }
  });

  it("negative control: the secret check catches a leaked value", () => {
    const content = renderCompose(AGENT_SPECS.example())[0]?.content ?? "";
    assert.throws(() => assertNoPlantedSecret(`${content}\nKEY: ${process.env.MOAT_TEST_OPENAI_KEY}`));
  });

  it("openclaw profile: hardening env, heap cap at 75% of memory, healthcheck on the agent port", () => {
    const spec = AGENT_SPECS.manyProviders();
    const agent = agentOf(spec);
    assert.equal(agent.environment.NODE_OPTIONS, `--max-old-space-size=${Math.floor(3072 * 0.75)}`);
    assert.equal(agent.environment.OPENCLAW_OFFLINE, "1");
    assert.deepEqual(agent.ports, ["127.0.0.1:19000:19000"]);
    assert.match(agent.healthcheck.test.at(-1), /connect\(19000,"127\.0\.0\.1"/);
    // One variable per provider; the first of a kind owns the conventional name.
    assert.equal(agent.environment.MOAT_LLM_OAI_2_API_KEY, "moat-placeholder-llm-oai-2");
    assert.equal(agent.environment.OPENAI_API_KEY, "moat-placeholder-llm-oai");
    assert.equal(agent.environment.ANTHROPIC_API_KEY, "moat-placeholder-llm-claude");
    assert.equal(agent.environment.GEMINI_API_KEY, "moat-placeholder-llm-gem");
    assert.deepEqual(Object.keys(agent.environment), [...Object.keys(agent.environment)].sort());
  });

  it("custom profile: its own paths, volumes, command and literal env; no OpenClaw settings", () => {
    const spec = AGENT_SPECS.custom();
    const agent = agentOf(spec);
    const file = compose(spec);
    assert.deepEqual(agent.tmpfs, [
      "/tmp:noexec,nosuid,nodev,size=64m,uid=10001,gid=10001,mode=0700",
      "/var/cache/agent:noexec,nosuid,nodev,size=64m,uid=10001,gid=10001,mode=0700",
    ]);
    assert.deepEqual(agent.volumes, [{ type: "volume", source: "agent-data", target: "/data" }]);
    assert.deepEqual(file.volumes, { "agent-data": {} });
    assert.deepEqual(agent.command, ["python", "-m", "agent"]);
    assert.equal(agent.user, "10001:10001");
    assert.equal(agent.healthcheck, undefined);
    assert.equal(agent.environment.GREETING, "cost $$5 ok", "a user's $ must not be interpolated by Compose");
    assert.equal(agent.environment.LOG_LEVEL, "debug");
    for (const k of Object.keys(agent.environment)) assert.doesNotMatch(k, /^OPENCLAW_/);
    const bare = agentOf(AGENT_SPECS.customBare());
    assert.deepEqual(bare.tmpfs, []);
    assert.equal(bare.volumes, undefined);
    assert.equal(compose(AGENT_SPECS.customBare()).volumes, undefined);
  });

  it("the gateway token is interpolated, never rendered, and the only interpolation", () => {
    for (const [, make] of ALL) {
      const content = renderCompose(make())[0]?.content ?? "";
      const refs = content.match(/(?<!\$)\$\{[^}]*\}/g) ?? [];
      const expected = make().agent.profile === "openclaw" ? [TOKEN_REF] : [];
      assert.deepEqual(refs, expected);
    }
  });

  it("quotes uid:gid so YAML 1.1 parsers do not read a base-60 number", () => {
    assert.match(renderCompose(AGENT_SPECS.example())[0]?.content ?? "", /user: "1000:1000"/);
  });

  // Debian 12's Compose v1 (1.29) refuses any other top-level key, `name` included ("'name' does
  // not match any of the regexes: '^x-'"); host apply names the project with -p instead.
  for (const [name, make] of ALL) {
    it(`${name}: only top-level keys Compose v1 reads, the project named in the header`, () => {
      const spec = make();
      for (const key of Object.keys(compose(spec))) assert.ok(["services", "volumes"].includes(key), key);
      assert.match(
        renderCompose(spec)[0]?.content ?? "",
        new RegExp(`^# Project moat-${spec.name}: pass`, "m"),
      );
    });
  }

  it("converts sizes to MiB", () => {
    assert.equal(sizeInMib("2g"), 2048);
    assert.equal(sizeInMib("512m"), 512);
    assert.equal(sizeInMib("1.5G"), 1536);
    assert.equal(sizeInMib("1024k"), 1);
    assert.equal(heapLimitMib(AGENT_SPECS.noTelegram()), 384);
  });
});

// Every way the agent's container could reach past its boundary, as a list of findings.
function boundaryViolations(agent: Compose, spec: MoatSpec): string[] {
  const found: string[] = [];
  const check = (ok: boolean, what: string) => ok || found.push(what);
  check(agent.read_only === true, "root filesystem is writable");
  check(JSON.stringify(agent.cap_drop) === '["ALL"]' && agent.cap_add === undefined, "capabilities");
  for (const k of ["privileged", "network_mode", "pid", "ipc", "devices", "userns_mode", "cgroup_parent"])
    check(agent[k] === undefined, k);
  check(agent.init === true, "no init");
  check(agent.security_opt?.includes("no-new-privileges:true"), "no-new-privileges");
  check(agent.security_opt?.includes(`seccomp=${SECCOMP_ON_VM}`), "seccomp");
  check(!/^0:|^root/.test(agent.user), "root user");
  check(agent.pids_limit === spec.hardening.pids, "pids limit");
  check(agent.mem_limit === spec.agent.memory && agent.memswap_limit === spec.agent.memory, "memory limit");
  check(agent.cpus === spec.agent.cpus, "cpu limit");
  check(agent.ulimits?.nofile?.hard === spec.hardening.nofile, "nofile");
  check(
    agent.logging?.driver === "json-file" && Boolean(agent.logging.options?.["max-size"]),
    "log rotation",
  );
  for (const p of agent.ports ?? []) check(/^127\.0\.0\.1:\d+:\d+$/.test(p), `port ${p}`);
  const size = spec.hardening.tmpfsSize;
  const [uid, gid] = agent.user.split(":");
  const tmpfsOptions = `:noexec,nosuid,nodev,size=${size},uid=${uid},gid=${gid},mode=0700`;
  for (const t of agent.tmpfs ?? []) check(t.endsWith(tmpfsOptions), `tmpfs ${t}`);
  for (const v of agent.volumes ?? []) {
    if (v.type === "volume") continue;
    check(v.source === "/etc/moat/openclaw/openclaw.json" && v.read_only === true, `host path ${v.source}`);
  }
  return found;
}
