// The lab's world, derived purely from the spec: the namespaces, the addresses of the simulated
// cloud (VCN router, metadata service and resolver, per flavour) and of the fake internet, the DNS
// zone the fake resolver serves, and the stand-in "real" secrets the lab hands the gateway (the
// fake providers accept only those, so a placeholder that leaked past the gateway would fail).
import { randomBytes } from "node:crypto";
import { TELEGRAM_API, upstreamBaseUrl } from "../spec/derive.js";
import type { MoatSpec } from "../spec/schema.js";
import { secretFields, TELEGRAM_BOT_TOKEN_FIELD } from "../spec/secrets.js";
import type { Flavour } from "./fakes/metadata.js";

export const METADATA = {
  oci: { v4: "169.254.169.254", v6: "fd00:c1::a9fe:a9fe", resolver: "169.254.169.254" },
  aws: { v4: "169.254.169.254", v6: "fd00:ec2::254", resolver: "169.254.169.253" },
} as const;

// Inside the lab's namespaces only; none of them is linked to this machine's namespace.
export const LAB_ADDRESSES = {
  vm: "10.0.0.2",
  router: "10.0.0.1",
  vmV6: "2001:db8:10::2",
  routerV6: "2001:db8:10::1",
  // Public-looking hosts of the fake internet, so the gateway's address table lets them through.
  llm: "93.184.216.10",
  telegram: "93.184.216.12",
  site: "93.184.215.14",
  unlisted: "93.184.215.99",
} as const;

// A host on the fake internet that no spec allowlists: what a prompt injection would try.
export const UNLISTED_SITE = "unlisted.example.net";

export interface LabWorld {
  name: string;
  flavour: Flavour;
  namespaces: { vm: string; cloud: string };
  metadata: { v4: string; v6: string; resolver: string };
  zone: Record<string, { A: string[] }>;
  tlsNames: string[];
}

// Namespace names are limited by the netns file name only, but interface names are not involved.
export const labNamespaces = (name: string) => ({
  vm: `moat-lab-${name}-vm`,
  cloud: `moat-lab-${name}-cloud`,
});

const hostOf = (url: string) => new URL(url).hostname;
const isIpLiteral = (host: string) => /^[\d.]+$/.test(host) || host.includes(":") || host.startsWith("[");

export function labWorld(spec: MoatSpec): LabWorld {
  const flavour: Flavour = spec.target.kind === "lab" ? spec.target.flavour : "oci";
  const zone: LabWorld["zone"] = {};
  for (const p of spec.llm) {
    const host = hostOf(upstreamBaseUrl(p));
    if (!isIpLiteral(host)) zone[host] = { A: [LAB_ADDRESSES.llm] };
  }
  if (spec.messengers.telegram) zone[hostOf(TELEGRAM_API)] = { A: [LAB_ADDRESSES.telegram] };
  for (const domain of spec.egress.allow) {
    if (!domain.startsWith("*.") && !zone[domain]) zone[domain] = { A: [LAB_ADDRESSES.site] };
  }
  zone[UNLISTED_SITE] = { A: [LAB_ADDRESSES.unlisted] };
  return {
    name: spec.name,
    flavour,
    namespaces: labNamespaces(spec.name),
    metadata: { ...METADATA[flavour] },
    zone,
    tlsNames: Object.keys(zone).sort(),
  };
}

// A value shaped like the real credential of each field (providers and Telegram check shapes).
function standInSecret(field: string): string {
  const hex = randomBytes(16).toString("hex");
  if (field === TELEGRAM_BOT_TOKEN_FIELD) return `7${randomBytes(4).readUInt32BE() % 1e9}:AA${hex}lab`;
  return `lab-${field.replace(/[^a-z0-9]+/gi, "-")}-${hex}`;
}

export function labSecrets(
  spec: MoatSpec,
): { field: string; ref: { env: string } | { file: string }; value: string }[] {
  return secretFields(spec).map(({ field, ref }) => ({ field, ref, value: standInSecret(field) }));
}
