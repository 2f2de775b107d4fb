// moat.yaml, version 1. Top-level names are user interface: extend, never rename.
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import { baseUrlRefusal, cidrTouchesUnopenable, classify } from "./addresses.js";

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const envRef = z
  .strictObject({ env: z.string().regex(ENV_NAME, "an environment variable name such as OPENAI_API_KEY") })
  .describe("Read the secret from this environment variable where it is used.");
const fileRef = z
  .strictObject({ file: z.string().min(1) })
  .describe("Read the secret from this file where it is used.");

const secretRef = z
  .union([envRef, fileRef], {
    error: (issue) =>
      typeof issue.input === "string"
        ? "a literal secret is refused here; write { env: NAME } or { file: PATH } instead"
        : "expected a secret reference: { env: NAME } or { file: PATH }",
  })
  .describe("A reference to a secret: { env: NAME } or { file: PATH }. Literal values are refused.");
export type SecretRef = z.infer<typeof secretRef>;

const cidr = z.string().refine((v) => ipaddr.isValidCIDR(v), "expected a CIDR such as 203.0.113.7/32");

// A pinned tag or a digest; `latest` and untagged references move under you.
const pinnedImage = z
  .string()
  .min(1)
  .superRefine((ref, ctx) => {
    if (/@sha256:[a-f0-9]{64}$/.test(ref)) return;
    const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
    const colon = lastSegment.indexOf(":");
    if (colon < 0) {
      ctx.addIssue({ code: "custom", message: `image "${ref}" has no tag; pin a version tag or a digest` });
      return;
    }
    const tag = lastSegment.slice(colon + 1);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) {
      ctx.addIssue({ code: "custom", message: `image "${ref}" has an invalid tag` });
    } else if (["latest", "main", "master", "stable", "edge", "nightly"].includes(tag.toLowerCase())) {
      ctx.addIssue({
        code: "custom",
        message: `image tag "${tag}" moves; pin a version tag or a digest`,
      });
    }
  })
  .describe("Container image pinned by version tag or by digest (`latest` is refused).");

const size = z
  .string()
  .regex(/^\d+(\.\d+)?[kmg]$/i, 'a size such as "512m" or "2g"')
  .describe("A size with a unit: k, m or g.");

const domainPattern = z
  .string()
  .transform((v) => v.toLowerCase())
  .refine(
    (v) => /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(v),
    "a domain such as api.example.com, or *.example.com for its subdomains",
  )
  .describe("A domain name, or *.suffix for every name under it.");

const OCI_DEFAULT_IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6";
export const OPENCLAW_VERSION = "2026.9.6";

const target = z
  .discriminatedUnion("kind", [
    z
      .strictObject({
        kind: z.literal("oci"),
        region: z.string().min(1).describe("OCI region, e.g. eu-frankfurt-1."),
        compartmentId: z
          .string()
          .startsWith("ocid1.")
          .optional()
          .describe("Compartment OCID; tenancy root if unset."),
        ocpus: z
          .number()
          .positive()
          .max(4)
          .default(2)
          .describe("A1.Flex OCPUs (Always Free allows 2 since 2026)."),
        memoryGb: z.number().positive().max(24).default(12).describe("A1.Flex memory in GB."),
        bootVolumeGb: z
          .number()
          .int()
          .min(50)
          .max(200)
          .default(50)
          .describe("Boot volume; OCI's minimum is 50 GB."),
        vcnId: z
          .string()
          .startsWith("ocid1.vcn.")
          .optional()
          .describe("Use an existing VCN instead of creating one."),
      })
      .describe("Oracle Cloud Ampere A1 (Always Free)."),
    z
      .strictObject({
        kind: z.literal("aws"),
        region: z.string().min(1).describe("AWS region, e.g. eu-central-1."),
        instanceType: z
          .string()
          .default("t4g.small")
          .describe("Free-tier eligible type; arm64 t4g by default."),
        volumeGb: z.number().int().min(8).max(30).default(20).describe("Root EBS volume (gp3, encrypted)."),
      })
      .describe("AWS free tier."),
    z
      .strictObject({
        kind: z.literal("ssh"),
        host: z.string().min(1).describe("Host name or address of an existing Ubuntu/Debian machine."),
        user: z.string().min(1).default("root").describe("SSH user with root or sudo."),
        port: z.number().int().min(1).max(65535).default(22),
        identityFile: z.string().optional().describe("Private key for SSH; the agent's default if unset."),
      })
      .describe("Any Ubuntu or Debian host reached over SSH."),
    z
      .strictObject({
        kind: z.literal("lab"),
        flavour: z
          .enum(["oci", "aws"])
          .default("oci")
          .describe("Which cloud's metadata service the lab imitates."),
      })
      .describe("A simulated cloud VM on this Linux machine (network namespaces)."),
  ])
  .describe("Where the agent runs.");

const volume = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, "a volume name of lowercase letters, digits, _ and -")
    .describe("Docker named volume."),
  path: z
    .string()
    .startsWith("/", "an absolute path inside the container")
    .describe("Mount point in the container."),
});

const SECRETISH_ENV = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/;

const agent = z
  .strictObject({
    profile: z
      .enum(["openclaw", "custom"])
      .default("openclaw")
      .describe(
        "openclaw renders OpenClaw's config and mounts; custom runs any image with what you declare.",
      ),
    image: pinnedImage.default(OCI_DEFAULT_IMAGE),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(18789)
      .describe("The agent's API port, published on 127.0.0.1."),
    memory: size.default("2g").describe("Memory limit of the agent container."),
    cpus: z.number().positive().max(64).default(1).describe("CPU limit of the agent container."),
    user: z
      .string()
      .regex(/^\d+:\d+$/, "uid:gid, numeric and not 0")
      .refine((v) => !v.startsWith("0:"), "the agent never runs as root")
      .default("1000:1000")
      .describe("uid:gid the agent runs as inside its container; never 0."),
    command: z.array(z.string()).optional().describe("Override the image's command."),
    env: z
      .record(z.string().regex(ENV_NAME, "an environment variable name"), z.string())
      .default({})
      .describe(
        "Plain, non-secret environment for the agent. Secrets go to llm/messengers, held by the gateway.",
      ),
    volumes: z.array(volume).optional().describe("Named volumes; the openclaw profile declares its own."),
    writablePaths: z
      .array(z.string().startsWith("/"))
      .optional()
      .describe("Extra paths mounted as noexec tmpfs on the read-only root."),
  })
  .superRefine((a, ctx) => {
    for (const name of Object.keys(a.env)) {
      if (SECRETISH_ENV.test(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["env", name],
          message: `${name} looks like a secret; the agent never holds real secrets — declare it under llm or messengers so the gateway injects it`,
        });
      }
    }
    for (const key of ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]) {
      if (key in a.env) {
        ctx.addIssue({
          code: "custom",
          path: ["env", key],
          message: `${key} is set by Moat to force the gateway`,
        });
      }
    }
  })
  .describe("The agent container.");

const tailscale = z
  .strictObject({
    authKey: secretRef.describe(
      "Tailscale auth key (or OAuth client secret), read from a file at apply time.",
    ),
    hostname: z
      .string()
      .regex(/^[a-z0-9-]{1,63}$/)
      .optional()
      .describe("Tailscale machine name; the deployment name if unset."),
    tags: z
      .array(z.string().regex(/^tag:[a-z0-9-]+$/, "a tag such as tag:agent"))
      .default(["tag:agent"])
      .describe("ACL tags the node advertises; grant tag:agent nothing in your tailnet policy."),
    serve: z
      .boolean()
      .default(true)
      .describe("Expose the agent's port to the tailnet with `tailscale serve`."),
    ssh: z.boolean().default(true).describe("Enable Tailscale SSH."),
  })
  .describe("Private access over Tailscale, with no inbound port.");

const access = z
  .strictObject({
    tailscale: tailscale.optional(),
    allowFrom: z
      .array(cidr)
      .default([])
      .describe("CIDRs allowed to reach public SSH; empty means none once deployed."),
    sshUsers: z
      .array(z.string().regex(/^[a-z_][a-z0-9_-]*$/))
      .optional()
      .describe("sshd AllowUsers; the target's login user if unset."),
  })
  .default({ allowFrom: [] })
  .describe("How you reach the VM and the agent.");

const telegram = z
  .strictObject({
    botToken: secretRef.describe("The bot's real token; only the gateway reads it."),
    allowFrom: z
      .array(z.number().int().positive())
      .min(
        1,
        "Telegram is configured but its allowlist is empty; list the numeric user ids allowed to talk to the agent",
      )
      .describe("Numeric Telegram user ids allowed to talk to the agent."),
    allowChats: z
      .array(z.number().int())
      .default([])
      .describe("Group or channel chat ids the agent may read and write."),
  })
  .describe("Telegram, relayed by the gateway, which drops strangers before the agent sees them.");

export const LLM_KINDS = ["anthropic", "openai", "openai-compatible", "gemini", "openrouter"] as const;
// `llm[].allowPaths` entries: "METHOD /path" under the provider's base URL, `*` one path segment.
export const ALLOW_PATH_PATTERN = /^(GET|POST|PUT|PATCH|DELETE) (\/[A-Za-z0-9\-._~:@*/]*)$/;

const llmProvider = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, "a short lowercase name such as main or claude"),
    kind: z.enum(LLM_KINDS).describe("API shape and credential header."),
    apiKey: secretRef.describe("The real API key; only the gateway reads it."),
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe("The provider's API root; required for openai-compatible."),
    models: z
      .array(z.string().min(1))
      .min(1, "list at least one model")
      .describe("Model ids; the first is the default. The gateway forwards calls for these exact ids only."),
    allowPaths: z
      .array(
        z.string().regex(ALLOW_PATH_PATTERN, 'METHOD /path, such as "POST /embeddings"; * is one segment'),
      )
      .optional()
      .describe(
        "Provider endpoints besides inference the agent may call with the real key (files, batches, …); closed by default.",
      ),
    budget: z
      .strictObject({
        dailyUsd: z.number().positive().describe("Spend cap per UTC day; then the gateway answers 429."),
      })
      .optional(),
    prices: z
      .record(
        z.string(),
        z.strictObject({
          inputPerMTok: z.number().min(0),
          outputPerMTok: z.number().min(0),
          maxOutputTokens: z.number().int().positive().optional(),
        }),
      )
      .optional()
      .describe(
        "USD per million tokens by exact model id, overriding the built-in table; a model in neither is refused.",
      ),
  })
  .superRefine((p, ctx) => {
    if (p.kind === "openai-compatible" && !p.baseUrl) {
      ctx.addIssue({
        code: "custom",
        path: ["baseUrl"],
        message: "openai-compatible providers need a baseUrl",
      });
    }
  });

const egress = z
  .strictObject({
    allow: z
      .array(domainPattern)
      .default([])
      .describe("Extra domains the agent may reach through the gateway."),
    allowCidrs: z
      .array(
        cidr.superRefine((v, ctx) => {
          const row = cidrTouchesUnopenable(v);
          if (row)
            ctx.addIssue({
              code: "custom",
              message: `${v} overlaps ${row.cidr} (${row.class}), which never opens`,
            });
        }),
      )
      .default([])
      .describe("Private ranges the agent may reach (a local model server). Never link-local or metadata."),
    mode: z
      .enum(["enforce", "report"])
      .default("enforce")
      .describe("report lets unlisted domains through and logs them."),
    connectPorts: z
      .array(z.number().int().min(1).max(65535))
      .default([443])
      .describe("Ports allowed for CONNECT."),
    httpPorts: z
      .array(z.number().int().min(1).max(65535))
      .default([80])
      .describe("Ports allowed for plain HTTP."),
    plainConnectPorts: z
      .array(z.number().int().min(1).max(65535))
      .default([])
      .describe(
        "CONNECT ports that carry no TLS (ssh on 22); tunnels there are not checked for SNI. Every other CONNECT port must start with a ClientHello naming the CONNECT host.",
      ),
    echAllow: z
      .array(domainPattern)
      .default([])
      .describe(
        "Names a ClientHello may offer Encrypted Client Hello to; ECH hides the name a shared edge routes by, so it is refused elsewhere.",
      ),
  })
  .superRefine((e, ctx) => {
    e.plainConnectPorts.forEach((port, i) => {
      if (!e.connectPorts.includes(port))
        ctx.addIssue({
          code: "custom",
          path: ["plainConnectPorts", i],
          message: `port ${port} is not in egress.connectPorts`,
        });
    });
  })
  .default({
    allow: [],
    allowCidrs: [],
    mode: "enforce",
    connectPorts: [443],
    httpPorts: [80],
    plainConnectPorts: [],
    echAllow: [],
  })
  .describe("What the agent may reach through the gateway.");

const gateway = z
  .strictObject({
    address: z
      .string()
      .refine((v) => isIP(v) === 4, "an IPv4 address")
      .default("198.18.0.1")
      .describe("Where the gateway listens for the agent: a dummy interface address, never a public one."),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(3128)
      .describe("Where the gateway listens for the agent."),
    metricsPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(9464)
      .describe("Prometheus metrics, on 127.0.0.1."),
  })
  .superRefine((g, ctx) => {
    const c = classify(g.address);
    if (c.row?.backstopFirst || c.class === "public" || c.class === "loopback") {
      ctx.addIssue({
        code: "custom",
        path: ["address"],
        message: `${g.address} is ${c.class}; pick an address outside the ranges the agent is always refused, e.g. 198.18.0.1`,
      });
    }
  })
  .default({ address: "198.18.0.1", port: 3128, metricsPort: 9464 })
  .describe("The egress gateway: the agent's only way out; holds the real secrets.");

const hardening = z
  .strictObject({
    pids: z.number().int().min(16).max(32768).default(256).describe("Process limit for the agent container."),
    seccomp: z
      .enum(["moat", "docker-default"])
      .default("moat")
      .describe("moat is Docker's default minus what agents never need."),
    tmpfsSize: size.default("64m").describe("Size of each noexec tmpfs."),
    nofile: z.number().int().min(256).max(1048576).default(4096),
  })
  .default({ pids: 256, seccomp: "moat", tmpfsSize: "64m", nofile: 4096 })
  .describe("Container hardening knobs; read-only root and no capabilities are not optional.");

// Moat creates these users itself with fixed ids, so every rendered rule can name them.
const host = z
  .strictObject({
    agentUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/)
      .default("moat-agent"),
    agentUid: z.number().int().min(1000).max(59999).default(2000),
    gatewayUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/)
      .default("moat-gateway"),
    gatewayUid: z.number().int().min(1000).max(59999).default(2001),
    subidStart: z
      .number()
      .int()
      .min(100000)
      .default(1000000)
      .describe("First subordinate uid/gid of the agent user's rootless Docker range."),
    subidCount: z.number().int().min(65536).default(65536),
  })
  .superRefine((h, ctx) => {
    if (h.agentUid === h.gatewayUid)
      ctx.addIssue({ code: "custom", path: ["gatewayUid"], message: "must differ from agentUid" });
    if (h.agentUser === h.gatewayUser)
      ctx.addIssue({ code: "custom", path: ["gatewayUser"], message: "must differ from agentUser" });
  })
  .default({
    agentUser: "moat-agent",
    agentUid: 2000,
    gatewayUser: "moat-gateway",
    gatewayUid: 2001,
    subidStart: 1000000,
    subidCount: 65536,
  })
  .describe("Unix users Moat creates on the VM.");

export const moatSpec = z
  .strictObject({
    version: z.literal(1).describe("Schema version; always 1."),
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,30}$/,
        "a short lowercase name: letters, digits and -, starting with a letter",
      )
      .describe("Deployment name; names cloud resources and the Tailscale host."),
    target,
    agent: agent.default(agent.parse({})),
    access,
    messengers: z.strictObject({ telegram: telegram.optional() }).default({}).describe("Chat channels."),
    llm: z
      .array(llmProvider)
      .default([])
      .describe("LLM providers; the agent reaches each through the gateway."),
    egress,
    gateway,
    hardening,
    host,
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.llm.forEach((p, i) => {
      if (seen.has(p.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["llm", i, "name"],
          message: `provider name "${p.name}" is used twice`,
        });
      }
      seen.add(p.name);
      // Node dials an IP literal without a lookup, so the gateway's lookup screen never sees it.
      const refused = p.baseUrl && baseUrlRefusal(p.baseUrl, spec.egress.allowCidrs);
      if (refused) ctx.addIssue({ code: "custom", path: ["llm", i, "baseUrl"], message: refused });
    });
    if (spec.agent.profile === "custom" && !spec.agent.volumes && !spec.agent.writablePaths) {
      // A custom image on a read-only root with nowhere to write is a common first failure; say so early.
      ctx.addIssue({
        code: "custom",
        path: ["agent", "writablePaths"],
        message:
          "a custom agent runs on a read-only root; list its writable paths or volumes (an empty list is fine)",
      });
    }
  });

export type MoatSpec = z.infer<typeof moatSpec>;
export type LlmProvider = MoatSpec["llm"][number];
export type LlmKind = (typeof LLM_KINDS)[number];
