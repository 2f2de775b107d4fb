// Secrets are read only where they are used (gateway, host apply, deploy) and never rendered.

import { readFileSync } from "node:fs";
import { MoatError } from "../errors.js";
import type { MoatSpec, SecretRef } from "./schema.js";

export class SecretUnavailable extends MoatError {
  override readonly name = "SecretUnavailable";
  readonly code = "MOAT_SECRET_UNAVAILABLE";
}

export function readSecret(field: string, ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if ("env" in ref) {
    const value = env[ref.env];
    if (!value) throw new SecretUnavailable(`${field}: environment variable ${ref.env} is not set`);
    return value;
  }
  try {
    const value = readFileSync(ref.file, "utf8").trim();
    if (!value) throw new SecretUnavailable(`${field}: file ${ref.file} is empty`);
    return value;
  } catch (err) {
    if (err instanceof SecretUnavailable) throw err;
    throw new SecretUnavailable(`${field}: cannot read ${ref.file} (${(err as NodeJS.ErrnoException).code})`);
  }
}

// The fields of moat.yaml that hold a secret reference, named as errors and reports print them.
export const llmApiKeyField = (i: number) => `llm[${i}].apiKey`;
export const TELEGRAM_BOT_TOKEN_FIELD = "messengers.telegram.botToken";
export const TAILSCALE_AUTH_KEY_FIELD = "access.tailscale.authKey";

export interface SecretField {
  field: string;
  // Where the field sits in moat.yaml.
  yamlPath: (string | number)[];
  ref: SecretRef;
  // Who reads it on the VM: the gateway, or only host apply (Tailscale's key, for tailscaled).
  reader: "gateway" | "host";
}

// Every secret the spec references, by the field that references it.
export function secretFields(spec: MoatSpec): SecretField[] {
  const out: SecretField[] = spec.llm.map((p, i) => ({
    field: llmApiKeyField(i),
    yamlPath: ["llm", i, "apiKey"],
    ref: p.apiKey,
    reader: "gateway",
  }));
  if (spec.messengers.telegram)
    out.push({
      field: TELEGRAM_BOT_TOKEN_FIELD,
      yamlPath: ["messengers", "telegram", "botToken"],
      ref: spec.messengers.telegram.botToken,
      reader: "gateway",
    });
  if (spec.access.tailscale)
    out.push({
      field: TAILSCALE_AUTH_KEY_FIELD,
      yamlPath: ["access", "tailscale", "authKey"],
      ref: spec.access.tailscale.authKey,
      reader: "host",
    });
  return out;
}
