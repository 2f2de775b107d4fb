// The Terraform variables deploy passes (-var), matching src/render/terraform: the SSH public key,
// OCI's availability domain index, and the tenancy OCID from the operator's ~/.oci/config when
// no compartment is set. Pure: the caller reads the environment and the config file.
import type { MoatSpec } from "../spec/schema.js";
import { DeployRefused } from "./plan.js";

// The `tenancy=` line of one profile in an OCI CLI/SDK config (INI).
export function ociTenancy(configText: string, profile: string): string | undefined {
  let current = "";
  for (const raw of configText.split("\n")) {
    const line = raw.trim();
    const section = line.match(/^\[(.+)\]$/);
    if (section) current = section[1] ?? "";
    else if (current === profile) {
      const m = line.match(/^tenancy\s*=\s*(\S+)/);
      if (m) return m[1];
    }
  }
  return undefined;
}

export interface CloudVarInputs {
  publicKey: string;
  adIndex: number;
  env: NodeJS.ProcessEnv;
  // ~/.oci/config (or $OCI_CLI_CONFIG_FILE), if readable.
  ociConfig?: { path: string; text: string };
}

export function tofuVariables(spec: MoatSpec, i: CloudVarInputs): Record<string, string | number> {
  const vars: Record<string, string | number> = { ssh_public_key: i.publicKey };
  if (spec.target.kind !== "oci") return vars;
  vars.availability_domain_index = i.adIndex;
  // Variables the environment sets (TF_VAR_name) reach tofu without deploy's help.
  if (!spec.target.compartmentId && !i.env.TF_VAR_tenancy_ocid) {
    const profile = i.env.TF_VAR_oci_config_profile || "DEFAULT";
    const tenancy = i.ociConfig && ociTenancy(i.ociConfig.text, profile);
    if (!tenancy)
      throw new DeployRefused(
        `OCI needs your tenancy OCID: add tenancy=ocid1.tenancy… to [${profile}] in ${i.ociConfig?.path ?? "~/.oci/config"}, set TF_VAR_tenancy_ocid, or set target.compartmentId`,
      );
    vars.tenancy_ocid = tenancy;
  }
  if (spec.target.vcnId && !i.env.TF_VAR_subnet_cidr)
    throw new DeployRefused(
      `target.vcnId is set: choose a free CIDR inside that VCN for Moat's subnet and set TF_VAR_subnet_cidr (e.g. 10.0.42.0/24)`,
    );
  return vars;
}
