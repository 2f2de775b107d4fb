// OCI's shipped firewall (cloud-facts.md §1.1), installed through iptables-nft in a test
// namespace before Moat's table exists: an InstanceServices chain that ACCEPTs the metadata
// service for every uid, so tests show Moat's reject wins over a cloud's accept.
import { inNs } from "./netns.js";

export const IMDS_V4 = "169.254.169.254";
export const IMDS_V6 = "fd00:c1::a9fe:a9fe";

export function installInstanceServices(ns: string): void {
  const ipt = (...args: string[]) => inNs(ns, "iptables", args);
  ipt("-N", "InstanceServices");
  ipt("-A", "OUTPUT", "-d", "169.254.0.0/16", "-j", "InstanceServices");
  ipt("-A", "InstanceServices", "-d", `${IMDS_V4}/32`, "-p", "tcp", "--dport", "80", "-j", "ACCEPT");
  ipt(
    "-A",
    "InstanceServices",
    "-d",
    "169.254.0.0/16",
    "-p",
    "tcp",
    "-j",
    "REJECT",
    "--reject-with",
    "tcp-reset",
  );
  // An IPv6 accept of the same kind, so the v6 check also runs against an accept elsewhere.
  inNs(ns, "ip6tables", [
    "-A",
    "OUTPUT",
    "-d",
    `${IMDS_V6}/128`,
    "-p",
    "tcp",
    "--dport",
    "80",
    "-j",
    "ACCEPT",
  ]);
}
