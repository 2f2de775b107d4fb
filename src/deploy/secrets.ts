// Secrets for deploy: read on the operator's machine from their `{ env }` / `{ file }`
// references, delivered to files under /etc/moat-secrets on the VM after boot, and the spec the VM
// receives points at those files. No secret goes into Terraform, user_data or a rendered file.
import { parseDocument } from "yaml";
import { SECRETS_DIR, TAILSCALE_AUTHKEY_FILE } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import {
  llmApiKeyField,
  readSecret,
  type SecretField,
  SecretUnavailable,
  secretFields,
  TAILSCALE_AUTH_KEY_FIELD,
  TELEGRAM_BOT_TOKEN_FIELD,
} from "../spec/secrets.js";

export interface SecretPlacement {
  field: string;
  // Where the field sits in moat.yaml.
  yamlPath: (string | number)[];
  vmPath: string;
  // The gateway's secrets are readable by its group; Tailscale's key by root only.
  forGateway: boolean;
}

export function secretPlacements(spec: MoatSpec): SecretPlacement[] {
  return secretFields(spec).map((f) => ({
    field: f.field,
    yamlPath: f.yamlPath,
    vmPath: vmPathOf(spec, f),
    forGateway: f.reader === "gateway",
  }));
}

function vmPathOf(spec: MoatSpec, f: SecretField): string {
  if (f.field === TELEGRAM_BOT_TOKEN_FIELD) return `${SECRETS_DIR}/telegram-bot-token`;
  // Straight to the file host apply's access step reads, root only: the gateway's group never
  // gets a copy.
  if (f.field === TAILSCALE_AUTH_KEY_FIELD) return TAILSCALE_AUTHKEY_FILE;
  const llm = spec.llm.find((_, i) => llmApiKeyField(i) === f.field);
  if (llm) return `${SECRETS_DIR}/llm-${llm.name.replace(/[^A-Za-z0-9_.-]/g, "_")}-api-key`;
  throw new Error(`deploy has no place for ${f.field}`);
}

// The moat.yaml the VM gets: the operator's, with every secret reference turned into the VM file
// deploy writes it to. Comments and everything else are kept.
export function vmSpecText(specText: string, placements: readonly SecretPlacement[]): string {
  const doc = parseDocument(specText);
  for (const p of placements) doc.setIn(p.yamlPath, doc.createNode({ file: p.vmPath }, { flow: true }));
  return `# Installed by moat deploy: secret references point at the files it wrote under ${SECRETS_DIR}.\n${doc.toString()}`;
}

export interface DeploySecret extends SecretPlacement {
  value: string;
}

// Every secret, read now, so a missing one stops deploy before anything is created.
export function readDeploySecrets(spec: MoatSpec, env: NodeJS.ProcessEnv = process.env): DeploySecret[] {
  const refs = new Map(secretFields(spec).map((f) => [f.field, f.ref]));
  return secretPlacements(spec).map((p) => {
    const ref = refs.get(p.field);
    if (!ref) throw new Error(`no reference for ${p.field}`);
    const value = readSecret(p.field, ref, env);
    // One line per file, read back trimmed by the gateway and host apply.
    if (/[\r\n]/.test(value.trim()))
      throw new SecretUnavailable(`${p.field}: the secret spans several lines`);
    return { ...p, value: value.trim() };
  });
}
