// The Terraform (or OpenTofu) configuration for a cloud target, in the conventional files.
// Deploy runs it from bundle/terraform and reads the outputs `public_ip` and `instance_id`.
import type { MoatSpec } from "../../spec/schema.js";
import type { Artifact } from "../artifact.js";
import { AWS_PROVIDER, awsMain, awsOutputs, awsProvider, awsVariables } from "./aws.js";
import { attr, block, hclFile, type Item } from "./hcl.js";
import { OCI_PROVIDER, ociMain, ociOutputs, ociProvider, ociVariables } from "./oci.js";

const TERRAFORM_DIR = "terraform";

// OpenTofu 1.6+ reads the same configuration.
const versions = (name: string, provider: { source: string; version: string }, configure: Item): Item[] => [
  block(
    "terraform",
    [],
    [
      attr("required_version", ">= 1.5"),
      block("required_providers", [], [attr(name, { source: provider.source, version: provider.version })]),
    ],
  ),
  configure,
];

function files(spec: MoatSpec): Record<string, Item[]> | null {
  const t = spec.target;
  if (t.kind === "oci")
    return {
      "versions.tf": versions("oci", OCI_PROVIDER, ociProvider(t)),
      "variables.tf": ociVariables(t),
      "main.tf": ociMain(spec, t),
      "outputs.tf": ociOutputs(),
    };
  if (t.kind === "aws")
    return {
      "versions.tf": versions("aws", AWS_PROVIDER, awsProvider(spec, t)),
      "variables.tf": awsVariables(),
      "main.tf": awsMain(spec, t),
      "outputs.tf": awsOutputs(),
    };
  return null;
}

export function renderTerraform(spec: MoatSpec): Artifact[] {
  return Object.entries(files(spec) ?? {}).map(([file, items]) => ({
    kind: "terraform",
    path: `${TERRAFORM_DIR}/${file}`,
    content: hclFile(items),
  }));
}
