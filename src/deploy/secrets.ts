// Secrets for deploy: read on the operator's machine from their `{ env }` / `{ file }`
// references, delivered to files under /etc/moat-secrets on the VM after boot, and the spec the VM
// receives points at those files. No secret goes into Terraform, user_data or a rendered file.
import { parseDocument } from "yaml";
import { SECRETS_DIR } from "../render/paths.js";
import type { MoatSpec } from "../spec/schema.js";
import { readSecret, SecretUnavailable, secretFields } from "../spec/secrets.js";

// The file host apply's access step keeps Tailscale's key in (src/host/steps/tailscale.ts): the
// deployed key goes straight there, root only, so the gateway's group never gets a copy.
export const TAILSCALE_KEY_ON_VM = `${SECRETS_DIR}/tailscale-authkey`;

export interface SecretPlacement {
  field: string;
  // Where the field sits in moat.yaml.
  yamlPath: (string | number)[];
  vmPath: string;
  // The gateway's secrets are readable by its group; Tailscale's key by root only.
  forGateway: boolean;
}

export function secretPlacements(spec: MoatSpec): SecretPlacement[] {
  const out: SecretPlacement[] = spec.llm.map((p, i) => ({
    field: `llm[${i}].apiKey`,
    yamlPath: ["llm", i, "apiKey"],
    vmPath: `${SECRETS_DIR}/llm-${p.name.replace(/[^A-Za-z0-9_.-]/g, "_")}-api-key`,
    forGateway: true,
  }));
  if (spec.messengers.telegram)
    out.push({
      field: "messengers.telegram.botToken",
      yamlPath: ["messengers", "telegram", "botToken"],
      vmPath: `${SECRETS_DIR}/telegram-bot-token`,
      forGateway: true,
    });
  if (spec.access.tailscale)
    out.push({
      field: "access.tailscale.authKey",
      yamlPath: ["access", "tailscale", "authKey"],
      vmPath: TAILSCALE_KEY_ON_VM,
      forGateway: false,
    });
  const known = new Set(out.map((p) => p.field));
  const missed = secretFields(spec).filter((f) => !known.has(f.field));
  if (missed.length) throw new Error(`deploy has no place for ${missed.map((f) => f.field).join(", ")}`);
  return out;
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
