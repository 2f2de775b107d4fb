// The moat.yaml that `moat init` writes: commented, complete, and valid for its target.
// Pure, so the tests can check every combination parses.
import type { LlmKind, MoatSpec } from "./schema.js";
import { secretFields } from "./secrets.js";

export interface InitAnswers {
  name: string;
  target: "oci" | "aws" | "ssh" | "lab";
  region?: string;
  sshHost?: string;
  sshUser?: string;
  llmKind: LlmKind;
  model: string;
  llmBaseUrl?: string;
  telegramUserId?: number;
  tailscale: boolean;
  // CIDRs that may reach public SSH: on a cloud, the address deploy connects from.
  allowFrom?: string[];
}

export const DEFAULT_MODELS: Record<LlmKind, string> = {
  anthropic: "claude-sonnet-4-6",
  openai: "gpt-5.4",
  "openai-compatible": "my-model",
  gemini: "gemini-2.5-pro",
  openrouter: "anthropic/claude-sonnet-4.6",
};

const KEY_ENV: Record<LlmKind, string> = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
  "openai-compatible": "LLM_API_KEY",
  gemini: "GEMINI_API_KEY",
  openrouter: "OPENROUTER_API_KEY",
};

export const defaultAnswers = (target: InitAnswers["target"] = "lab"): InitAnswers => ({
  name: "my-agent",
  target,
  region: target === "oci" ? "eu-frankfurt-1" : target === "aws" ? "eu-central-1" : undefined,
  sshHost: target === "ssh" ? "agent.example.com" : undefined,
  sshUser: target === "ssh" ? "ubuntu" : undefined,
  llmKind: "openai",
  model: DEFAULT_MODELS.openai,
  telegramUserId: 123456789,
  tailscale: target !== "lab",
});

function targetBlock(a: InitAnswers): string {
  switch (a.target) {
    case "oci":
      return `target:
  kind: oci
  region: ${a.region ?? "eu-frankfurt-1"}
  # Always Free A1 was halved in 2026: 2 OCPUs and 12 GB.
  ocpus: 2
  memoryGb: 12`;
    case "aws":
      return `target:
  kind: aws
  region: ${a.region ?? "eu-central-1"}
  # Free-tier eligible, arm64. Launched with standard CPU credits so it never bills by surprise.
  instanceType: t4g.small`;
    case "ssh":
      return `target:
  kind: ssh
  host: ${a.sshHost ?? "agent.example.com"}
  user: ${a.sshUser ?? "ubuntu"}
  port: 22`;
    case "lab":
      return `target:
  kind: lab
  # Imitate OCI's metadata service and firewall (or aws).
  flavour: oci`;
  }
}

function allowFromBlock(a: InitAnswers): string {
  const cidrs = a.allowFrom ?? [];
  if (!cidrs.length)
    return "  # CIDRs allowed to reach public SSH. Empty: no public SSH once deployed.\n  allowFrom: []";
  return `  # CIDRs allowed to reach public SSH: the cloud firewall opens port 22 to these only, and deploy
  # connects over SSH before Tailscale is up (it refuses a cloud target with this list empty).
  allowFrom: [${cidrs.map((c) => JSON.stringify(c)).join(", ")}]`;
}

export function exampleSpecYaml(a: InitAnswers): string {
  const keyEnv = KEY_ENV[a.llmKind];
  const baseUrl =
    a.llmKind === "openai-compatible" ? `\n    baseUrl: ${a.llmBaseUrl ?? "https://llm.example.com/v1"}` : "";
  const telegram =
    a.telegramUserId !== undefined
      ? `messengers:
  telegram:
    botToken: { env: TELEGRAM_BOT_TOKEN }
    # Numeric Telegram user ids. The gateway drops everyone else before the agent sees them.
    allowFrom: [${a.telegramUserId}]
`
      : "";
  const tailscale = a.tailscale
    ? `  tailscale:
    # Read from a file on the VM at apply time; never on a command line.
    authKey: { env: TS_AUTHKEY }
    hostname: ${a.name}
    tags: ["tag:agent"]
    serve: true
    ssh: true
`
    : "";
  return `# moat.yaml — one description of the deployment; every artifact is rendered from it.
# Secrets are references ({ env: NAME } or { file: PATH }), never values. See .env.example.
# Reference: README.md#configuration-reference, or \`moat schema\` for editor completion.
version: 1
name: ${a.name}

${targetBlock(a)}

agent:
  profile: openclaw
  # Pinned: \`latest\` is refused.
  image: ghcr.io/openclaw/openclaw:2026.9.6
  port: 18789
  memory: 2g
  cpus: 1

access:
${tailscale}${allowFromBlock(a)}

${telegram}
# The agent holds only placeholders; the gateway injects the real key on the way out.
llm:
  - name: main
    kind: ${a.llmKind}
    apiKey: { env: ${keyEnv} }${baseUrl}
    models: [${JSON.stringify(a.model)}]
    budget: { dailyUsd: 5 }

egress:
  # Domains the agent may reach through the gateway, besides what llm and messengers imply.
  allow: []
  # enforce refuses unlisted domains; report lets them through and logs them.
  mode: enforce
`;
}

export function envExample(spec: MoatSpec): string {
  const lines = [
    "# Secrets referenced by moat.yaml. Fill in, keep out of git, and `set -a; . ./.env` before moat.",
  ];
  for (const { field, ref } of secretFields(spec)) {
    if ("env" in ref) lines.push(`# ${field}`, `${ref.env}=`);
    else lines.push(`# ${field} is read from ${ref.file}`);
  }
  return `${lines.join("\n")}\n`;
}
