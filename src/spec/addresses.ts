// The one address table. The gateway classifies with it, the nftables renderer writes its
// reject sets from it, the unit tests walk it, and `moat verify` probes its rows live.
// Model: stripe/smokescreen's classifyAddr, widened with the cloud metadata rows no SSRF
// library ships (IPv6 IMDS, Azure WireServer, Alibaba, ECS) — see peers-and-anchors.md §C.
import ipaddr from "ipaddr.js";

export type AddressClass =
  | "public"
  | "unspecified"
  | "loopback"
  | "link-local"
  | "metadata"
  | "private"
  | "cgnat"
  | "tailscale"
  | "unique-local"
  | "multicast"
  | "broadcast"
  | "reserved"
  | "benchmarking"
  | "documentation"
  | "ipv4-mapped"
  | "ipv4-compatible"
  | "nat64"
  | "6to4"
  | "teredo";

export interface AddressRow {
  cidr: string;
  family: 4 | 6;
  class: Exclude<AddressClass, "public">;
  note: string;
  // `egress.allowCidrs` may open rows marked openable (a local model server on a private range);
  // never link-local, metadata, loopback or an address that smuggles another one inside it.
  openable: boolean;
  // Rejected for the agent's UIDs ahead of every accept in the nftables backstop.
  backstopFirst: boolean;
}

const row = (
  cidr: string,
  cls: AddressRow["class"],
  note: string,
  opts: { openable?: boolean; backstopFirst?: boolean } = {},
): AddressRow => ({
  cidr,
  family: cidr.includes(":") ? 6 : 4,
  class: cls,
  note,
  openable: opts.openable ?? false,
  backstopFirst: opts.backstopFirst ?? false,
});

export const ADDRESS_TABLE: readonly AddressRow[] = [
  // IPv4
  row("0.0.0.0/8", "unspecified", "this network; 0.0.0.0 reaches the local host on Linux"),
  row("10.0.0.0/8", "private", "RFC 1918", { openable: true, backstopFirst: true }),
  row("100.64.0.0/10", "cgnat", "RFC 6598 shared space; Tailscale node addresses", {
    openable: true,
    backstopFirst: true,
  }),
  row("100.100.100.100/32", "tailscale", "Tailscale MagicDNS service address", { backstopFirst: true }),
  row("100.100.100.200/32", "metadata", "Alibaba Cloud instance metadata", { backstopFirst: true }),
  row("127.0.0.0/8", "loopback", "the host's own loopback"),
  row("169.254.0.0/16", "link-local", "link-local; OCI iSCSI, DNS, NTP live here", { backstopFirst: true }),
  row("169.254.169.254/32", "metadata", "OCI, AWS, GCP and Azure instance metadata (IMDS)", {
    backstopFirst: true,
  }),
  row("169.254.170.2/32", "metadata", "AWS ECS task metadata and credentials", { backstopFirst: true }),
  row("172.16.0.0/12", "private", "RFC 1918", { openable: true, backstopFirst: true }),
  row("192.0.0.0/24", "reserved", "IETF protocol assignments; 192.0.0.192 is OCI Classic metadata"),
  row("192.0.2.0/24", "documentation", "TEST-NET-1"),
  row("192.88.99.0/24", "6to4", "6to4 relay anycast (deprecated)", { backstopFirst: true }),
  row("192.168.0.0/16", "private", "RFC 1918", { openable: true, backstopFirst: true }),
  row("198.18.0.0/15", "benchmarking", "RFC 2544 benchmarking; fake-IP proxies use it"),
  row("198.51.100.0/24", "documentation", "TEST-NET-2"),
  row("203.0.113.0/24", "documentation", "TEST-NET-3"),
  row("168.63.129.16/32", "metadata", "Azure WireServer (public unicast, missed by range checks)", {
    backstopFirst: true,
  }),
  row("224.0.0.0/4", "multicast", "IPv4 multicast"),
  row("240.0.0.0/4", "reserved", "class E"),
  row("255.255.255.255/32", "broadcast", "limited broadcast"),
  // IPv6
  row("::/128", "unspecified", "IPv6 unspecified"),
  row("::1/128", "loopback", "IPv6 loopback"),
  row("::/96", "ipv4-compatible", "deprecated IPv4-compatible IPv6 (::a.b.c.d)", { backstopFirst: true }),
  row("::ffff:0:0/96", "ipv4-mapped", "IPv4-mapped IPv6 (::ffff:a.b.c.d)", { backstopFirst: true }),
  row("64:ff9b::/96", "nat64", "NAT64 well-known prefix", { backstopFirst: true }),
  row("64:ff9b:1::/48", "nat64", "NAT64 local-use prefix", { backstopFirst: true }),
  row("100::/64", "reserved", "discard-only"),
  row("2001::/23", "reserved", "IETF protocol assignments"),
  row("2001::/32", "teredo", "Teredo (embeds an IPv4 address)", { backstopFirst: true }),
  row("2001:2::/48", "benchmarking", "IPv6 benchmarking"),
  row("2001:db8::/32", "documentation", "IPv6 documentation"),
  row("2002::/16", "6to4", "6to4 (embeds an IPv4 address)", { backstopFirst: true }),
  row("3fff::/20", "documentation", "IPv6 documentation (RFC 9637)"),
  row("5f00::/16", "reserved", "SRv6 SIDs"),
  row("fc00::/7", "unique-local", "unique local addresses", { openable: true, backstopFirst: true }),
  row("fd00:ec2::/32", "metadata", "AWS instance services over IPv6 (DNS, NTP, IMDS)", {
    backstopFirst: true,
  }),
  row("fd00:ec2::254/128", "metadata", "AWS IMDS over IPv6", { backstopFirst: true }),
  row("fd00:c1::a9fe:a9fe/128", "metadata", "OCI IMDS over IPv6", { backstopFirst: true }),
  row("fd20:ce::254/128", "metadata", "GCP instance metadata over IPv6", { backstopFirst: true }),
  row("fd7a:115c:a1e0::/48", "tailscale", "Tailscale IPv6 node addresses", { backstopFirst: true }),
  row("fe80::/10", "link-local", "IPv6 link-local", { backstopFirst: true }),
  row("fec0::/10", "reserved", "deprecated site-local"),
  row("ff00::/8", "multicast", "IPv6 multicast"),
];

// Names refused before any lookup: they are local by definition, whatever DNS says.
const REFUSED_NAMES: readonly string[] = ["localhost", "localhost.localdomain", "metadata.google.internal"];
const REFUSED_NAME_SUFFIXES: readonly string[] = [".localhost", ".internal", ".local", ".home.arpa"];

export interface Classification {
  class: AddressClass;
  row?: AddressRow;
  address: string;
}

interface ParsedRow {
  row: AddressRow;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}
const PARSED: ParsedRow[] = ADDRESS_TABLE.map((r) => ({ row: r, range: ipaddr.parseCIDR(r.cidr) }));
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

// Strict literal parsing: only the canonical dotted-quad and RFC 4291 IPv6 text forms.
// Short, octal, hex and decimal IPv4 spellings are not addresses here; URL parsing has
// already normalised them (see gateway/target.ts), so anything else reaching us is refused.
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(":") || text.includes("%")) return undefined;
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
}

// The most specific row wins, so 169.254.169.254 reports "metadata", not "link-local".
export function classify(address: string): Classification {
  const ip = parseAddress(address);
  if (!ip) return { class: "reserved", address, row: undefined };
  let best: ParsedRow | undefined;
  for (const p of PARSED) {
    if (p.range[0].kind() !== ip.kind()) continue;
    if (!ip.match(p.range)) continue;
    if (!best || p.range[1] > best.range[1]) best = p;
  }
  if (best) return { class: best.row.class, row: best.row, address: ip.toString() };
  if (ip.kind() === "ipv6" && !ip.match(GLOBAL_UNICAST_V6)) {
    return { class: "reserved", address: ip.toString(), row: undefined };
  }
  return { class: "public", address: ip.toString() };
}

export function isRefusedName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return REFUSED_NAMES.includes(name) || REFUSED_NAME_SUFFIXES.some((s) => name.endsWith(s));
}

// Would opening `cidr` expose anything that must stay closed in every mode?
export function cidrTouchesUnopenable(cidr: string): AddressRow | undefined {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  for (const p of PARSED) {
    if (p.row.openable || p.range[0].kind() !== net.kind()) continue;
    const overlap = bits <= p.range[1] ? p.range[0].match(net, bits) : net.match(p.range);
    if (overlap) return p.row;
  }
  return undefined;
}

// Is an LLM base URL's host a name that is local by definition, or an IP literal the gateway
// must refuse? Only an openable row inside `egress.allowCidrs` passes (a local model server);
// link-local, metadata and loopback never do. The reason names the fields, for validate and the
// gateway alike.
export function baseUrlRefusal(baseUrl: string, allowCidrs: readonly string[]): string | undefined {
  let host: string;
  try {
    host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return undefined; // not a URL: the schema's own check reports it
  }
  if (isRefusedName(host)) return `${host} is a local name; the gateway never sends a key there`;
  const ip = parseAddress(host);
  if (!ip) return undefined; // a name: screened at call time by the gateway's lookup
  const c = classify(host);
  if (c.class === "public") return undefined;
  const opened = allowCidrs.some((cidr) => {
    const range = ipaddr.parseCIDR(cidr);
    return range[0].kind() === ip.kind() && ip.match(range);
  });
  if (c.row?.openable && opened) return undefined;
  const how = c.row?.openable ? "; egress.allowCidrs can open it" : ", which never opens";
  return `${c.address} is ${c.class} (${c.row?.note ?? "outside global unicast"})${how}`;
}

export const backstopRows = (family: 4 | 6): AddressRow[] =>
  ADDRESS_TABLE.filter((r) => r.backstopFirst && r.family === family);
