// The agent's Compose file, for rootless Docker on the VM. The container can write only to its
// noexec tmpfs paths and named volumes, holds no capability, and reaches the network only
// through the gateway (the host firewall enforces that; the proxy env makes clients cooperate).
import { Document, visit } from "yaml";
import { agentUidGid, gatewayOrigin, localImageName } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { GATEWAY_TOKEN_ENV, placeholderCredentials } from "./agent-env.js";
import type { Artifact } from "./artifact.js";
import {
  OPENCLAW_CONFIG_IN_CONTAINER,
  OPENCLAW_CONFIG_ON_VM,
  OPENCLAW_VOLUMES,
  OPENCLAW_WRITABLE_PATHS,
} from "./openclaw.js";
import { SECRETS_DIR } from "./paths.js";
import { SECCOMP_ON_VM } from "./seccomp.js";

export const COMPOSE_PATH = "compose/compose.yaml";
// Host apply writes OPENCLAW_GATEWAY_TOKEN=<value> here and passes it with `--env-file`.
export const AGENT_COMPOSE_ENV_FILE = `${SECRETS_DIR}/agent-compose.env`;
const AGENT_SERVICE = "agent";
export const agentContainerName = (spec: MoatSpec) => `moat-${spec.name}-agent`;
// The Compose project (its volumes are named after it). Named on Compose's command line, not in
// the file: Debian 12's Compose v1 refuses a top-level `name`.
export const composeProject = (spec: MoatSpec) => `moat-${spec.name}`;

const UNIT_MIB: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024 };
export function sizeInMib(size: string): number {
  const unit = size.slice(-1).toLowerCase();
  return Number(size.slice(0, -1)) * (UNIT_MIB[unit] ?? Number.NaN);
}

// V8 ignores cgroup limits; a heap cap below the memory limit makes Node fail as itself rather
// than be OOM-killed (openclaw.md §2.2: 1536 MiB heap in a 2 GiB container).
export const heapLimitMib = (spec: MoatSpec) => Math.floor(sizeInMib(spec.agent.memory) * 0.75);

// Compose interpolates `$` in values from the host environment; user values must stay literal.
const literal = (v: string) => v.replaceAll("$", "$$$$");

function environment(spec: MoatSpec): Record<string, string> {
  const proxy = gatewayOrigin(spec);
  const moat: Record<string, string> = {
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    // Empty on purpose: any entry would be a way around the gateway.
    NO_PROXY: "",
    no_proxy: "",
    NODE_USE_ENV_PROXY: "1",
    ...placeholderCredentials(spec),
  };
  if (spec.agent.profile === "openclaw") {
    Object.assign(moat, {
      OPENCLAW_CONFIG_PATH: OPENCLAW_CONFIG_IN_CONTAINER,
      OPENCLAW_OFFLINE: "1",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_NO_AUTO_UPDATE: "1",
      NODE_OPTIONS: `--max-old-space-size=${heapLimitMib(spec)}`,
    });
  }
  const env: Record<string, string> = {};
  // Moat's values win over agent.env: they are the security settings.
  for (const [k, v] of Object.entries({ ...spec.agent.env, ...moat })) env[k] = literal(v);
  if (spec.agent.profile === "openclaw") {
    // The agent's own API token is not rendered: Compose fills it in at `up` time from the env file
    // host apply writes, and refuses to start without it.
    env[GATEWAY_TOKEN_ENV] = `\${${GATEWAY_TOKEN_ENV}:?written by moat host apply}`;
  }
  return Object.fromEntries(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function mounts(spec: MoatSpec) {
  const openclaw = spec.agent.profile === "openclaw";
  const volumes = openclaw ? OPENCLAW_VOLUMES : (spec.agent.volumes ?? []);
  const writable = openclaw ? OPENCLAW_WRITABLE_PATHS : (spec.agent.writablePaths ?? []);
  // Owned by the agent's uid: Docker mounts a tmpfs root-owned 0755 (only /tmp gets 1777), which
  // the non-root agent cannot write (OpenClaw stops at start-up without its ~/.cache).
  const { uid, gid } = agentUidGid(spec);
  const tmpfsOptions = `noexec,nosuid,nodev,size=${spec.hardening.tmpfsSize},uid=${uid},gid=${gid},mode=0700`;
  const service = [
    ...volumes.map((v) => ({ type: "volume", source: v.name, target: v.path })),
    // The only host path in the container, read-only: the agent must not rewrite its own allowlist.
    ...(openclaw
      ? [
          {
            type: "bind",
            source: OPENCLAW_CONFIG_ON_VM,
            target: OPENCLAW_CONFIG_IN_CONTAINER,
            read_only: true,
          },
        ]
      : []),
  ];
  return {
    tmpfs: writable.map((path) => `${path}:${tmpfsOptions}`),
    service,
    named: Object.fromEntries(volumes.map((v) => [v.name, {}])),
  };
}

// Raw TCP rather than fetch: with NODE_USE_ENV_PROXY and an empty NO_PROXY, fetch would send the
// probe to the gateway instead of the agent.
const healthProbe = (port: number) =>
  `const s=require("node:net").connect(${port},"127.0.0.1",()=>s.end("GET /healthz HTTP/1.0\\r\\n\\r\\n"));` +
  `let b="";s.on("data",d=>b+=d);s.on("end",()=>process.exit(/^HTTP\\/1\\.[01] 200/.test(b)?0:1));` +
  `s.on("error",()=>process.exit(1))`;

function composeModel(spec: MoatSpec) {
  const { uid, gid } = agentUidGid(spec);
  const m = mounts(spec);
  const openclaw = spec.agent.profile === "openclaw";
  const agent = {
    image: localImageName(spec.agent.image),
    container_name: agentContainerName(spec),
    ...(spec.agent.command && { command: spec.agent.command }),
    user: `${uid}:${gid}`,
    init: true,
    restart: "unless-stopped",
    read_only: true,
    cap_drop: ["ALL"],
    security_opt: ["no-new-privileges:true", `seccomp=${SECCOMP_ON_VM}`],
    pids_limit: spec.hardening.pids,
    mem_limit: spec.agent.memory,
    memswap_limit: spec.agent.memory,
    cpus: spec.agent.cpus,
    ulimits: { nofile: { soft: spec.hardening.nofile, hard: spec.hardening.nofile } },
    tmpfs: m.tmpfs,
    ...(m.service.length && { volumes: m.service }),
    ports: [`127.0.0.1:${spec.agent.port}:${spec.agent.port}`],
    environment: environment(spec),
    ...(openclaw && {
      healthcheck: {
        test: ["CMD", "node", "-e", healthProbe(spec.agent.port)],
        interval: "30s",
        timeout: "5s",
        retries: 3,
        start_period: "60s",
      },
    }),
    logging: { driver: "json-file", options: { "max-size": "10m", "max-file": "3" } },
  };
  return {
    services: { [AGENT_SERVICE]: agent },
    ...(Object.keys(m.named).length && { volumes: m.named }),
  };
}

export function renderCompose(spec: MoatSpec): Artifact[] {
  const doc = new Document(composeModel(spec));
  // YAML 1.1 parsers read 1000:1000 as a base-60 number; quote every colon-separated value.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === "string" && /^[\d.:]+$/.test(node.value)) node.type = "QUOTE_DOUBLE";
    },
  });
  doc.commentBefore =
    " Rendered by Moat from moat.yaml; do not edit. Holds no secret: OPENCLAW_GATEWAY_TOKEN comes\n" +
    ` from ${AGENT_COMPOSE_ENV_FILE} at apply time, every other credential is a placeholder.\n` +
    ` Project ${composeProject(spec)}: pass \`-p ${composeProject(spec)}\` to Compose (as host apply does).`;
  return [{ kind: "compose", path: COMPOSE_PATH, content: doc.toString({ lineWidth: 0 }), mode: 0o644 }];
}
