// OCI's shipped firewall for test namespaces: the lab's own (src/lab/cloud-firewall.ts).
import { installInstanceServices as install } from "../../src/lab/cloud-firewall.js";
import { METADATA } from "../../src/lab/world.js";

export const IMDS_V4 = METADATA.oci.v4;
export const IMDS_V6 = METADATA.oci.v6;
export const installInstanceServices = (ns: string) => install(ns, METADATA.oci);
