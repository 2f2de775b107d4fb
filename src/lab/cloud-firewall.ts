// OCI's shipped firewall (cloud-facts.md §1.1), installed with iptables-nft in the VM's namespace
// before Moat's table exists, the way OCI's Ubuntu images ship it: an InstanceServices chain that
// ACCEPTs the metadata service for every uid. Moat's reject must win over it.
import { inNs } from "./netns.js";

export function installInstanceServices(ns: string, metadata: { v4: string; v6: string }): void {
  const ipt = (...args: string[]) => inNs(ns, "iptables", ...args);
  ipt("-N", "InstanceServices");
  ipt("-A", "OUTPUT", "-d", "169.254.0.0/16", "-j", "InstanceServices");
  ipt("-A", "InstanceServices", "-d", `${metadata.v4}/32`, "-p", "udp", "--dport", "53", "-j", "ACCEPT");
  ipt("-A", "InstanceServices", "-d", `${metadata.v4}/32`, "-p", "tcp", "--dport", "53", "-j", "ACCEPT");
  ipt("-A", "InstanceServices", "-d", `${metadata.v4}/32`, "-p", "tcp", "--dport", "80", "-j", "ACCEPT");
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
  ipt(
    "-A",
    "InstanceServices",
    "-d",
    "169.254.0.0/16",
    "-p",
    "udp",
    "-j",
    "REJECT",
    "--reject-with",
    "icmp-port-unreachable",
  );
  // An IPv6 accept of the same kind, so the v6 check also runs against an accept elsewhere.
  inNs(
    ns,
    "ip6tables",
    "-A",
    "OUTPUT",
    "-d",
    `${metadata.v6}/128`,
    "-p",
    "tcp",
    "--dport",
    "80",
    "-j",
    "ACCEPT",
  );
}
