// Spellings of dangerous destinations, as an attacker would write them in a URL or a CONNECT
// target. Unit tests feed them to the gateway's parser and classifier; `moat verify` sends
// them through the live gateway from the agent's side. `expect` is the class they must land in
// after parsing (every class but "public" is refused).
import type { AddressClass } from "./addresses.js";

export interface AddressCase {
  host: string;
  expect: AddressClass;
  why: string;
}

export const ADDRESS_CASES: readonly AddressCase[] = [
  { host: "169.254.169.254", expect: "metadata", why: "IMDS, canonical" },
  { host: "[fd00:c1::a9fe:a9fe]", expect: "metadata", why: "OCI IMDS over IPv6" },
  { host: "[fd00:ec2::254]", expect: "metadata", why: "AWS IMDS over IPv6" },
  { host: "[fd20:ce::254]", expect: "metadata", why: "GCP metadata over IPv6" },
  { host: "[FD00:EC2:0:0:0:0:0:254]", expect: "metadata", why: "AWS IMDS, uppercase long form" },
  { host: "2852039166", expect: "metadata", why: "IMDS as one decimal number" },
  { host: "0xa9fea9fe", expect: "metadata", why: "IMDS as one hex number" },
  { host: "0251.0376.0251.0376", expect: "metadata", why: "IMDS in octal" },
  { host: "169.254.43518", expect: "metadata", why: "IMDS in short three-part form" },
  { host: "[::ffff:169.254.169.254]", expect: "ipv4-mapped", why: "IMDS IPv4-mapped, dotted" },
  { host: "[::ffff:a9fe:a9fe]", expect: "ipv4-mapped", why: "IMDS IPv4-mapped, hex" },
  { host: "[0:0:0:0:0:ffff:a9fe:a9fe]", expect: "ipv4-mapped", why: "IMDS IPv4-mapped, full form" },
  { host: "[64:ff9b::a9fe:a9fe]", expect: "nat64", why: "IMDS through NAT64" },
  { host: "[2002:a9fe:a9fe::]", expect: "6to4", why: "IMDS through 6to4" },
  { host: "168.63.129.16", expect: "metadata", why: "Azure WireServer" },
  { host: "100.100.100.200", expect: "metadata", why: "Alibaba metadata" },
  { host: "169.254.170.2", expect: "metadata", why: "AWS ECS credentials" },
  { host: "169.254.0.2", expect: "link-local", why: "OCI iSCSI boot volume" },
  { host: "[fe80::1]", expect: "link-local", why: "IPv6 link-local" },
  { host: "127.0.0.1", expect: "loopback", why: "loopback" },
  { host: "2130706433", expect: "loopback", why: "loopback as decimal" },
  { host: "0177.0.0.1", expect: "loopback", why: "loopback in octal" },
  { host: "0x7f.1", expect: "loopback", why: "loopback in hex short form" },
  { host: "127.1", expect: "loopback", why: "loopback short form" },
  { host: "[::1]", expect: "loopback", why: "IPv6 loopback" },
  { host: "[::ffff:7f00:1]", expect: "ipv4-mapped", why: "loopback IPv4-mapped" },
  { host: "[0:0:0:0:0:ffff:127.0.0.1]", expect: "ipv4-mapped", why: "loopback IPv4-mapped, full dotted" },
  { host: "[::127.0.0.1]", expect: "ipv4-compatible", why: "loopback IPv4-compatible" },
  { host: "0.0.0.0", expect: "unspecified", why: "unspecified reaches the host" },
  { host: "0", expect: "unspecified", why: "unspecified as one number" },
  { host: "[::]", expect: "unspecified", why: "IPv6 unspecified" },
  { host: "10.0.0.1", expect: "private", why: "RFC 1918" },
  { host: "172.16.5.4", expect: "private", why: "RFC 1918" },
  { host: "192.168.1.1", expect: "private", why: "RFC 1918" },
  { host: "100.64.0.1", expect: "cgnat", why: "CGNAT / Tailscale node" },
  { host: "100.100.100.100", expect: "tailscale", why: "Tailscale MagicDNS" },
  { host: "[fd7a:115c:a1e0::1]", expect: "tailscale", why: "Tailscale IPv6" },
  { host: "[fd12:3456::1]", expect: "unique-local", why: "ULA" },
  { host: "224.0.0.1", expect: "multicast", why: "multicast" },
  { host: "[ff02::1]", expect: "multicast", why: "IPv6 multicast" },
  { host: "255.255.255.255", expect: "broadcast", why: "broadcast" },
  { host: "198.18.0.1", expect: "benchmarking", why: "benchmarking / fake-IP" },
  { host: "192.0.2.1", expect: "documentation", why: "TEST-NET-1" },
  { host: "[2001:db8::1]", expect: "documentation", why: "IPv6 documentation" },
  { host: "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", expect: "teredo", why: "Teredo" },
  { host: "240.0.0.1", expect: "reserved", why: "class E" },
  { host: "93.184.215.14", expect: "public", why: "a public IPv4 address" },
  { host: "[2606:4700::1111]", expect: "public", why: "a public IPv6 address" },
];
