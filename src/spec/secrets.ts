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

// Every secret the spec references, by the field that references it.
export function secretFields(spec: MoatSpec): { field: string; ref: SecretRef }[] {
  const out: { field: string; ref: SecretRef }[] = [];
  spec.llm.forEach((p, i) => {
    out.push({ field: `llm[${i}].apiKey`, ref: p.apiKey });
  });
  if (spec.messengers.telegram)
    out.push({ field: "messengers.telegram.botToken", ref: spec.messengers.telegram.botToken });
  if (spec.access.tailscale)
    out.push({ field: "access.tailscale.authKey", ref: spec.access.tailscale.authKey });
  return out;
}
